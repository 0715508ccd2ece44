"""Reading and writing model files: PyTorch state_dicts and .npz archives.

The convention (docs/compress.md, "Model files"):

* keys are ``<name>.weight`` (2-D, ``(out, in)``) and ``<name>.bias`` (1-D, ``(out,)``)
  of Linear layers; a missing bias means a zero bias;
* layers run in the order their keys first appear in the file: the state_dict's
  insertion order (what ``model.state_dict()`` gives), or the order of the arrays in
  the .npz archive (what ``np.savez(path, **state_dict)`` writes);
* ReLU follows every layer but the last; each layer's input count equals the previous
  layer's output count.

A ``.pt``/``.pth`` file is read with ``torch.load(..., weights_only=True)``; a dict
holding the state_dict under ``state_dict`` or ``model_state_dict`` is accepted too.
Anything else (convolutions, normalisation layers, NaN/Inf, shapes that don't chain,
unreadable files) raises a `ModelError` that names the offending key or file.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eie.atomic import atomic_write_bytes
from eie.errors import EIEError

__all__ = ["ModelError", "UnreadableModelError", "UnsupportedLayerError", "NonFiniteWeightsError",
           "ShapeMismatchError", "LinearLayer", "load_model", "load_network", "layers_from_state",
           "save_model"]


class ModelError(EIEError, ValueError):
    """A model file that cannot be compressed."""


class UnreadableModelError(ModelError):
    """The file is missing, corrupt, or not a state_dict / npz."""


class UnsupportedLayerError(ModelError):
    """A tensor that is not a Linear layer's weight or bias."""


class NonFiniteWeightsError(ModelError):
    """A tensor holds NaN or Inf."""


class ShapeMismatchError(ModelError):
    """Layer shapes that don't chain, or a bias that doesn't match its weight."""


@dataclass
class LinearLayer:
    """One Linear layer as read from a file (float32 arrays)."""

    name: str
    weight: np.ndarray   # (out, in)
    bias: np.ndarray     # (out,)
    relu: bool

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.weight.shape)


SUFFIXES_TORCH = (".pt", ".pth")
SUFFIX_NPZ = ".npz"
SUFFIX_ONNX = ".onnx"
_NORM_HINTS = ("running_mean", "running_var", "num_batches_tracked")


def _read_torch(path: Path) -> dict:
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:   # torch raises many types (pickle, zip, runtime); all mean "unreadable"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UnreadableModelError(
            f"cannot read model file {str(path)!r} as a PyTorch state_dict "
            f"(torch.load with weights_only=True): {first}") from None
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise UnreadableModelError(f"model file {str(path)!r} holds a {type(obj).__name__}, "
                                   "not a state_dict (a dict of tensors)")
    state = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise UnsupportedLayerError(f"model file {str(path)!r}: entry {key!r} is a "
                                        f"{type(value).__name__}, not a tensor")
        if not value.is_floating_point():
            # Integer buffers, e.g. BatchNorm's num_batches_tracked: not a Linear layer.
            state[str(key)] = value.detach().cpu().numpy()
        else:
            state[str(key)] = value.detach().cpu().to(torch.float64).numpy()
    return state


