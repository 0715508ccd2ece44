"""Storage accounting for the report: how many bits the compressed model needs.

Deep Compression's storage format (not the EIE hardware's per-PE images, which
`report` accounts for separately) stores each layer as one stream of entries
``(v, z)`` over the weight matrix flattened column by column (``W.T.ravel()``, the
same column order EIE uses): ``v`` is the codebook index of a kept weight and ``z``
the number of zeros since the previous entry (a *relative index*, as in the paper).
Runs continue across column boundaries, so no column pointers are needed; a gap
longer than ``2**z_bits - 1`` is bridged by padding entries ``(v=0, z=2**z_bits-1)``.
Zeros after the last entry are implied by the known shape. The index width ``z_bits``
is chosen per layer (``INDEX_BITS_CHOICES``) to minimise the Huffman-coded size, like the
paper's per-layer-type widths (5 bits for its fully connected layers); a one-byte header
per layer records it.

`layer_storage` counts the bits at each stage (every layer also stores its biases as
32-bit floats in every form, and the codebook as 32-bit floats):

* dense: ``32 * weights``;
* pruned (P): ``entries * (32 + z_bits)``, float values plus relative indices;
* pruned + quantized (P+Q): ``entries * (v_bits + z_bits)`` plus the codebook;
* + Huffman (P+Q+H): the Huffman-coded v stream and z stream, measured by really
  encoding them (and decoding them back as a check), plus both code tables and the codebook.
"""

from __future__ import annotations

import numpy as np

from .huffman import HuffmanCode

__all__ = ["FLOAT_BITS", "INDEX_BITS_CHOICES", "relative_index_stream", "decode_relative_index_stream",
           "layer_storage", "best_index_bits"]

FLOAT_BITS = 32
INDEX_BITS_CHOICES = tuple(range(2, 11))
HEADER_BITS = 8   # per layer: the index width


def relative_index_stream(indices: np.ndarray, max_run: int) -> tuple[np.ndarray, np.ndarray]:
    """(v, z) entries of a codebook-index matrix, column-major, runs crossing columns."""
    flat = np.asarray(indices).T.ravel()
    pos = np.flatnonzero(flat)
    vals = flat[pos].astype(np.int64)
    gap = np.diff(np.concatenate([[-1], pos])) - 1
    step = max_run + 1
    pads = gap // step
    per = pads + 1
    v = np.zeros(int(per.sum()), np.int64)
    z = np.full(len(v), max_run, np.int64)
    ends = np.cumsum(per) - 1
    v[ends] = vals
    z[ends] = gap - pads * step
    return v, z


def decode_relative_index_stream(v, z, shape) -> np.ndarray:
    """Inverse of `relative_index_stream` for a matrix of ``shape`` (out, in)."""
    out_len, in_len = shape
    v = np.asarray(v, np.int64)
    pos = np.cumsum(np.asarray(z, np.int64) + 1) - 1
    if len(pos) and pos[-1] >= out_len * in_len:
        raise ValueError(f"entries run past the end of a {out_len}x{in_len} matrix")
    flat = np.zeros(out_len * in_len, np.int64)
    flat[pos] = v
    return flat.reshape(in_len, out_len).T


def _huffman(symbols: np.ndarray, alphabet: int) -> dict:
    code = HuffmanCode.from_symbols(symbols)
    bits = code.encode(symbols)
    # The figures below are only reported if the stream decodes back exactly.
    if code.decode(bits) != [int(s) for s in symbols]:
        raise AssertionError("Huffman round trip failed")
    table = code.to_table(alphabet)
    if HuffmanCode.from_table(table, alphabet) != code:
        raise AssertionError("Huffman table round trip failed")
    return {"bits": len(bits), "table_bits": len(table),
            "max_code_length": max(code.lengths.values(), default=0)}


def _coded_bits(indices: np.ndarray, v_bits: int, z_bits: int) -> int:
    v, z = relative_index_stream(indices, (1 << z_bits) - 1)
    cv, cz = HuffmanCode.from_symbols(v), HuffmanCode.from_symbols(z)
    return (cv.encoded_bits(v) + cz.encoded_bits(z) + cv.table_bits(1 << v_bits)
            + cz.table_bits(1 << z_bits))


def best_index_bits(indices: np.ndarray, v_bits: int, choices=INDEX_BITS_CHOICES) -> int:
    """The relative-index width with the fewest Huffman-coded bits (smallest on ties)."""
    indices = np.asarray(indices)
    return min(choices, key=lambda zb: (_coded_bits(indices, v_bits, zb), zb))


def layer_storage(indices: np.ndarray, n_codes_used: int, out_len: int, v_bits: int,
                  z_bits: int | None = None) -> dict:
    """Bits of one layer at every stage (see the module docstring).

    ``z_bits=None`` picks the index width with `best_index_bits`.
    """
    indices = np.asarray(indices)
    if z_bits is None:
        z_bits = best_index_bits(indices, v_bits)
    max_run = (1 << z_bits) - 1
    v, z = relative_index_stream(indices, max_run)
    entries = int(len(v))
    kept = int(np.count_nonzero(indices))
    weights = int(indices.size)
    bias_bits = FLOAT_BITS * out_len
    codebook_bits = FLOAT_BITS * n_codes_used
    hv = _huffman(v, 1 << v_bits)
    hz = _huffman(z, 1 << z_bits)
    dense = FLOAT_BITS * weights + bias_bits
    pruned = entries * (FLOAT_BITS + z_bits) + bias_bits + HEADER_BITS
    pq = entries * (v_bits + z_bits) + codebook_bits + bias_bits + HEADER_BITS
    pqh = (hv["bits"] + hz["bits"] + hv["table_bits"] + hz["table_bits"] + codebook_bits + bias_bits
           + HEADER_BITS)
    per_entry = max(entries, 1)
    return {
        "weights": weights, "kept": kept, "kept_pct": 100.0 * kept / weights,
        "entries": entries, "padding": entries - kept,
        "weight_bits_pq": v_bits, "weight_bits_pqh": hv["bits"] / per_entry,
        "index_bits_pq": z_bits, "index_bits_pqh": hz["bits"] / per_entry,
        "huffman_v_bits": hv["bits"], "huffman_z_bits": hz["bits"],
        "huffman_table_bits": hv["table_bits"] + hz["table_bits"], "header_bits": HEADER_BITS,
        "codebook_bits": codebook_bits, "bias_bits": bias_bits,
        "bits_dense": dense, "bits_pruned": pruned, "bits_pq": pq, "bits_pqh": pqh,
        "ratio_pruned": dense / pruned, "ratio_pq": dense / pq, "ratio_pqh": dense / pqh,
    }
