"""Trained quantization: centroid initialisation, 1-D k-means, centroid gradients, fine-tuning."""

import numpy as np
import pytest
import torch

from compress.models import MLP, set_determinism
from compress.quantize import (CentroidTraining, centroid_gradients, init_centroids, kmeans_1d,
                               quantize_model, quantize_weights)


def test_init_methods():
    v = np.array([-1.0, -0.5, 0.2, 0.3, 0.4, 2.0])
    assert np.allclose(init_centroids(v, 4, "linear"), [-1, 0, 1, 2])
    assert np.allclose(init_centroids(v, 2, "density"), np.quantile(v, [0.25, 0.75]))
    r = init_centroids(v, 3, "random", seed=5)
    assert set(r) <= set(v) and len(set(r)) == 3 and np.array_equal(r, init_centroids(v, 3, "random", seed=5))
    with pytest.raises(ValueError, match="unknown centroid initialisation 'kmeans\\+\\+'"):
        init_centroids(v, 3, "kmeans++")


def test_kmeans_finds_separated_clusters():
    seed = 3
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    centres = np.array([-2.0, 0.5, 3.0])
    v = np.concatenate([c + 0.05 * rng.normal(size=200) for c in centres])
    c, labels = kmeans_1d(v, init_centroids(v, 3, "linear"))
    assert np.allclose(c, centres, atol=0.02)
    assert np.array_equal(np.bincount(labels), [200, 200, 200])


def test_empty_clusters_are_reused():
    # Linear init puts centroids into the gap of a bimodal (pruned) distribution.
    v = np.r_[np.linspace(-1.0, -0.9, 50), np.linspace(0.9, 1.0, 50)]
    c, labels = kmeans_1d(v, init_centroids(v, 7, "linear"))
    assert len(np.unique(labels)) == 7


@pytest.mark.parametrize("method", ["linear", "density", "random"])
def test_quantize_weights(method):
    seed = 11
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(30, 40))
    mask = np.abs(w) > 1.0
    codes = quantize_weights(w, mask, 15, method, seed)
    assert codes.codebook.shape == (16,) and codes.codebook[0] == 0.0
    assert np.array_equal(codes.indices == 0, ~mask)
    assert set(np.unique(codes.indices[mask])) == set(range(1, 16))     # every shared value in use
    # Linear init keeps a centroid near the rare large weights (the paper's argument for it);
    # density/random starts may leave the tail with a far centroid.
    assert np.abs(codes.dense() - w * mask).max() < (0.3 if method == "linear" else 1.5)
    # Each weight sits on its nearest shared value.
    near = np.argmin(np.abs(w[mask][:, None] - codes.codebook[1:][None, :]), axis=1) + 1
    assert np.array_equal(near, codes.indices[mask])


def test_fewer_weights_than_clusters():
    w = np.zeros((3, 3)); w[0, 0], w[1, 1] = 0.5, -0.25
    codes = quantize_weights(w, w != 0, 15)
    assert codes.dense()[0, 0] == 0.5 and codes.dense()[1, 1] == -0.25 and codes.dense().sum() == 0.25


@pytest.mark.parametrize("seed", range(5))
def test_centroid_gradient_is_sum_of_weight_gradients(seed):
    print(f"seed={seed}")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, 16, (20, 30), generator=g)
    grad = torch.randn(20, 30, generator=g)
    got = centroid_gradients(grad, idx, 16)
    for c in range(1, 16):
        assert torch.allclose(got[c], grad[idx == c].sum(), atol=1e-5)
    assert got[0] == 0
    # Same as autograd through W = codebook[idx] (except entry 0, which is held at zero).
    cb = torch.randn(16, generator=g, requires_grad=True)
    (cb[idx] * grad).sum().backward()
    assert torch.allclose(got[1:], cb.grad[1:], atol=1e-5)


def test_fine_tuning_keeps_structure():
    set_determinism(0)
    rng = np.random.default_rng(0)
    x = rng.random((256, 12)).astype(np.float32)
    y = (x[:, 0] > x[:, 1]).astype(np.int64)
    model = MLP((12, 8, 2))
    masks = [torch.as_tensor(rng.random(l.weight.shape) < 0.5) for l in model.layers]
    with torch.no_grad():
        for l, m in zip(model.layers, masks):
            l.weight.mul_(m)
    codes = quantize_model(model, masks, 7)
    trainer = CentroidTraining(model, codes)
    trainer.train(x, y, epochs=3, lr=1e-2, progress=False)
    tuned = trainer.codes()
    for l, m, c0, c1 in zip(model.layers, masks, codes, tuned):
        assert np.array_equal(c0.indices, c1.indices)                       # assignments fixed
        assert c1.codebook[0] == 0.0
        assert not np.allclose(c0.codebook, c1.codebook)                    # centroids moved
        assert torch.equal(l.weight.detach(), torch.as_tensor(c1.codebook, dtype=torch.float32)[c1.indices])
        assert torch.count_nonzero(l.weight[~m]) == 0
        # At most 7 distinct non-zero values per layer.
        assert len(torch.unique(l.weight[m])) <= 7