def _read_npz(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise UnreadableModelError(f"cannot read model file {str(path)!r} as an .npz archive: {e}") from None


def load_model(path: str | Path) -> list[LinearLayer]:
    """Read and check a model file; return its Linear layers in forward order."""
    path = Path(path)
    if not path.exists():
        raise UnreadableModelError(f"model file {str(path)!r} does not exist")
    if not path.is_file():
        raise UnreadableModelError(f"model file {str(path)!r} is not a file")
    suffix = path.suffix.lower()
    if suffix in SUFFIXES_TORCH:
        state = _read_torch(path)
    elif suffix == SUFFIX_NPZ:
        state = _read_npz(path)
    else:
        raise UnreadableModelError(f"model file {str(path)!r}: unknown kind {suffix or '(no suffix)'!r}; "
                                   "use a PyTorch state_dict (.pt, .pth), an .npz archive or an ONNX file (.onnx)")
    return layers_from_state(state, source=str(path))


def load_network(path: str | Path) -> tuple[list[LinearLayer], tuple[int, ...]]:
    """Layers and per-sample input shape of a state_dict, .npz or ONNX file."""
    path = Path(path)
    if path.suffix.lower() == SUFFIX_ONNX:
        if not path.is_file():
            raise UnreadableModelError(f"model file {str(path)!r} does not exist" if not path.exists()
                                       else f"model file {str(path)!r} is not a file")
        from .onnx_reader import load_onnx

        return load_onnx(path)
    layers = load_model(path)
    return layers, (int(layers[0].weight.shape[1]),)


def layers_from_state(state: dict, source: str = "model") -> list[LinearLayer]:
    """Check a ``{key: array}`` mapping against the convention and build the layers."""
    if not state:
        raise UnreadableModelError(f"{source}: holds no tensors")
    weights: dict[str, np.ndarray] = {}
    biases: dict[str, np.ndarray] = {}
    order: list[str] = []
    for key, value in state.items():
        arr = np.asarray(value)
        name, dot, kind = key.rpartition(".")
        if not dot or kind not in ("weight", "bias") or not name:
            hint = " (a normalisation layer's statistics)" if kind in _NORM_HINTS else ""
            raise UnsupportedLayerError(
                f"{source}: key {key!r}{hint} is not a Linear layer's weight or bias; "
                "only Linear layers with ReLU between them can be compressed")
        if not np.issubdtype(arr.dtype, np.floating):
            raise UnsupportedLayerError(f"{source}: tensor {key!r} has dtype {arr.dtype}, not a float type")
        if kind == "weight":
            if arr.ndim != 2:
                what = {4: "a 2-D convolution", 3: "a 1-D convolution", 5: "a 3-D convolution",
                        1: "a normalisation layer"}.get(arr.ndim, "not a Linear layer")
                raise UnsupportedLayerError(
                    f"{source}: {key!r} has shape {tuple(arr.shape)}, which looks like {what}; "
                    "a Linear weight is 2-D (out, in) and only Linear layers can be compressed")
            weights[name] = arr
        else:
            if arr.ndim != 1:
                raise UnsupportedLayerError(f"{source}: bias {key!r} has shape {tuple(arr.shape)}, not 1-D")
            biases[name] = arr
        if name not in order:
            order.append(name)
        bad = ~np.isfinite(arr)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise NonFiniteWeightsError(
                f"{source}: tensor {key!r} contains {int(bad.sum())} NaN/Inf value(s), "
                f"the first at index {first}")
    for name in order:
        if name not in weights:
            raise UnsupportedLayerError(f"{source}: {name + '.bias'!r} has no matching {name + '.weight'!r}")
    layers = []
    for i, name in enumerate(order):
        w = weights[name]
        if w.shape[0] < 1 or w.shape[1] < 1:
            raise ShapeMismatchError(f"{source}: {name + '.weight'!r} is empty, shape {tuple(w.shape)}")
        b = biases.get(name)
        if b is None:
            b = np.zeros(w.shape[0])
        elif b.shape[0] != w.shape[0]:
            raise ShapeMismatchError(f"{source}: {name + '.bias'!r} has {b.shape[0]} entries but "
                                     f"{name + '.weight'!r} has {w.shape[0]} outputs")
        layers.append(LinearLayer(name=name, weight=w.astype(np.float32), bias=b.astype(np.float32),
                                  relu=i < len(order) - 1))
    for a, b in zip(layers, layers[1:]):
        if a.weight.shape[0] != b.weight.shape[1]:
            raise ShapeMismatchError(
                f"{source}: layer {a.name!r} has {a.weight.shape[0]} outputs but the next layer "
                f"{b.name!r} expects {b.weight.shape[1]} inputs (layers run in file order)")
    return layers


def save_model(layers, path: str | Path):
    """Write ``[(name, weight, bias), ...]`` (or `LinearLayer`s) as .pt or .npz, atomically."""
    import io

    path = Path(path)
    items = [(l.name, l.weight, l.bias) if isinstance(l, LinearLayer) else l for l in layers]
    if path.suffix.lower() == SUFFIX_NPZ:
        buf = io.BytesIO()
        arrays = {}
        for name, w, b in items:
            arrays[f"{name}.weight"] = np.asarray(w, np.float32)
            arrays[f"{name}.bias"] = np.asarray(b, np.float32)
        np.savez(buf, **arrays)
    elif path.suffix.lower() in SUFFIXES_TORCH:
        import collections

        import torch

        buf = io.BytesIO()
        state = collections.OrderedDict()
        for name, w, b in items:
            state[f"{name}.weight"] = torch.as_tensor(np.asarray(w, np.float32))
            state[f"{name}.bias"] = torch.as_tensor(np.asarray(b, np.float32))
        torch.save(state, buf)
    else:
        raise UnreadableModelError(f"cannot write {str(path)!r}: use a .pt, .pth or .npz name")
    atomic_write_bytes(path, buf.getvalue())
