"""Conv nets in the golden model: the plan of `eie.network` run on the decoded layers.

`forward` is the one fixed-point forward pass of a whole network, conv net or MLP. A conv
layer runs the existing per-layer golden arithmetic (`eie.golden.GoldenLayer.forward`, bit
for bit what the array computes on one input vector) on every im2col patch, exactly the
patches the host driver sends (`eie.hostops`, used by `host.convnet` too); pooling and
flattening are the same host functions. Images go through in chunks, so a conv layer's
patches never fill the memory (LeNet-5's second conv has 64 patches of 500 values per image).

``on_layer(l, inputs, outputs)`` sees every layer-table entry's input and output vectors
(one row per vector the array sees: a patch, or a sample): what calibration checks for
saturation. `image_runs` lists one image's RUN commands in the host's order with their
expected inputs and outputs, for the RTL testbench. Inputs of a conv net are
``(C, H, W)``, ``(batch, C, H, W)``, or flattened ``(C*H*W,)`` / ``(batch, C*H*W)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import hostops

__all__ = ["forward", "as_images", "image_runs", "Run", "CHUNK_VALUES"]

# Patch values per chunk of images (int64): ~16 MB per conv layer at a time.
CHUNK_VALUES = 1 << 21


def _input_error(msg: str):
    from .golden import InputError

    return InputError(msg)


def as_images(x_q, network, cfg) -> tuple[np.ndarray, bool]:
    """``(batch, C, H, W)`` int64 of any accepted input form, and whether it was one sample."""
    x = np.asarray(x_q)
    if not np.issubdtype(x.dtype, np.integer):
        raise _input_error(f"inputs must be fixed-point integers (see eie.numerics.act_from_float), not {x.dtype}")
    shape, size = tuple(network.input_shape), network.input_size
    if x.shape == shape or x.shape == (size,):
        single, x = True, x.reshape((1,) + shape)
    elif x.ndim >= 2 and (tuple(x.shape[1:]) == shape or tuple(x.shape[1:]) == (size,)):
        single, x = False, x.reshape((x.shape[0],) + shape)
    else:
        c, h, w = shape
        raise _input_error(f"inputs of shape {x.shape} do not fit the network's {c}x{h}x{w} images: give "
                           f"(batch, {c}, {h}, {w}), ({c}, {h}, {w}), (batch, {size}) or ({size},)")
    x = x.astype(np.int64)
    if x.size and (x.min() < cfg.act_min or x.max() > cfg.act_max):
        raise _input_error(f"inputs outside the {cfg.act_bits}-bit activation range")
    return x, single


def _chunk(steps) -> int:
    per_image = max([s.runs * s.op.patch_len(s.in_shape) for s in steps if s.kind == "patches"] + [1])
    return max(1, CHUNK_VALUES // per_image)


def _forward_images(golden, x: np.ndarray, steps, on_layer) -> np.ndarray:
    cfg, layers = golden.cfg, golden.layers
    a = x
    for s in steps:
        if s.kind == "patches":
            patches = hostops.im2col(a, s.op)
            b, p, k = patches.shape
            rows = patches.reshape(b * p, k)
            y = layers[s.first].forward(rows, cfg)
            if on_layer is not None:
                on_layer(s.first, rows, y)
            a = hostops.col2im(y.reshape(b, p, -1), s.out_shape[1:])
        elif s.kind == "vector":
            v = a.reshape(a.shape[0], -1)
            for l in range(s.first, s.first + s.n_layers):
                y = layers[l].forward(v, cfg)
                if on_layer is not None:
                    on_layer(l, v, y)
                v = y
            a = v
        elif s.kind == "pool":
            a = hostops.pool(a, s.op)
        else:
            a = hostops.flatten(a)
    return hostops.flatten(a)


def forward(golden, x_q, *, on_layer=None) -> np.ndarray:
    """Last outputs of ``golden`` (an `eie.golden.GoldenModel`) for one input or a batch.

    A conv net's outputs are flattened, C-major; a batch gives ``(batch, outputs)``.
    """
    network = golden.network
    if network is None:
        outs = golden.run_layers(x_q)
        if on_layer is not None:
            ins = [np.asarray(x_q, np.int64)] + outs[:-1]
            for l, (a, y) in enumerate(zip(ins, outs)):
                on_layer(l, a.reshape(-1, a.shape[-1]), y.reshape(-1, y.shape[-1]))
        return outs[-1]
    x, single = as_images(x_q, network, golden.cfg)
    steps = network.plan([l.out_len for l in golden.layers])
    n = _chunk(steps)
    parts = [_forward_images(golden, x[i:i + n], steps, on_layer) for i in range(0, len(x), n)]
    out = np.concatenate(parts) if parts else np.zeros((0, golden.layers[-1].out_len), np.int64)
    return out[0] if single else out


@dataclass
class Run:
    """One RUN command of an image: layers ``first .. first + n_layers - 1``, each layer's
    input vector, and the last layer's output (what READ_ACT returns)."""

    step: int
    first: int
    n_layers: int
    inputs: list[np.ndarray]
    output: np.ndarray


def image_runs(golden, image) -> list[Run]:
    """Every RUN the host sends for one image of a conv net, in order, with its expected values."""
    network = golden.network
    x, _ = as_images(image, network, golden.cfg)
    if len(x) != 1:
        raise _input_error(f"image_runs takes one image, not {len(x)}")
    seen: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    steps = network.plan([l.out_len for l in golden.layers])
    _forward_images(golden, x, steps, lambda l, a, y: seen.__setitem__(l, (a, y)))
    runs = []
    for i, s in enumerate(steps):
        if s.kind == "patches":
            a, y = seen[s.first]
            runs += [Run(i, s.first, 1, [a[p]], y[p]) for p in range(len(a))]
        elif s.kind == "vector":
            ls = range(s.first, s.first + s.n_layers)
            runs.append(Run(i, s.first, s.n_layers, [seen[l][0][0] for l in ls], seen[ls[-1]][1][0]))
    return runs
