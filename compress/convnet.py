"""Conv nets in the compressor: shape checks, the network the images carry, the float model.

A conv net's layers are, in forward order, `compress.loader.ConvLayer`s (a Conv2d, its
input shape, stride and padding, the pooling after it) and `LinearLayer`s; a Linear after a
conv flattens its input C-major (``torch.flatten``). ReLU is a layer's flag, applied before
its pooling. Everything the flow does per layer (pruning masks, k-means, Huffman
accounting) works on the kernel as it is; the array holds it as the matrix
``(out, C*kh*kw)`` (`matrix`).

* `is_conv_net`, `network_of`: the `eie.network.Network` that goes into the images (None
  for an MLP), from which `eie.convnet` and the host driver run the layers on patches;
* `check_net`: shapes that chain (a kernel larger than its input, a Linear whose inputs do
  not match the flattened image, ...), finite values; a `ShapeMismatchError` naming the layer;
* `ConvNet`: the PyTorch model of the layers, with the interface of `compress.models.MLP`
  (``layers``, ``names``, ``relus``, ``pre_activations``), what the flow trains.
"""

from __future__ import annotations

import collections

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from eie.network import Conv, Dense, Flatten, Network, NetworkError

from .loader import ConvLayer, LinearLayer, NonFiniteWeightsError, ShapeMismatchError
from .models import named_state

__all__ = ["is_conv_net", "network_of", "check_net", "matrix", "input_size", "output_size", "ConvNet",
           "pool_torch"]


def is_conv_net(layers) -> bool:
    return any(isinstance(l, ConvLayer) for l in layers)


def matrix(layer: LinearLayer) -> np.ndarray:
    """The layer's weights as the matrix the array holds: ``(out, in)``, a kernel row-major."""
    w = np.asarray(layer.weight)
    return w.reshape(w.shape[0], -1)


def network_of(layers) -> Network | None:
    """The `eie.network.Network` of a conv net (layer ``i`` is table entry ``i``); None for an MLP."""
    if not is_conv_net(layers):
        return None
    if not isinstance(layers[0], ConvLayer):
        raise ShapeMismatchError(f"layer {layers[0].name!r}: a conv net starts with its first conv "
                                 "(a Linear layer before a conv is not supported)")
    ops, shape3 = [], True
    for i, l in enumerate(layers):
        if isinstance(l, ConvLayer):
            kh, kw = l.weight.shape[2:]
            ops.append(Conv(i, int(l.weight.shape[0]), (int(kh), int(kw)), tuple(l.stride), tuple(l.pads)))
            ops += list(l.pools)
        else:
            if shape3:
                ops.append(Flatten())
                shape3 = False
            ops.append(Dense(i))
    return Network(tuple(layers[0].in_shape), tuple(ops))


def check_net(layers, source: str = "model") -> Network | None:
    """Check a conv net's shapes and values (module docstring); return its network."""
    for l in layers:
        for what, arr in (("weight", l.weight), ("bias", l.bias)):
            bad = ~np.isfinite(np.asarray(arr))
            if bad.any():
                first = tuple(int(i) for i in np.argwhere(bad)[0])
                raise NonFiniteWeightsError(f"{source}: layer {l.name!r}: {what} contains {int(bad.sum())} NaN/Inf "
                                            f"value(s), the first at index {first}")
    try:
        net = network_of(layers)
        if net is None:
            return None
        shapes = net.shapes([int(l.weight.shape[0]) for l in layers])
    except NetworkError as e:
        raise ShapeMismatchError(f"{source}: {e}") from None
    for op, a, _ in shapes:
        if isinstance(op, Conv):
            l = layers[op.layer]
            if int(l.weight.shape[1]) != a[0]:
                raise ShapeMismatchError(f"{source}: layer {l.name!r} takes {l.weight.shape[1]} channels but "
                                         f"receives {a[0]} (input {a[0]}x{a[1]}x{a[2]})")
            l.in_shape = tuple(int(d) for d in a)
        elif isinstance(op, Dense):
            l = layers[op.layer]
            if int(l.weight.shape[1]) != a[0]:
                raise ShapeMismatchError(f"{source}: layer {l.name!r} takes {l.weight.shape[1]} inputs but "
                                         f"receives {a[0]} (the flattened output before it)")
    return net


def input_size(layers) -> int:
    """Values per sample the model takes."""
    first = layers[0]
    return int(np.prod(first.in_shape)) if isinstance(first, ConvLayer) else int(first.weight.shape[1])


