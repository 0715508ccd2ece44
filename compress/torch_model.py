"""PyTorch modules as Linear layers: an ``nn.Sequential`` of supported layers.

Supported, in forward order: ``nn.Linear``, ``nn.ReLU`` (after a Linear: sets its ReLU
flag), ``nn.Flatten`` (default dims, before the first Linear), and ``nn.Dropout`` /
``nn.Identity``, which do nothing at inference and are dropped (retraining runs without
dropout). Nested ``nn.Sequential``s are walked in order; `compress.models.MLP` is taken as
it is. Anything else raises an `UnsupportedLayerError` naming the module and its path:
a general ``nn.Module`` does not say in which order its layers run, so pass its
``state_dict()`` (layers in forward order, ReLU between them) or export it to ONNX.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from .loader import LinearLayer, UnsupportedLayerError, layers_from_state
from .models import MLP

__all__ = ["layers_from_module"]

_NO_OPS = (nn.Dropout, nn.Identity)


def _walk(module: nn.Module, prefix: str):
    for name, child in module.named_children():
        path = f"{prefix}.{name}" if prefix else name
        if isinstance(child, nn.Sequential):
            yield from _walk(child, path)
        else:
            yield path, child


def _from_mlp(model: MLP) -> list[LinearLayer]:
    return [LinearLayer(name=n, weight=l.weight.detach().cpu().numpy().astype(np.float32),
                        bias=l.bias.detach().cpu().numpy().astype(np.float32), relu=r)
            for n, l, r in zip(model.names, model.layers, model.relus)]


def layers_from_module(module: nn.Module) -> tuple[list[LinearLayer], tuple[int, ...]]:
    """Layers and per-sample input size of an ``nn.Sequential`` (or an `MLP`)."""
    if isinstance(module, MLP):
        layers = _from_mlp(module)
        return layers, (int(layers[0].weight.shape[1]),)
    if not isinstance(module, nn.Sequential):
        raise UnsupportedLayerError(
            f"a {type(module).__name__} is not an nn.Sequential: its layer order is not known; pass "
            "model.state_dict() (Linear layers in forward order, ReLU between them) or export it to ONNX")
    layers: list[LinearLayer] = []
    for path, child in _walk(module, ""):
        kind = type(child).__name__
        if isinstance(child, nn.Linear):
            bias = child.bias.detach().cpu().numpy() if child.bias is not None else np.zeros(child.out_features)
            layers.append(LinearLayer(name=path, weight=child.weight.detach().cpu().numpy().astype(np.float32),
                                      bias=bias.astype(np.float32), relu=False))
        elif isinstance(child, nn.ReLU):
            if not layers:
                raise UnsupportedLayerError(f"module {path!r} (ReLU) comes before any Linear layer")
            layers[-1].relu = True
        elif isinstance(child, nn.Flatten):
            if layers or child.start_dim != 1 or child.end_dim != -1:
                raise UnsupportedLayerError(f"module {path!r} (Flatten): only a Flatten() with the default "
                                            "dims before the first Linear layer is supported")
        elif not isinstance(child, _NO_OPS):
            raise UnsupportedLayerError(f"module {path!r} ({kind}) is not supported; an nn.Sequential may hold "
                                        "Linear, ReLU, Flatten, Dropout and Identity")
    if not layers:
        raise UnsupportedLayerError("the nn.Sequential holds no Linear layer")
    # The same checks as a model file (shapes chain, finite values), keeping the ReLU flags.
    checked = layers_from_state({f"{l.name}.{k}": getattr(l, k) for l in layers for k in ("weight", "bias")},
                                source="nn.Sequential")
    for c, l in zip(checked, layers):
        c.relu = l.relu
    return checked, (int(layers[0].weight.shape[1]),)
