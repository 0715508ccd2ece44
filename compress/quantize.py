"""Trained quantization: per-layer weight sharing by k-means (Deep Compression, step 2).

The surviving weights of each layer are clustered into ``k = 2**v_bits - 1`` shared
values; codebook entry 0 is reserved for the zero (pruned) weight, so a weight's index
is ``0`` when pruned and ``1 + cluster`` otherwise. Centroid initialisation:

* ``linear`` (default, the paper's best): evenly spaced between the smallest and the
  largest surviving weight, so the rare large weights get their own centroids;
* ``density``: at the quantiles ``(i + 0.5) / k`` of the weights (evenly spaced on the
  y-axis of the CDF);
* ``random`` (Forgy): ``k`` distinct weights picked with a seeded generator.

k-means is Lloyd's algorithm in one dimension (sorted centroids, assignment by the
midpoints). A cluster left empty is moved onto the weight farthest from its centroid,
so every codebook entry stays in use.

Fine-tuning (`CentroidTraining`): the forward pass uses ``W = codebook[indices]``; after
``backward`` each centroid's gradient is the sum of the gradients of the weights that
share it (`centroid_gradients`, an explicit ``scatter_add``), the optimizer updates the
centroids, and the weights are rewritten from the codebook.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .models import MLP, fit

__all__ = ["INIT_METHODS", "init_centroids", "kmeans_1d", "quantize_weights", "LayerCodes",
           "centroid_gradients", "CentroidTraining", "quantize_model"]

INIT_METHODS = ("linear", "density", "random")


def init_centroids(values: np.ndarray, k: int, method: str = "linear", seed: int = 0) -> np.ndarray:
    """Initial centroids (sorted, float64) for ``values`` by ``method``."""
    values = np.asarray(values, np.float64).ravel()
    if values.size == 0:
        raise ValueError("cannot initialise centroids of an empty set of weights")
    if method == "linear":
        return np.linspace(values.min(), values.max(), k)
    if method == "density":
        return np.quantile(values, (np.arange(k) + 0.5) / k)
    if method == "random":
        rng = np.random.default_rng(seed)
        uniq = np.unique(values)
        pick = rng.choice(len(uniq), size=min(k, len(uniq)), replace=False)
        chosen = uniq[pick]
        if len(chosen) < k:   # fewer distinct weights than clusters: repeat the largest
            chosen = np.concatenate([chosen, np.full(k - len(chosen), chosen.max())])
        return np.sort(chosen)
    raise ValueError(f"unknown centroid initialisation {method!r}: use one of {', '.join(INIT_METHODS)}")


def _assign(values: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (centroids sorted ascending)."""
    mids = (centroids[1:] + centroids[:-1]) / 2
    return np.searchsorted(mids, values, side="left")


