"""Your own data: an .npz file (or arrays) checked against the model it is for.

The file holds ``x_train``, ``y_train``, ``x_test``, ``y_test`` and optionally ``x_val``,
``y_val`` (both or neither; without them a validation split is held out of train when one
is needed, `compress.data.with_validation`). The task is classification with
cross-entropy: ``y_*`` are 1-D class indices ``0 .. outputs-1`` (integers, or floats that
are whole numbers), and the class a model predicts is the argmax of its last layer.

Each ``x_*`` has one sample per row of the first axis. A sample's shape must be the
model's input shape, or hold the same number of values: flattened arrays are reshaped
(row-major, as ``np.reshape`` and ``torch.flatten`` do). Values are used as they are (no
scaling). Everything is refused with a `DataError` naming the key: a missing or unknown
key, a shape that doesn't fit, labels that are not whole numbers or are out of range,
NaN or Inf (with the first bad index), empty or mismatched splits.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .data import DataError, Dataset

__all__ = ["REQUIRED_KEYS", "OPTIONAL_KEYS", "MissingKeyError", "DataShapeError", "LabelError",
           "NonFiniteDataError", "load_data_file", "dataset_from_arrays"]

REQUIRED_KEYS = ("x_train", "y_train", "x_test", "y_test")
OPTIONAL_KEYS = ("x_val", "y_val")
SPLITS = ("train", "val", "test")


class MissingKeyError(DataError):
    """A required array is missing, or an unknown one is present."""


class DataShapeError(DataError):
    """Samples whose shape does not fit the model, or splits of mismatched lengths."""


class LabelError(DataError):
    """Labels that are not whole class indices of the model's outputs."""


class NonFiniteDataError(DataError):
    """NaN or Inf in the features."""


def load_data_file(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of an .npz data file, with its keys checked (not yet against a model)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} does not exist" if not path.exists()
                        else f"data file {str(path)!r} is not a file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"cannot read data file {str(path)!r} as an .npz archive: {e}") from None
    check_keys(arrays, str(path))
    return arrays


def check_keys(arrays: dict, source: str):
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise MissingKeyError(f"{source}: missing {', '.join(missing)} (a data file holds "
                              f"{', '.join(REQUIRED_KEYS)} and optionally {', '.join(OPTIONAL_KEYS)})")
    unknown = sorted(set(arrays) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise MissingKeyError(f"{source}: unknown key(s) {', '.join(unknown)}; a data file holds only "
                              f"{', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)}")
    if ("x_val" in arrays) != ("y_val" in arrays):
        have, lack = ("x_val", "y_val") if "x_val" in arrays else ("y_val", "x_val")
        raise MissingKeyError(f"{source}: {have} without {lack}: give both or neither "
                              "(without them a validation split is held out of train)")


def _features(key: str, x, input_shape: tuple[int, ...], source: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == bool or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"{source}: {key} has dtype {x.dtype}, not a number type")
    if x.ndim < 2 or x.shape[0] == 0:
        raise DataShapeError(f"{source}: {key} has shape {x.shape}; it needs one sample per row "
                             f"(shape (samples, {', '.join(map(str, input_shape))}))")
    size = int(np.prod(input_shape))
    per_sample = int(np.prod(x.shape[1:]))
    if tuple(x.shape[1:]) != tuple(input_shape) and per_sample != size:
        raise DataShapeError(f"{source}: {key} has samples of shape {tuple(x.shape[1:])} ({per_sample} values); "
                             f"the model takes {size} inputs (input shape {tuple(input_shape)})")
    bad = ~np.isfinite(x) if np.issubdtype(x.dtype, np.floating) else None
    if bad is not None and bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise NonFiniteDataError(f"{source}: {key} contains {int(bad.sum())} NaN/Inf value(s), the first "
                                 f"at index {first}")
    return np.ascontiguousarray(x.reshape(len(x), size), dtype=np.float32)


def _labels(key: str, y, n_samples: int, n_outputs: int, source: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        hint = " (one-hot labels? give class indices: y.argmax(axis=1))" if y.ndim == 2 else ""
        raise LabelError(f"{source}: {key} has shape {y.shape}; labels are 1-D class indices{hint}")
    if len(y) != n_samples:
        raise DataShapeError(f"{source}: {key} has {len(y)} labels for {n_samples} samples in x_{key[2:]}")
    if y.dtype == bool or not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise LabelError(f"{source}: {key} has dtype {y.dtype}; labels are integer class indices")
    if np.issubdtype(y.dtype, np.floating):
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if bad.size:
            raise LabelError(f"{source}: {key} holds {bad.size} label(s) that are not whole numbers, the "
                             f"first {y[bad[0]].item()!r} at index {int(bad[0])}; labels are integer class indices")
    out = np.asarray(y, np.float64)
    bad = np.flatnonzero((out < 0) | (out >= n_outputs))
    if bad.size:
        raise LabelError(f"{source}: {key} holds {bad.size} label(s) outside 0 .. {n_outputs - 1} (the model "
                         f"has {n_outputs} outputs), the first {y[bad[0]].item()!r} at index {int(bad[0])}")
    return out.astype(np.int64)


def dataset_from_arrays(arrays: dict, input_shape, n_outputs: int, source: str = "data",
                        name: str | None = None) -> Dataset:
    """Check ``arrays`` (the data-file keys) against a model and build the `Dataset`."""
    check_keys(arrays, source)
    input_shape = tuple(int(d) for d in input_shape)
    split = {}
    for part in SPLITS:
        if f"x_{part}" not in arrays:
            continue
        x = _features(f"x_{part}", arrays[f"x_{part}"], input_shape, source)
        split[part] = (x, _labels(f"y_{part}", arrays[f"y_{part}"], len(x), n_outputs, source))
    (x_tr, y_tr), (x_te, y_te) = split["train"], split["test"]
    x_va, y_va = split.get("val", (None, None))
    counts = f"{len(y_tr)} train, " + (f"{len(y_va)} validation, " if x_va is not None else "") + f"{len(y_te)} test"
    return Dataset(name=name or Path(source).name, x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te,
                   x_val=x_va, y_val=y_va, input_shape=input_shape,
                   validation="x_val/y_val of the data file" if x_va is not None else "",
                   description=f"data file {source} ({counts} samples; classification, cross-entropy)")
