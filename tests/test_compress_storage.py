"""Storage accounting: the relative-index stream round-trips; the report's bits add up."""

import numpy as np
from hypothesis import given, settings, strategies as st

from compress.huffman import HuffmanCode
from compress.storage import (FLOAT_BITS, best_index_bits, decode_relative_index_stream, layer_storage,
                              relative_index_stream)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.floats(0.0, 1.0), st.integers(1, 6), st.integers(0, 2 ** 32 - 1))
def test_stream_round_trip(rows, cols, density, z_bits, seed):
    rng = np.random.default_rng(seed)
    idx = rng.integers(1, 16, (rows, cols)) * (rng.random((rows, cols)) < density)
    max_run = (1 << z_bits) - 1
    v, z = relative_index_stream(idx, max_run)
    assert z.max(initial=0) <= max_run and v.min(initial=1) >= 0
    assert np.count_nonzero(v) == np.count_nonzero(idx)
    assert np.array_equal(decode_relative_index_stream(v, z, idx.shape), idx)


def test_paper_example_padding():
    # DESIGN.md's example column [0,0,1,2,0 x 18,3] with 4-bit z: v = [1,2,0,3], z = [2,0,15,2].
    col = np.array([0, 0, 1, 2] + [0] * 18 + [3])[:, None]
    v, z = relative_index_stream(col, 15)
    assert v.tolist() == [1, 2, 0, 3] and z.tolist() == [2, 0, 15, 2]


def test_runs_cross_columns():
    idx = np.zeros((3, 2), np.int64)
    idx[2, 0] = 5   # column-major position 2
    idx[1, 1] = 7   # column-major position 4: one zero (row 0 of column 1) in between
    v, z = relative_index_stream(idx, 7)
    assert v.tolist() == [5, 7] and z.tolist() == [2, 1]


def test_layer_storage_adds_up():
    seed = 4
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(1, 16, (50, 80)) * (rng.random((50, 80)) < 0.1)
    s = layer_storage(idx, 15, 50, 4, 5)
    v, z = relative_index_stream(idx, 31)
    assert s["entries"] == len(v) and s["kept"] == np.count_nonzero(idx)
    assert s["bits_dense"] == FLOAT_BITS * (4000 + 50)
    assert s["bits_pq"] == len(v) * 9 + 15 * 32 + 50 * 32 + s["header_bits"]
    assert s["huffman_v_bits"] == HuffmanCode.from_symbols(v).encoded_bits(v)
    assert s["bits_pqh"] == (s["huffman_v_bits"] + s["huffman_z_bits"] + s["huffman_table_bits"]
                             + 15 * 32 + 50 * 32 + s["header_bits"])
    assert s["ratio_pqh"] == s["bits_dense"] / s["bits_pqh"]
    assert s["ratio_pqh"] > s["ratio_pq"] > s["ratio_pruned"] > 1


def test_best_index_bits_is_minimal():
    rng = np.random.default_rng(9)
    idx = rng.integers(1, 16, (100, 100)) * (rng.random((100, 100)) < 0.05)
    best = best_index_bits(idx, 4)
    sizes = {zb: layer_storage(idx, 15, 100, 4, zb)["bits_pqh"] for zb in range(2, 11)}
    assert sizes[best] == min(sizes.values())
    assert layer_storage(idx, 15, 100, 4)["index_bits_pq"] == best
