"""PyTorch modules as layers: an ``nn.Sequential`` of supported layers.

Supported, in forward order: ``nn.Linear``, ``nn.ReLU`` (after a layer: sets its ReLU
flag), ``nn.Flatten`` (default dims: before the first Linear, or between the convolutions
and the first Linear), ``nn.Conv2d`` (groups 1, dilation 1, zero padding: numbers,
``'valid'`` or ``'same'``), ``nn.MaxPool2d`` and ``nn.AvgPool2d`` after a conv (no
``ceil_mode``, dilation 1, no ``divisor_override``), and ``nn.Dropout`` / ``nn.Identity``,
which do nothing at inference and are dropped (retraining runs without dropout). A ReLU
after a MaxPool2d belongs to the conv before it (the two commute); after an AvgPool2d it
does not, and is refused. Nested ``nn.Sequential``s are walked in order;
`compress.models.MLP` is taken as it is. An ``nn.Sequential`` does not say a conv net's
image size: give ``input_shape`` ``(C, H, W)``. Anything else raises an
`UnsupportedLayerError` naming the module and its path: a general ``nn.Module`` does not say
in which order its layers run, so pass its ``state_dict()`` (Linear layers in forward order,
ReLU between them) or export it to ONNX.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from eie.network import NetworkError, Pool

from .convnet import check_net, is_conv_net
from .loader import ConvLayer, LinearLayer, UnsupportedLayerError, layers_from_state
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


def _two(value, what: str, path: str) -> tuple[int, int]:
    t = (value, value) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(t) != 2:
        raise UnsupportedLayerError(f"module {path!r}: {what} {value!r} is not one number or two")
    return t


def _conv(path: str, child: nn.Conv2d) -> ConvLayer:
    if child.groups != 1:
        raise UnsupportedLayerError(f"module {path!r} (Conv2d): groups = {child.groups}; only groups = 1 "
                                    "is supported")
    if tuple(child.dilation) != (1, 1):
        raise UnsupportedLayerError(f"module {path!r} (Conv2d): dilation = {tuple(child.dilation)}; only "
                                    "dilation 1 is supported")
    if child.padding_mode != "zeros":
        raise UnsupportedLayerError(f"module {path!r} (Conv2d): padding_mode = {child.padding_mode!r}; only "
                                    "zero padding is supported")
    kh, kw = child.kernel_size
    if child.padding == "valid":
        pads = (0, 0, 0, 0)
    elif child.padding == "same":
        th, tw = kh - 1, kw - 1          # PyTorch puts the odd one at the end
        pads = (th // 2, tw // 2, th - th // 2, tw - tw // 2)
    else:
        ph, pw = _two(child.padding, "padding", path)
        pads = (ph, pw, ph, pw)
    bias = child.bias.detach().cpu().numpy() if child.bias is not None else np.zeros(child.out_channels)
    return ConvLayer(name=path, weight=child.weight.detach().cpu().numpy().astype(np.float32),
                     bias=bias.astype(np.float32), relu=False, stride=_two(child.stride, "stride", path),
                     pads=pads, pools=[])


def _pool(path: str, child) -> Pool:
    kind = "max" if isinstance(child, nn.MaxPool2d) else "avg"
    name = type(child).__name__
    if child.ceil_mode:
        raise UnsupportedLayerError(f"module {path!r} ({name}): ceil_mode = True is not supported")
    if kind == "max" and (_two(child.dilation, "dilation", path) != (1, 1) or child.return_indices):
        raise UnsupportedLayerError(f"module {path!r} ({name}): only dilation 1 without return_indices "
                                    "is supported")
    if kind == "avg" and child.divisor_override is not None:
        raise UnsupportedLayerError(f"module {path!r} ({name}): divisor_override is not supported")
    kernel = _two(child.kernel_size, "kernel_size", path)
    stride = _two(child.stride if child.stride is not None else child.kernel_size, "stride", path)
    ph, pw = _two(child.padding, "padding", path)
    try:
        return Pool(kind, kernel, stride, (ph, pw, ph, pw),
                    bool(getattr(child, "count_include_pad", False)))
    except NetworkError as e:
        raise UnsupportedLayerError(f"module {path!r} ({name}): {e}") from None


def layers_from_module(module: nn.Module, input_shape=None) -> tuple[list[LinearLayer], tuple[int, ...]]:
    """Layers and per-sample input shape of an ``nn.Sequential`` (or an `MLP`).

    ``input_shape``: a conv net's ``(C, H, W)`` (ignored for an MLP)."""
    if isinstance(module, MLP):
        layers = _from_mlp(module)
        return layers, (int(layers[0].weight.shape[1]),)
    if not isinstance(module, nn.Sequential):
        raise UnsupportedLayerError(
            f"a {type(module).__name__} is not an nn.Sequential: its layer order is not known; pass "
            "model.state_dict() (Linear layers in forward order, ReLU between them) or export it to ONNX")
    layers: list[LinearLayer] = []
    flat = False                        # a Flatten after the convolutions
    for path, child in _walk(module, ""):
        kind = type(child).__name__
        conv_last = bool(layers) and isinstance(layers[-1], ConvLayer) and not flat
        if isinstance(child, nn.Linear):
            if conv_last:
                raise UnsupportedLayerError(f"module {path!r} (Linear) follows a conv: put an nn.Flatten() "
                                            "before it")
            bias = child.bias.detach().cpu().numpy() if child.bias is not None else np.zeros(child.out_features)
            layers.append(LinearLayer(name=path, weight=child.weight.detach().cpu().numpy().astype(np.float32),
                                      bias=bias.astype(np.float32), relu=False))
        elif isinstance(child, nn.Conv2d):
            if layers and not conv_last:
                raise UnsupportedLayerError(f"module {path!r} (Conv2d) comes after a Linear layer or a Flatten; "
                                            "convolutions come first")
            layers.append(_conv(path, child))
        elif isinstance(child, (nn.MaxPool2d, nn.AvgPool2d)):
            if not conv_last:
                raise UnsupportedLayerError(f"module {path!r} ({kind}) is not after a Conv2d: pooling follows a "
                                            "convolution (and comes before the Flatten)")
            layers[-1].pools.append(_pool(path, child))
        elif isinstance(child, nn.ReLU):
            if not layers:
                raise UnsupportedLayerError(f"module {path!r} (ReLU) comes before any Linear layer")
            last = layers[-1]
            if isinstance(last, ConvLayer) and any(p.kind == "avg" for p in last.pools):
                raise UnsupportedLayerError(f"module {path!r} (ReLU) follows an AvgPool2d: the array applies ReLU "
                                            "right after the conv; put the ReLU before the pooling")
            last.relu = True
        elif isinstance(child, nn.Flatten):
            if child.start_dim != 1 or child.end_dim != -1 or (layers and not conv_last):
                raise UnsupportedLayerError(f"module {path!r} (Flatten): only a Flatten() with the default "
                                            "dims, before the first Linear layer, is supported")
            flat = flat or conv_last
        elif not isinstance(child, _NO_OPS):
            raise UnsupportedLayerError(f"module {path!r} ({kind}) is not supported; an nn.Sequential may hold "
                                        "Linear, Conv2d, MaxPool2d, AvgPool2d, ReLU, Flatten, Dropout and Identity")
    if not layers:
        raise UnsupportedLayerError("the nn.Sequential holds no Linear layer")
    if is_conv_net(layers):
        if input_shape is None:
            raise UnsupportedLayerError(f"module {layers[0].name!r} (Conv2d): an nn.Sequential does not say its "
                                        "image size: give input_shape=(C, H, W), or training samples shaped "
                                        "(N, C, H, W)")
        shape = tuple(int(d) for d in input_shape)
        if len(shape) != 3:
            raise UnsupportedLayerError(f"input_shape {tuple(input_shape)} of a conv net is not (C, H, W)")
        layers[0].in_shape = shape
        check_net(layers, "nn.Sequential")
        return layers, shape
    # The same checks as a model file (shapes chain, finite values), keeping the ReLU flags.
    checked = layers_from_state({f"{l.name}.{k}": getattr(l, k) for l in layers for k in ("weight", "bias")},
                                source="nn.Sequential")
    for c, l in zip(checked, layers):
        c.relu = l.relu
    return checked, (int(layers[0].weight.shape[1]),)
