"""The EIE storage format: the paper's worked examples, capacity checks, property tests."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from eie import format as fmt
from eie.config import PRESETS

TINY = PRESETS["tiny"]

# DESIGN.md / EIE Figs. 2-3: PE0's entries of a 16x8 matrix on 4 PEs.
FIG2_PE0 = [(0, 0), (8, 0), (12, 0), (4, 1), (0, 2), (12, 2), (0, 4), (4, 4), (0, 5), (12, 5),
            (0, 6), (8, 7), (12, 7)]


def fig2_matrix(seed=0):
    rng = np.random.default_rng(seed)
    W = np.zeros((16, 8), dtype=np.int64)
    for r, c in FIG2_PE0:
        W[r, c] = rng.integers(1, 16)
    other = (np.arange(16)[:, None] % 4 != 0) & (rng.random((16, 8)) < 0.3)
    W[other] = rng.integers(1, 16, size=int(other.sum()))
    return W


def test_fig2_example_pe0():
    W = fig2_matrix()
    e = fmt.encode_layer(fmt.QuantizedLayer("fig2", W, np.r_[0.0, np.linspace(-1, 1, 15)],
                                            np.zeros(16), False), TINY)
    assert e.ptr[0].tolist() == [0, 3, 4, 6, 6, 8, 10, 11, 13]
    assert e.z[0].tolist() == [0, 1, 0, 1, 0, 2, 0, 0, 0, 2, 0, 2, 0]
    assert e.v[0].tolist() == [W[r, c] for r, c in FIG2_PE0]
    assert np.array_equal(fmt.decode_layer(e, TINY.n_pe), W)


def test_papers_padding_example():
    column = np.array([0, 0, 1, 2] + [0] * 18 + [3])[:, None]
    ptr, v, z = fmt.encode_slice(column, max_run=15)
    assert v.tolist() == [1, 2, 0, 3] and z.tolist() == [2, 0, 15, 2] and ptr.tolist() == [0, 4]


@pytest.mark.parametrize("gap,expect_z", [(15, [15]), (16, [15, 0]), (31, [15, 15]), (32, [15, 15, 0])])
def test_padding_boundaries(gap, expect_z):
    column = np.array([0] * gap + [7])[:, None]
    _, v, z = fmt.encode_slice(column, max_run=15)
    assert z.tolist() == expect_z and v.tolist() == [0] * (len(expect_z) - 1) + [7]


def test_entry_and_word_layout_is_v_low_z_high():
    code = fmt.pack_entries(np.array([5]), np.array([9]), TINY)
    assert int(code[0]) == 5 | (9 << 4)
    assert [f for f, _ in fmt.entry_fields(TINY)] == ["v", "z"]


def layer(name, out_len, in_len, density, rng, relu=True):
    idx = rng.integers(1, 16, (out_len, in_len)) * (rng.random((out_len, in_len)) < density)
    cb = np.r_[0.0, rng.normal(size=15)]
    return fmt.QuantizedLayer(name, idx, cb, rng.normal(size=out_len), relu)


def test_capacity_errors_name_layer_and_sizes():
    rng = np.random.default_rng(0)
    with pytest.raises(fmt.CapacityError) as e:
        fmt.encode_network([layer("fc1", 8, 600, 0.5, rng)], TINY.replace(act_depth=512))
    assert "layer fc1" in str(e.value) and "601" in str(e.value) and "ptr_depth is 256" in str(e.value)
    with pytest.raises(fmt.CapacityError) as e:
        fmt.encode_network([layer("big", 200, 20, 0.5, rng)], TINY)
    assert "layer big" in str(e.value) and "need 50 activation slots" in str(e.value) and "act_depth is 32" in str(e.value)
    with pytest.raises(fmt.CapacityError) as e:
        fmt.encode_network([layer("dense", 120, 120, 1.0, rng)], TINY)
    assert "layer dense" in str(e.value) and "spmat_depth is 256 words" in str(e.value)
    with pytest.raises(fmt.CapacityError, match="holds 4"):
        fmt.encode_network([layer(f"l{i}", 4, 4, 0.5, rng) for i in range(5)], TINY)


def test_bad_layers_are_rejected():
    rng = np.random.default_rng(0)
    good = layer("fc", 4, 4, 0.5, rng)
    with pytest.raises(fmt.FormatError, match="codebook\\[0\\] must be the zero weight"):
        fmt.encode_layer(fmt.QuantizedLayer("fc", good.indices, np.r_[1.0, np.zeros(15)], good.bias), TINY)
    with pytest.raises(fmt.FormatError, match="NaN or Inf"):
        fmt.encode_layer(fmt.QuantizedLayer("fc", good.indices, good.codebook, np.r_[np.nan, 0, 0, 0]), TINY)
    with pytest.raises(fmt.FormatError, match="out range|out of range"):
        fmt.encode_layer(fmt.QuantizedLayer("fc", good.indices + 16, good.codebook, good.bias), TINY)
    with pytest.raises(fmt.FormatError, match="expects 5 inputs"):
        fmt.encode_network([good, layer("fc2", 3, 5, 0.5, rng)], TINY)


@st.composite
def matrices(draw):
    n_pe = draw(st.integers(1, 9))
    z_bits = draw(st.integers(1, 4))
    rows = draw(st.integers(1, 60))
    cols = draw(st.integers(1, 12))
    density = draw(st.sampled_from([0.0, 0.02, 0.1, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    idx = rng.integers(1, 16, (rows, cols)) * (rng.random((rows, cols)) < density)
    return n_pe, z_bits, idx


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(matrices())
def test_encode_then_decode_is_exact(case):
    n_pe, z_bits, idx = case
    cfg = TINY.replace(n_pe=n_pe, z_bits=z_bits, act_depth=64, ptr_depth=64, spmat_depth=4096)
    e = fmt.encode_layer(fmt.QuantizedLayer("p", idx, np.r_[0.0, np.arange(1, 16.0)], np.zeros(len(idx))), cfg)
    assert np.array_equal(fmt.decode_layer(e, n_pe), idx)
    for k in range(n_pe):
        assert e.ptr[k][-1] == len(e.v[k]) and np.all(e.z[k] <= cfg.max_run)
    # Entries = non-zeros + padding, and padding is exactly what long runs need.
    assert int(e.entries_per_pe.sum() - e.padding_per_pe.sum()) == int(np.count_nonzero(idx))