def output_size(layers) -> int:
    """Values the model outputs per sample (classes): its last layer's, flattened."""
    net = network_of(layers)
    if net is None:
        return int(layers[-1].weight.shape[0])
    return int(np.prod(net.output_shape([int(l.weight.shape[0]) for l in layers])))


def pool_torch(x: torch.Tensor, p) -> torch.Tensor:
    """An `eie.network.Pool` in float (what `eie.hostops.pool` does in fixed point)."""
    pt, pl, pb, pr = p.pads
    if p.kind == "max":
        if any(p.pads):
            x = F.pad(x, (pl, pr, pt, pb), value=float("-inf"))
        return F.max_pool2d(x, p.kernel, p.stride)
    padded = F.pad(x, (pl, pr, pt, pb)) if any(p.pads) else x
    avg = F.avg_pool2d(padded, p.kernel, p.stride)
    if p.count_include_pad or not any(p.pads):
        return avg
    ones = F.pad(torch.ones_like(x[:1, :1]), (pl, pr, pt, pb))
    return avg / F.avg_pool2d(ones, p.kernel, p.stride)


class ConvNet(nn.Module):
    """Conv2d and Linear layers in order with their ReLU flags and pooling (module docstring).

    The input may come flattened (a data set's rows): it is reshaped to the first conv's
    input shape. Padding is applied explicitly (ONNX pads may be asymmetric).
    """

    def __init__(self, layers):
        super().__init__()
        self.names = [l.name for l in layers]
        self.relus = [bool(l.relu) for l in layers]
        self.specs = [(tuple(l.stride), tuple(l.pads), list(l.pools)) if isinstance(l, ConvLayer) else None
                      for l in layers]
        self.in_shape = tuple(layers[0].in_shape)
        mods = []
        for l in layers:
            w = torch.as_tensor(np.asarray(l.weight, np.float32))
            if isinstance(l, ConvLayer):
                m = nn.Conv2d(w.shape[1], w.shape[0], tuple(w.shape[2:]), stride=tuple(l.stride))
            else:
                m = nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                m.weight.copy_(w)
                m.bias.copy_(torch.as_tensor(np.asarray(l.bias, np.float32)))
            mods.append(m)
        self.layers = nn.ModuleList(mods)

    def _layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        spec = self.specs[i]
        if spec is None:
            return self.layers[i](x.flatten(1))
        _, (pt, pl, pb, pr), _ = spec
        if pt or pl or pb or pr:
            x = F.pad(x, (pl, pr, pt, pb))
        return self.layers[i](x)

    def _after(self, i: int, y: torch.Tensor) -> torch.Tensor:
        if self.relus[i]:
            y = torch.relu(y)
        if self.specs[i] is not None:
            for p in self.specs[i][2]:
                y = pool_torch(y, p)
        return y

    def forward(self, x):
        if x.dim() != 4:       # rows of a data set (a traced ONNX export passes images as they are)
            x = x.reshape((x.shape[0],) + self.in_shape)
        for i in range(len(self.layers)):
            x = self._after(i, self._layer(i, x))
        return x.flatten(1)

    def pre_activations(self, x) -> list[torch.Tensor]:
        """Every layer's outputs before ReLU and pooling, flattened per sample (calibration)."""
        x = x.reshape((x.shape[0],) + self.in_shape)
        out = []
        for i in range(len(self.layers)):
            y = self._layer(i, x)
            out.append(y.flatten(1))
            x = self._after(i, y)
        return out

    def named_state(self) -> "collections.OrderedDict[str, torch.Tensor]":
        return named_state(self.names, self.layers)

    def to_layers(self) -> list[LinearLayer]:
        """The layers with the model's current weights (what the flow compresses)."""
        out = []
        for i, (name, mod, relu) in enumerate(zip(self.names, self.layers, self.relus)):
            w = mod.weight.detach().numpy().astype(np.float32).copy()
            b = mod.bias.detach().numpy().astype(np.float32).copy()
            if self.specs[i] is None:
                out.append(LinearLayer(name=name, weight=w, bias=b, relu=relu))
            else:
                stride, pads, pools = self.specs[i]
                out.append(ConvLayer(name=name, weight=w, bias=b, relu=relu, in_shape=(), stride=stride, pads=pads,
                                     pools=list(pools)))
        out[0].in_shape = self.in_shape
        check_net(out, "ConvNet")
        return out

    def arrays(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        return [(n, l.weight.detach().numpy().copy(), l.bias.detach().numpy().copy())
                for n, l in zip(self.names, self.layers)]