def kmeans_1d(values: np.ndarray, init: np.ndarray, iters: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means in 1-D from ``init``; returns (sorted centroids, labels)."""
    values = np.asarray(values, np.float64).ravel()
    c = np.sort(np.asarray(init, np.float64).copy())
    k = len(c)
    labels = _assign(values, c)
    for _ in range(iters):
        counts = np.bincount(labels, minlength=k)
        sums = np.bincount(labels, weights=values, minlength=k)
        new = np.where(counts > 0, sums / np.maximum(counts, 1), c)
        # Move each empty cluster onto the worst-served weight (if it is not a centroid already).
        for e in np.flatnonzero(counts == 0):
            err = np.abs(values - new[labels])
            far = int(np.argmax(err))
            if err[far] > 0:
                new[e] = values[far]
                labels[far] = e
        new = np.sort(new)
        new_labels = _assign(values, new)
        done = np.array_equal(new_labels, labels) and np.allclose(new, c, rtol=0, atol=0)
        c, labels = new, new_labels
        if done:
            break
    return c, labels


@dataclass
class LayerCodes:
    """Shared-weight form of one layer: ``W = codebook[indices]``, index 0 = pruned."""

    indices: np.ndarray    # (out, in) int64, 0 .. k
    codebook: np.ndarray   # (k + 1,) float64, codebook[0] == 0
    initial: np.ndarray | None = None   # (k,) the centroids k-means started from (for plots)

    def dense(self) -> np.ndarray:
        return self.codebook[self.indices]


def quantize_weights(weight: np.ndarray, mask: np.ndarray, k: int, method: str = "linear",
                     seed: int = 0) -> LayerCodes:
    """k-means of the surviving weights into ``k`` shared values."""
    weight = np.asarray(weight, np.float64)
    mask = np.asarray(mask, bool)
    alive = weight[mask]
    indices = np.zeros(weight.shape, np.int64)
    codebook = np.zeros(k + 1, np.float64)
    initial = None
    if alive.size:
        initial = init_centroids(alive, k, method, seed)
        centroids, labels = kmeans_1d(alive, initial)
        codebook[1:] = centroids
        indices[mask] = labels + 1
    return LayerCodes(indices=indices, codebook=codebook, initial=initial)


def centroid_gradients(weight_grad: torch.Tensor, indices: torch.Tensor, n_codes: int) -> torch.Tensor:
    """Gradient of each codebook entry: the sum of the gradients of the weights sharing it.

    Entry 0 (the zero weight of pruned positions) always gets zero: it must stay 0.
    """
    grad = torch.zeros(n_codes, dtype=weight_grad.dtype)
    grad.scatter_add_(0, indices.reshape(-1), weight_grad.reshape(-1))
    grad[0] = 0
    return grad


class CentroidTraining:
    """Fine-tunes the codebooks (and biases) of an `MLP` whose weights are shared."""

    def __init__(self, model: MLP, codes: list[LayerCodes]):
        self.model = model
        self.indices = [torch.as_tensor(c.indices, dtype=torch.int64) for c in codes]
        self.codebooks = [torch.nn.Parameter(torch.as_tensor(c.codebook, dtype=torch.float32))
                          for c in codes]
        self.write_weights()

    def write_weights(self):
        with torch.no_grad():
            for layer, cb, idx in zip(self.model.layers, self.codebooks, self.indices):
                cb[0] = 0.0
                layer.weight.copy_(cb[idx])

    def collect_gradients(self):
        for layer, cb, idx in zip(self.model.layers, self.codebooks, self.indices):
            cb.grad = centroid_gradients(layer.weight.grad, idx, len(cb))

    def parameters(self) -> list[torch.nn.Parameter]:
        """What the optimizer updates: codebooks and biases (not the weights themselves)."""
        return list(self.codebooks) + [l.bias for l in self.model.layers]

    def train(self, x, y, *, epochs: int, lr: float = 1e-4, **fit_args):
        for layer in self.model.layers:
            layer.weight.requires_grad_(True)
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        fit(self.model, x, y, opt, epochs=epochs, after_backward=self.collect_gradients,
            after_step=self.write_weights, **fit_args)

    def codes(self, initial=None) -> list[LayerCodes]:
        """The current codebooks; ``initial`` carries over each layer's k-means start."""
        initial = initial or [None] * len(self.indices)
        return [LayerCodes(indices=i.numpy().copy(), codebook=cb.detach().to(torch.float64).numpy().copy(),
                           initial=init)
                for i, cb, init in zip(self.indices, self.codebooks, initial)]


def quantize_model(model: MLP, masks, k, method: str = "linear", seed: int = 0) -> list[LayerCodes]:
    """k-means every layer of ``model`` under its mask; the model's weights become shared.

    ``k``: shared values per layer, one number for all layers or one per layer.
    """
    ks = [int(k)] * len(model.layers) if np.ndim(k) == 0 else [int(x) for x in k]
    codes = [quantize_weights(l.weight.detach().numpy(), m.numpy() if torch.is_tensor(m) else m,
                              kl, method, seed + i)
             for i, (l, m, kl) in enumerate(zip(model.layers, masks, ks))]
    CentroidTraining(model, codes)   # writes codebook[indices] into the weights
    return codes
