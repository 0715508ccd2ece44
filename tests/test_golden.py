"""Golden model: bit-exact against a naive per-entry reference, saturation included."""

import numpy as np
import pytest

from eie import format as fmt, numerics, images
from eie.config import PRESETS
from eie.golden import GoldenModel, InputError

TINY = PRESETS["tiny"]


def naive(program, x):
    """Entry by entry in input order, straight from eie.numerics' rules."""
    cfg = program.cfg
    a = np.asarray(x, np.int64)
    for e in program.layers:
        W = np.asarray(e.codebook)[fmt.decode_layer(e, cfg.n_pe)]
        acc = [int(v) for v in numerics.accumulator_init(e.bias, e.shift)]
        for j in range(e.in_len):
            if a[j] == 0:
                continue
            for i in range(e.out_len):
                if W[i, j]:
                    acc[i] = min(max(acc[i] + int(a[j]) * int(W[i, j]), cfg.acc_min), cfg.acc_max)
        a = numerics.requantize(np.array(acc, np.int64), e.shift, e.relu, cfg)
    return a


@pytest.mark.parametrize("seed", range(12))
def test_matches_naive_reference(seed):
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 40, 3)
    layers = []
    for i, (a, b) in enumerate([(sizes[0], sizes[1]), (sizes[1], sizes[2])]):
        idx = rng.integers(1, 16, (b, a)) * (rng.random((b, a)) < rng.random())
        # Large codebooks make sums saturate, small ones don't.
        cb = np.r_[0.0, rng.normal(size=15) * rng.choice([0.05, 1.0, 120.0])]
        layers.append(fmt.QuantizedLayer(f"l{i}", idx, cb, rng.normal(size=b) * 10, i == 0))
    prog = fmt.encode_network(layers, TINY)
    x = rng.integers(TINY.act_min, TINY.act_max + 1, (6, sizes[0])) * (rng.random((6, sizes[0])) < 0.5)
    out = GoldenModel(prog).run(x)
    for b in range(len(x)):
        assert np.array_equal(out[b], naive(prog, x[b]))


def test_saturation_is_order_dependent_and_followed():
    # acc_max reached, then a negative product: saturate-then-subtract differs from the exact sum.
    cfg = TINY
    cb = np.zeros(16); cb[1], cb[2] = 127.0, -127.0
    idx = np.array([[1, 1, 1, 1, 1, 2, 2]])
    prog = fmt.encode_network([fmt.QuantizedLayer("s", idx, cb, np.zeros(1), False)], cfg)
    x = np.full(7, cfg.act_max)
    assert np.array_equal(GoldenModel(prog).run(x), naive(prog, x))
    p = int(x[0]) * int(prog.layers[0].codebook[1])
    assert 5 * p > cfg.acc_max  # the first five MACs do saturate
    acc = GoldenModel(prog).layers[0].accumulate(x[None, :], cfg)
    assert int(acc[0, 0]) == cfg.acc_max - 2 * p != 3 * p


def test_reads_images_from_disk(tmp_path):
    rng = np.random.default_rng(7)
    idx = rng.integers(1, 16, (9, 13)) * (rng.random((9, 13)) < 0.4)
    prog = fmt.encode_network([fmt.QuantizedLayer("a", idx, np.r_[0.0, rng.normal(size=15)],
                                                   rng.normal(size=9), True)], TINY)
    images.write_images(prog, tmp_path / "m")
    x = rng.integers(-300, 300, 13)
    assert np.array_equal(GoldenModel(tmp_path / "m", TINY).run(x), GoldenModel(prog).run(x))


def test_bad_inputs_are_rejected():
    prog = fmt.encode_network([fmt.QuantizedLayer("a", np.ones((2, 3), int), np.r_[0.0, np.ones(15)],
                                                   np.zeros(2))], TINY)
    g = GoldenModel(prog)
    with pytest.raises(InputError, match="3 values per vector"):
        g.run(np.zeros(4, np.int64))
    with pytest.raises(InputError, match="fixed-point integers"):
        g.run(np.zeros(3))
    with pytest.raises(InputError, match="activation range"):
        g.run(np.array([1 << 20, 0, 0]))
