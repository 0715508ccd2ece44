"""Huffman coder: round trips (hypothesis), canonical tables, optimality bounds, bad bit strings."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from compress.huffman import (HuffmanCode, HuffmanError, encode, decode, entropy_bits, huffman_lengths,
                              pack_bits, unpack_bits)

streams = st.lists(st.integers(0, 255), max_size=400)


def prefix_free(codes):
    cs = sorted(codes.values())
    return all(not b.startswith(a) for a, b in zip(cs, cs[1:]))


@settings(max_examples=300, deadline=None)
@given(streams)
def test_round_trip_random_streams(symbols):
    code, bits = encode(symbols)
    assert decode(code, bits) == symbols
    assert len(bits) == code.encoded_bits(symbols)
    assert prefix_free(code.codes)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 255), st.integers(0, 300))
def test_round_trip_one_symbol_alphabet(symbol, n):
    symbols = [symbol] * n
    code, bits = encode(symbols)
    assert decode(code, bits) == symbols
    if n:
        assert code.codes == {symbol: "0"} and bits == "0" * n


def test_empty_input():
    code, bits = encode([])
    assert bits == "" and decode(code, bits) == [] and code.lengths == {}
    assert code.encoded_bits([]) == 0
    assert HuffmanCode.from_table(code.to_table(16), 16) == code


@settings(max_examples=150, deadline=None)
@given(streams, st.integers(0, 2 ** 32 - 1))
def test_skewed_streams_and_tables(symbols, seed):
    # Heavily skewed alphabets make deep codes; the stored table must rebuild the same code.
    rng = np.random.default_rng(seed)
    symbols = symbols + list(rng.geometric(0.3, size=rng.integers(0, 300)) % 256)
    code, bits = encode(symbols)
    assert decode(code, bits) == [int(s) for s in symbols]
    table = code.to_table(256)
    assert len(table) == code.table_bits(256)
    assert HuffmanCode.from_table(table, 256) == code


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 15), min_size=1, max_size=500))
def test_within_one_bit_of_entropy(symbols):
    # Huffman is optimal among prefix codes: H <= L < H + 1 bits per symbol (L = 1 for one symbol).
    code = HuffmanCode.from_symbols(symbols)
    n = len(symbols)
    h = entropy_bits(symbols) / n
    avg = code.encoded_bits(symbols) / n
    assert h - 1e-9 <= avg < h + 1 + 1e-9


def test_known_code():
    lengths = huffman_lengths({0: 45, 1: 13, 2: 12, 3: 16, 4: 9, 5: 5})   # CLRS example
    assert sum(lengths[s] * c for s, c in {0: 45, 1: 13, 2: 12, 3: 16, 4: 9, 5: 5}.items()) == 224
    assert lengths[0] == 1


def test_deterministic_ties():
    a = HuffmanCode.from_symbols([3, 1, 2, 0] * 5)
    b = HuffmanCode.from_symbols([0, 1, 2, 3] * 5)
    assert a.codes == b.codes == {0: "00", 1: "01", 2: "10", 3: "11"}


def test_bad_bit_strings():
    code = HuffmanCode.from_symbols([0, 0, 0, 1, 2])
    with pytest.raises(HuffmanError, match="ends inside a code"):
        code.decode(code.codes[1][:-1])
    with pytest.raises(HuffmanError, match="only '0' and '1'"):
        code.decode("0x")
    with pytest.raises(HuffmanError, match="symbol 7 is not in the code"):
        code.encode([7])
    one = HuffmanCode.from_symbols([5, 5])
    with pytest.raises(HuffmanError, match="not a code of this table"):
        one.decode("1")


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="01", max_size=100))
def test_pack_bits_round_trip(bits):
    data = pack_bits(bits)
    assert len(data) == math.ceil(len(bits) / 8)
    assert unpack_bits(data, len(bits)) == bits
