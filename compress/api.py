"""The Python API: compress a PyTorch model with your own data, as ``eie compress`` does.

    from compress.api import compress
    result = compress(model, train=(x_train, y_train), test=(x_test, y_test), out="out/mine")

``model`` is an ``nn.Sequential`` of supported layers (`compress.torch_model`: Linear, and
Conv2d, MaxPool2d, AvgPool2d for conv nets), a `compress.models.MLP`, a state_dict (a mapping
of ``<name>.weight``/``<name>.bias`` tensors or arrays of Linear layers, in forward order with
ReLU between them), or a model file path (.pt, .npz, .onnx). A conv net's per-sample input
shape ``(C, H, W)`` is ``input_shape``, or the shape of the training samples when they are
not flattened. ``train``, ``test`` and the optional ``val`` are each an ``(x, y)``
pair of tensors or arrays, or an iterable of ``(x, y)`` batches such as a ``DataLoader``
(read once, into memory). They are checked like a data file (`compress.datafile`).
Without ``densities`` they are chosen automatically within ``max_drop`` points.
``balance=True`` writes load-balanced images (``eie compress --balance``), and
``balanced_prune=True`` prunes as ESE did (``--balanced-prune``).

Returns the `CompressResult`; with ``out`` it also writes the same folder as the CLI
(images, report, plots; ``result.report`` is the report dict). Errors are `EIEError`s
with the same messages as the CLI's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from eie.config import EIEConfig, get_config

from .datafile import dataset_from_arrays
from .loader import layers_from_state, load_network
from .pipeline import CompressOptions, CompressResult, check_out_dir, compress_layers, write_outputs

__all__ = ["compress", "model_layers", "split_arrays"]


def _numpy(a) -> np.ndarray:
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def split_arrays(split, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` arrays of one split given as a pair or as an iterable of batches."""
    if isinstance(split, (tuple, list)) and len(split) == 2 and not isinstance(split[0], (tuple, list)):
        return _numpy(split[0]), _numpy(split[1])
    xs, ys = [], []
    try:
        for batch in split:
            x, y = batch[0], batch[1]
            xs.append(_numpy(x))
            ys.append(_numpy(y))
    except (TypeError, IndexError, KeyError):
        from .data import DataError

        raise DataError(f"{what}: give an (x, y) pair of tensors/arrays or an iterable of (x, y) batches "
                        "(a DataLoader)") from None
    if not xs:
        from .data import DataError

        raise DataError(f"{what}: the DataLoader yielded no batches")
    return np.concatenate(xs), np.concatenate(ys)


def model_layers(model, input_shape=None):
    """(layers, per-sample input shape, source) of any model form `compress` accepts.

    ``input_shape``: a conv net's ``(C, H, W)`` when the model does not say it (an
    ``nn.Sequential``)."""
    from torch import nn

    if isinstance(model, (str, Path)):
        layers, shape = load_network(model)
        return layers, shape, str(model)
    if isinstance(model, nn.Module):
        from .torch_model import layers_from_module

        layers, shape = layers_from_module(model, input_shape)
        return layers, shape, f"{type(model).__name__} (Python API)"
    if isinstance(model, Mapping):
        layers = layers_from_state({str(k): _numpy(v) for k, v in model.items()}, source="state_dict")
        return layers, (int(layers[0].weight.shape[1]),), "state_dict (Python API)"
    from .loader import UnreadableModelError

    raise UnreadableModelError(f"cannot compress a {type(model).__name__}: give an nn.Sequential, a state_dict "
                               "or a model file path")


def compress(model, train, test, *, val=None, config: str | EIEConfig = "eie", out=None,
             densities=None, max_drop: float = 0.5, allow_fixed_point_loss: bool = False,
             input_shape=None, balance: bool = False, balanced_prune: bool = False, **options) -> CompressResult:
    """Compress ``model`` with your data; see the module docstring. ``options``: any other
    `CompressOptions` field (``prune_epochs``, ``codebook_bits``, ``seed``, ``progress``, ...)."""
    from .convnet import output_size

    cfg = config if isinstance(config, EIEConfig) else get_config(config)
    if out is not None:
        check_out_dir(Path(out))
    arrays = {}
    for part, split in (("train", train), ("test", test), ("val", val)):
        if split is not None:
            arrays[f"x_{part}"], arrays[f"y_{part}"] = split_arrays(split, part)
    if input_shape is None and arrays["x_train"].ndim in (3, 4):
        # Shaped samples say a conv net's input shape: (N, H, W) is one channel.
        input_shape = arrays["x_train"].shape[1:] if arrays["x_train"].ndim == 4 else (1,) + arrays["x_train"].shape[1:]
    layers, shape, source = model_layers(model, input_shape)
    data = dataset_from_arrays(arrays, shape, output_size(layers), source="arrays (Python API)",
                               name="your data")
    opts = CompressOptions(densities=None if densities == "auto" else densities, max_drop=max_drop,
                           allow_fixed_point_loss=allow_fixed_point_loss, balance=balance,
                           balanced_prune=balanced_prune, **options)
    result = compress_layers(layers, cfg, data, opts, source=source, input_shape=shape)
    if out is not None:
        write_outputs(result, out, config_name=config if isinstance(config, str) else "")
    return result
