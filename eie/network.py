"""Conv nets on the EIE array: the network description shared by the golden model and the host.

An MLP needs nothing beyond the layer table (layer ``l`` feeds layer ``l + 1``). A network
with convolutions also needs to say where the image goes: a `Network` is the per-sample
input shape ``(C, H, W)`` and its ops in order:

* `Conv`: layer-table entry ``layer`` holds the kernel as a sparse matrix
  ``out_channels x (C * kh * kw)`` (the weight ``(out, C, kh, kw)`` reshaped row-major);
  the host runs that one layer on the array once per output position, on the im2col patch
  of the (zero-padded) input (`eie.hostops.im2col`);
* `Pool` (``max`` or ``avg``): on the host, in fixed point (`eie.hostops.pool`);
* `Flatten`: ``(C, H, W)`` to one vector, C-major (``torch.flatten`` order);
* `Dense`: a fully connected layer-table entry; consecutive ones run as one RUN.

ReLU is each layer's flag in the layer table, applied on the array before any pooling that
follows (MaxPool and ReLU commute). Layer-table entries are used in order, each once.
`Network.plan()` gives the `Step`s both executors follow: the golden model
(`eie.convnet`) and the host driver (`host.convnet`). The manifest of an image folder holds
the network as ``network`` (`to_dict` / `from_dict`); docs/format.md describes it.
A shape that does not work (a kernel larger than its padded input, a pool window of
padding only, a dense layer on an image, lengths that differ from the layer table) raises
`NetworkError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import EIEError

__all__ = ["NetworkError", "Conv", "Pool", "Flatten", "Dense", "Network", "Step", "POOL_KINDS"]

POOL_KINDS = ("max", "avg")


class NetworkError(EIEError, ValueError):
    """A network description whose shapes or layers do not work."""


def _pair(value, what: str) -> tuple[int, int]:
    t = tuple(int(v) for v in value)
    if len(t) != 2 or min(t) < 1:
        raise NetworkError(f"{what} must be two positive integers, not {list(value)!r}")
    return t


def _pads(value, what: str = "pads") -> tuple[int, int, int, int]:
    t = tuple(int(v) for v in value)
    if len(t) != 4 or min(t) < 0:
        raise NetworkError(f"{what} must be four non-negative integers (top, left, bottom, right), "
                           f"not {list(value)!r}")
    return t


def _window_out(size: int, before: int, after: int, kernel: int, stride: int) -> int:
    return (size + before + after - kernel) // stride + 1


@dataclass(frozen=True)
class Conv:
    """A 2-D convolution run as layer-table entry ``layer`` (groups 1, dilation 1)."""

    layer: int
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)   # top, left, bottom, right

    def __post_init__(self):
        object.__setattr__(self, "kernel", _pair(self.kernel, "a conv kernel"))
        object.__setattr__(self, "stride", _pair(self.stride, "a conv stride"))
        object.__setattr__(self, "pads", _pads(self.pads))

    def patch_len(self, in_shape) -> int:
        return int(in_shape[0]) * self.kernel[0] * self.kernel[1]

    def out_shape(self, in_shape) -> tuple[int, int, int]:
        c, h, w = in_shape
        (kh, kw), (sh, sw), (pt, pl, pb, pr) = self.kernel, self.stride, self.pads
        if h + pt + pb < kh or w + pl + pr < kw:
            raise NetworkError(f"conv of layer {self.layer}: kernel {kh}x{kw} is larger than its input "
                               f"{h}x{w} (padded {h + pt + pb}x{w + pl + pr})")
        return (self.out_channels, _window_out(h, pt, pb, kh, sh), _window_out(w, pl, pr, kw, sw))

    def to_dict(self) -> dict:
        return {"op": "conv", "layer": self.layer, "out_channels": self.out_channels,
                "kernel": list(self.kernel), "stride": list(self.stride), "pads": list(self.pads)}


@dataclass(frozen=True)
class Pool:
    """Max or average pooling on the host. ``count_include_pad``: an average divides by the
    whole window (padding counts as 0) instead of by its real elements."""

    kind: str
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    count_include_pad: bool = False

    def __post_init__(self):
        if self.kind not in POOL_KINDS:
            raise NetworkError(f"pool kind must be one of {', '.join(POOL_KINDS)}, not {self.kind!r}")
        object.__setattr__(self, "kernel", _pair(self.kernel, "a pool kernel"))
        object.__setattr__(self, "stride", _pair(self.stride, "a pool stride"))
        object.__setattr__(self, "pads", _pads(self.pads))
        object.__setattr__(self, "count_include_pad", bool(self.count_include_pad))
        (kh, kw), (pt, pl, pb, pr) = self.kernel, self.pads
        # Every window then holds at least one real element (PyTorch asks pad <= kernel / 2).
        if max(pt, pb) >= kh or max(pl, pr) >= kw:
            raise NetworkError(f"{self.kind} pool: pads {list(self.pads)} must be smaller than the kernel "
                               f"{kh}x{kw} (a window of padding only)")

    def out_shape(self, in_shape) -> tuple[int, int, int]:
        c, h, w = in_shape
        (kh, kw), (sh, sw), (pt, pl, pb, pr) = self.kernel, self.stride, self.pads
        if h + pt + pb < kh or w + pl + pr < kw:
            raise NetworkError(f"{self.kind} pool: kernel {kh}x{kw} is larger than its input {h}x{w}")
        return (c, _window_out(h, pt, pb, kh, sh), _window_out(w, pl, pr, kw, sw))

    def to_dict(self) -> dict:
        d = {"op": f"{self.kind}pool", "kernel": list(self.kernel), "stride": list(self.stride),
             "pads": list(self.pads)}
        if self.kind == "avg":
            d["count_include_pad"] = self.count_include_pad
        return d


@dataclass(frozen=True)
class Flatten:
    """``(C, H, W)`` to ``C * H * W`` values, C-major."""

    def to_dict(self) -> dict:
        return {"op": "flatten"}


@dataclass(frozen=True)
class Dense:
    """A fully connected layer: layer-table entry ``layer``."""

    layer: int

    def to_dict(self) -> dict:
        return {"op": "dense", "layer": self.layer}


@dataclass(frozen=True)
class Step:
    """One thing an executor does, in order.

    ``kind``: ``patches`` (RUN layer ``first`` once per im2col patch of ``op``, a `Conv`),
    ``vector`` (one RUN of ``n_layers`` layers from ``first`` on a flat vector), ``pool``
    (``op`` on the host) or ``flatten``. Shapes are per sample.
    """

    kind: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    op: object = None
    first: int = 0
    n_layers: int = 0

    @property
    def runs(self) -> int:
        """RUN commands per image."""
        if self.kind == "patches":
            return self.out_shape[1] * self.out_shape[2]
        return 1 if self.kind == "vector" else 0


@dataclass(frozen=True)
class Network:
    """Input shape of one sample ``(C, H, W)`` and the ops in order (module docstring)."""

    input_shape: tuple[int, int, int]
    ops: tuple = field(default_factory=tuple)

    def __post_init__(self):
        shape = tuple(int(d) for d in self.input_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise NetworkError(f"a network's input shape is (channels, height, width), not {list(self.input_shape)!r}")
        object.__setattr__(self, "input_shape", shape)
        object.__setattr__(self, "ops", tuple(self.ops))
        self._walk()

    # ---- shapes and order ------------------------------------------------------------------

    def _walk(self) -> list[tuple[object, tuple, tuple]]:
        """(op, in shape, out shape) of every op; raises NetworkError on the first that fails."""
        if not any(isinstance(op, Conv) for op in self.ops):
            raise NetworkError("a network description needs at least one conv (an MLP has none)")
        shape, out, expect = self.input_shape, [], 0
        for i, op in enumerate(self.ops):
            if isinstance(op, (Conv, Pool)):
                if len(shape) != 3:
                    raise NetworkError(f"op {i} ({type(op).__name__.lower()}) needs an image (C, H, W); its "
                                       f"input is a vector of {shape[0]} (flattened before)")
                new = op.out_shape(shape)
            elif isinstance(op, Flatten):
                new = (shape[0] * shape[1] * shape[2],) if len(shape) == 3 else shape
            elif isinstance(op, Dense):
                if len(shape) != 1:
                    raise NetworkError(f"op {i} (dense, layer {op.layer}) needs a vector; its input has shape "
                                       f"{shape}: flatten it first")
                new = None
            else:
                raise NetworkError(f"op {i}: unknown network op {op!r}")
            if isinstance(op, (Conv, Dense)):
                if op.layer != expect:
                    raise NetworkError(f"op {i} uses layer-table entry {op.layer}; entries are used in order, "
                                       f"so {expect} comes next")
                expect += 1
            out.append((op, shape, new))
            if new is not None:
                shape = new
            else:
                shape = (-1,)    # a dense layer's length comes from the layer table (check_layers)
        return out

    @property
    def n_layers(self) -> int:
        """Layer-table entries the network uses (0 .. n_layers - 1)."""
        return sum(isinstance(op, (Conv, Dense)) for op in self.ops)

    @property
    def input_size(self) -> int:
        c, h, w = self.input_shape
        return c * h * w

    def shapes(self, out_lens) -> list[tuple[object, tuple, tuple]]:
        """(op, in shape, out shape) per op, dense lengths from ``out_lens`` (per table entry)."""
        out_lens = [int(n) for n in out_lens]
        if len(out_lens) != self.n_layers:
            raise NetworkError(f"the network uses {self.n_layers} layer-table entries, the table has "
                               f"{len(out_lens)}")
        shape, out = self.input_shape, []
        for op, _, _ in self._walk():
            if isinstance(op, Dense):
                new = (out_lens[op.layer],)
            elif isinstance(op, Conv):
                new = op.out_shape(shape)
            elif isinstance(op, Pool):
                new = op.out_shape(shape)
            else:
                new = (shape[0] * shape[1] * shape[2],) if len(shape) == 3 else shape
            out.append((op, shape, new))
            shape = new
        return out

    def check_layers(self, lengths):
        """Raise NetworkError unless the layer table's ``(in_len, out_len)`` per entry fit."""
        lengths = [(int(a), int(b)) for a, b in lengths]
        for op, shape_in, shape_out in self.shapes([b for _, b in lengths]):
            if isinstance(op, Conv):
                in_len, out_len = lengths[op.layer]
                if in_len != op.patch_len(shape_in) or out_len != op.out_channels:
                    raise NetworkError(
                        f"layer {op.layer}: a {op.kernel[0]}x{op.kernel[1]} conv of {shape_in[0]} channels to "
                        f"{op.out_channels} needs a {op.out_channels} x {op.patch_len(shape_in)} matrix, the "
                        f"layer table has {out_len} x {in_len}")
            elif isinstance(op, Dense):
                in_len, _ = lengths[op.layer]
                if in_len != shape_in[0]:
                    raise NetworkError(f"layer {op.layer}: a dense layer receiving {shape_in[0]} values has "
                                       f"{in_len} inputs in the layer table")

    def output_shape(self, out_lens) -> tuple[int, ...]:
        return self.shapes(out_lens)[-1][2]

    # ---- the plan ----------------------------------------------------------------------------

    def plan(self, out_lens) -> list[Step]:
        """The steps of one inference (module docstring); consecutive dense layers are one RUN."""
        steps: list[Step] = []
        for op, a, b in self.shapes(out_lens):
            if isinstance(op, Conv):
                steps.append(Step("patches", a, b, op, first=op.layer, n_layers=1))
            elif isinstance(op, Pool):
                steps.append(Step("pool", a, b, op))
            elif isinstance(op, Flatten):
                steps.append(Step("flatten", a, b, op))
            elif steps and steps[-1].kind == "vector":
                s = steps[-1]
                steps[-1] = Step("vector", s.in_shape, b, None, first=s.first, n_layers=s.n_layers + 1)
            else:
                steps.append(Step("vector", a, b, None, first=op.layer, n_layers=1))
        return steps

    # ---- JSON --------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"input_shape": list(self.input_shape), "ops": [op.to_dict() for op in self.ops]}

    @classmethod
    def from_dict(cls, d) -> "Network":
        if not isinstance(d, dict) or "input_shape" not in d or not isinstance(d.get("ops"), list):
            raise NetworkError("a network description is an object with input_shape and ops")
        ops = []
        for i, o in enumerate(d["ops"]):
            if not isinstance(o, dict):
                raise NetworkError(f"network op {i} is not an object")
            kind = o.get("op")
            try:
                if kind == "conv":
                    ops.append(Conv(int(o["layer"]), int(o["out_channels"]), o["kernel"], o["stride"], o["pads"]))
                elif kind in ("maxpool", "avgpool"):
                    ops.append(Pool(kind[:3], o["kernel"], o["stride"], o["pads"],
                                    bool(o.get("count_include_pad", False))))
                elif kind == "flatten":
                    ops.append(Flatten())
                elif kind == "dense":
                    ops.append(Dense(int(o["layer"])))
                else:
                    raise NetworkError(f"network op {i}: unknown op {kind!r}")
            except (KeyError, TypeError, ValueError) as e:
                if isinstance(e, NetworkError):
                    raise
                raise NetworkError(f"network op {i} ({kind}): {type(e).__name__}: {e}") from None
        return cls(tuple(d["input_shape"]), tuple(ops))
