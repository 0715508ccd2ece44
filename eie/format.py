"""The EIE storage format: defined once, used by encoder, decoder, golden model and RTL.

A layer's weight matrix ``W`` (``out_len x in_len``) is held as codebook indices
(0 = the zero weight) plus a per-layer codebook. Rows are interleaved over the PEs:
PE ``k`` owns output rows ``i`` with ``i % n_pe == k`` (local row ``i // n_pe``) and the
input/output activation slots with the same rule. Each PE stores its slice column by
column (CSC) as (v, z) entries: ``v`` indexes the codebook, ``z`` counts the zeros since
the previous entry of this PE's slice of the column. A run longer than ``max_run`` is
bridged by padding entries ``(v=0, z=max_run)``. A per-PE pointer array of ``in_len + 1``
absolute entry addresses marks where each column starts and ends.

A layer may place its output rows elsewhere than row ``i`` in PE ``i % n_pe`` (balanced
encodings, `eie.balance`): ``out_positions[i]`` is the device row of model row ``i``, the
device length is padded to whole slot rows, and the next layer's columns follow the same
positions, so the hardware computes the same network on permuted vectors. `to_model_order`
brings device-order outputs back into the model's order.

Bit layouts (LSB first) are given as ordered field lists by `entry_fields`,
`layer_fields`; the Amaranth layouts in ``hw/`` are built from these same lists, and
the vectorised NumPy packers below use the same offsets. docs/format.md explains it all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .bits import field_offsets, fields_width
from .config import EIEConfig, bits_for
from .errors import EIEError
from . import numerics

__all__ = [
    "FormatError", "CapacityError", "QuantizedLayer", "EncodedLayer", "Program",
    "entry_fields", "layer_fields", "layer_word_bits",
    "encode_slice", "encode_layer", "decode_layer", "encode_network",
    "pack_entries", "unpack_entries", "padding_before", "pattern_entries",
    "rows_of_pe", "local_rows", "padded_len", "check_positions", "to_model_order", "model_matrix",
]


class FormatError(EIEError, ValueError):
    """Data that does not follow the storage format."""


class CapacityError(FormatError):
    """A model that the configuration's memories cannot hold."""


# ---- bit layouts ------------------------------------------------------------------------

def entry_fields(cfg: EIEConfig) -> list[tuple[str, int]]:
    """(name, width) of one sparse-matrix entry, LSB first."""
    return [("v", cfg.v_bits), ("z", cfg.z_bits)]


def layer_fields(cfg: EIEConfig) -> list[tuple[str, int]]:
    """(name, width) of one layer-table word, LSB first."""
    return [
        ("in_len", cfg.len_bits),
        ("out_len", cfg.len_bits),
        ("ptr_base", bits_for(cfg.ptr_depth - 1)),
        ("bias_base", bits_for(cfg.bias_depth - 1)),
        ("shift", cfg.shift_bits),
        ("relu", 1),
    ]


def layer_word_bits(cfg: EIEConfig) -> int:
    """Total width of one layer-table word."""
    return fields_width(layer_fields(cfg))


def pack_entries(v: np.ndarray, z: np.ndarray, cfg: EIEConfig) -> np.ndarray:
    """Entries to their integer encoding (v in the low bits, z above)."""
    off = field_offsets(entry_fields(cfg))
    return (np.asarray(v, np.int64) << off["v"][0]) | (np.asarray(z, np.int64) << off["z"][0])


def unpack_entries(codes: np.ndarray, cfg: EIEConfig) -> tuple[np.ndarray, np.ndarray]:
    off = field_offsets(entry_fields(cfg))
    codes = np.asarray(codes, np.int64)
    v = (codes >> off["v"][0]) & ((1 << cfg.v_bits) - 1)
    z = (codes >> off["z"][0]) & ((1 << cfg.z_bits) - 1)
    return v, z


# ---- row interleaving ------------------------------------------------------------------

def rows_of_pe(length: int, k: int, n_pe: int) -> int:
    """How many of ``length`` interleaved rows (or slots) PE ``k`` owns."""
    return max(0, (length - k + n_pe - 1) // n_pe)


def local_rows(length: int, n_pe: int) -> int:
    """The most rows any PE owns: ``ceil(length / n_pe)``."""
    return -(-length // n_pe)


def padded_len(length: int, n_pe: int) -> int:
    """Device length of a vector whose rows are placed freely: whole slot rows,
    ``n_pe * ceil(length / n_pe)`` (the slots no model row takes hold zeros)."""
    return n_pe * local_rows(length, n_pe)


def check_positions(positions, device_len: int, what: str = "positions") -> np.ndarray:
    """``positions`` as int64 after checking they are distinct device rows ``0 .. device_len-1``."""
    pos = np.asarray(positions)
    if pos.ndim != 1 or (pos.size and not np.issubdtype(pos.dtype, np.integer)):
        raise FormatError(f"{what} must be a list of integers")
    pos = pos.astype(np.int64)
    if pos.size and (pos.min() < 0 or pos.max() >= device_len):
        raise FormatError(f"{what} must lie in 0..{device_len - 1}")
    srt = np.sort(pos)
    if np.any(srt[1:] == srt[:-1]):
        raise FormatError(f"{what} place two rows in one device row")
    return pos


def to_model_order(y, positions):
    """Device-order outputs (last axis) in the model's order: ``y[..., positions]``
    (``positions=None``: the device order is the model's)."""
    y = np.asarray(y)
    return y if positions is None else y[..., np.asarray(positions, np.int64)]


# ---- padding ---------------------------------------------------------------------------

def padding_before(gap, max_run: int):
    """Padding entries a run of ``gap`` zero rows needs before the next stored entry: one
    ``(v=0, z=max_run)`` entry per ``max_run + 1`` rows bridged (a power of two: a shift)."""
    return np.asarray(gap) >> ((max_run + 1).bit_length() - 1)


def pattern_entries(rows, cols, device_rows, n_cols: int, n_pe: int, max_runs) -> np.ndarray:
    """Entries (padding included) of every (PE, column) from a sparsity pattern alone.

    ``rows, cols``: the non-zeros of a layer (model rows, device columns); ``device_rows``:
    the device row of each model row. Returns ``(len(max_runs), n_pe, n_cols)``, one slice
    per run-length limit, equal to the pointer differences `encode_layer` would write
    (tests/test_balance.py checks it); one sort serves every ``max_run``, and none is needed
    when no PE's slice is long enough to pad.
    """
    dev_rows = np.asarray(device_rows, np.int64)
    rows = np.asarray(rows)
    span = int(dev_rows.max()) // n_pe + 1 if len(dev_rows) else 1
    shift = max(1, (span - 1).bit_length())             # local row in the key's low bits
    # Per-row lookups instead of a division per non-zero; 32-bit keys when they fit.
    small = (n_pe * n_cols) << shift < (1 << 31)
    dt = np.int32 if small else np.int64
    group = (dev_rows % n_pe).astype(dt)[rows] * dt(n_cols) + np.asarray(cols).astype(dt)
    real = np.bincount(group, minlength=n_pe * n_cols)
    out = np.repeat(real[None, :].astype(np.int64), len(max_runs), axis=0)
    if all(span <= m + 1 for m in max_runs):
        return out.reshape(len(max_runs), n_pe, n_cols)
    key = np.sort((group << dt(shift)) | (dev_rows // n_pe).astype(dt)[rows])
    group, local = key >> shift, key & ((1 << shift) - 1)
    prev = np.concatenate([[-1], local[:-1]])
    prev[np.concatenate([[True], group[1:] != group[:-1]])] = -1
    gap = local - prev - 1
    for i, max_run in enumerate(max_runs):
        pads = padding_before(gap, max_run)
        some = pads > 0
        out[i] += np.bincount(group[some], weights=pads[some], minlength=n_pe * n_cols).astype(np.int64)
    return out.reshape(len(max_runs), n_pe, n_cols)


# ---- data classes ----------------------------------------------------------------------

@dataclass
class QuantizedLayer:
    """A compressed Linear layer as the compressor hands it to the encoder.

    ``indices[i, j]`` selects ``codebook[indices[i, j]]`` as ``W[i, j]``; index 0 is the
    zero weight, so ``codebook[0]`` must be 0. ``bias`` is float, ``relu`` applies after it.
    """

    name: str
    indices: np.ndarray   # (out_len, in_len) integer
    codebook: np.ndarray  # (2**v_bits,) float, codebook[0] == 0
    bias: np.ndarray      # (out_len,) float
    relu: bool = True

    @property
    def out_len(self) -> int:
        return int(self.indices.shape[0])

    @property
    def in_len(self) -> int:
        return int(self.indices.shape[1])

    def dense(self) -> np.ndarray:
        return np.asarray(self.codebook, np.float64)[self.indices]


@dataclass
class EncodedLayer:
    """One layer in the EIE format, numbers already in fixed point."""

    name: str
    in_len: int
    out_len: int
    shift: int                 # output shift = fractional bits of the codebook values
    relu: bool
    codebook: np.ndarray       # (codebook_size,) int64, fixed point with `shift` frac bits
    bias: np.ndarray           # (out_len,) int64, activation format
    ptr: list[np.ndarray]      # per PE: (in_len + 1,) entry addresses relative to the layer
    v: list[np.ndarray]        # per PE: codebook index of every entry (padding included)
    z: list[np.ndarray]        # per PE: zeros before every entry
    ptr_base: int = 0          # placement, filled by encode_network
    bias_base: int = 0
    entry_base: list[int] = field(default_factory=list)
    # Balanced encodings: the device row of each model output row / device column of each
    # model input (the previous layer's out_positions). None: row i is device row i.
    out_positions: np.ndarray | None = None
    in_positions: np.ndarray | None = None

    @property
    def model_out_len(self) -> int:
        return self.out_len if self.out_positions is None else len(self.out_positions)

    @property
    def model_in_len(self) -> int:
        return self.in_len if self.in_positions is None else len(self.in_positions)

    @property
    def entries_per_pe(self) -> np.ndarray:
        return np.array([len(v) for v in self.v], dtype=np.int64)

    @property
    def padding_per_pe(self) -> np.ndarray:
        return np.array([int(np.count_nonzero(v == 0)) for v in self.v], dtype=np.int64)


@dataclass
class Program:
    """A whole network in the EIE format, placed in the memories of one config."""

    cfg: EIEConfig
    layers: list[EncodedLayer]


# ---- encoding --------------------------------------------------------------------------

def encode_slice(idx: np.ndarray, max_run: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSC-encode one PE's slice (local rows x columns) of codebook indices.

    Returns ``(ptr, v, z)``: ``ptr`` has ``cols + 1`` entries relative to the slice.
    Vectorised: no Python loop over entries.
    """
    idx = np.asarray(idx)
    rows, cols = idx.shape
    # Non-zeros in column-major order.
    c_nz, r_nz = np.nonzero(idx.T)
    vals = idx[r_nz, c_nz].astype(np.int64)
    n = len(vals)
    # Gap before each non-zero: rows since the previous non-zero of the same column.
    prev_row = np.full(n, -1, dtype=np.int64)
    if n:
        same_col = np.zeros(n, dtype=bool)
        same_col[1:] = c_nz[1:] == c_nz[:-1]
        prev_row[1:] = np.where(same_col[1:], r_nz[:-1], -1)
    gap = r_nz - prev_row - 1
    step = max_run + 1
    pads = padding_before(gap, max_run)
    last_z = gap - pads * step
    # Each non-zero expands into `pads` padding entries then itself.
    per = pads + 1
    total = int(per.sum())
    v = np.zeros(total, dtype=np.int64)
    z = np.full(total, max_run, dtype=np.int64)
    ends = np.cumsum(per) - 1            # position of each real entry
    v[ends] = vals
    z[ends] = last_z
    counts = np.bincount(c_nz, weights=per, minlength=cols).astype(np.int64) if n else np.zeros(cols, np.int64)
    ptr = np.zeros(cols + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr, v, z


def _check_layer(q: QuantizedLayer, cfg: EIEConfig):
    idx = np.asarray(q.indices)
    if idx.ndim != 2 or idx.shape[0] < 1 or idx.shape[1] < 1:
        raise FormatError(f"layer {q.name}: indices must be a non-empty 2-D matrix, not shape {idx.shape}")
    if not np.issubdtype(idx.dtype, np.integer):
        raise FormatError(f"layer {q.name}: indices must be integers, not {idx.dtype}")
    if idx.min() < 0 or idx.max() >= cfg.codebook_size:
        raise FormatError(f"layer {q.name}: codebook index out of range 0..{cfg.codebook_size - 1}")
    cb = np.asarray(q.codebook, np.float64)
    if cb.shape != (cfg.codebook_size,):
        raise FormatError(f"layer {q.name}: codebook needs {cfg.codebook_size} entries, has {cb.shape}")
    if cb[0] != 0.0:
        raise FormatError(f"layer {q.name}: codebook[0] must be the zero weight, is {cb[0]}")
    bias = np.asarray(q.bias, np.float64)
    if bias.shape != (idx.shape[0],):
        raise FormatError(f"layer {q.name}: bias needs {idx.shape[0]} entries, has {bias.shape}")
    for what, arr in (("codebook", cb), ("bias", bias)):
        if not np.all(np.isfinite(arr)):
            raise FormatError(f"layer {q.name}: {what} contains NaN or Inf")


def encode_layer(q: QuantizedLayer, cfg: EIEConfig, out_positions=None, in_positions=None,
                 in_len: int | None = None, *, allow_loss: bool = False) -> EncodedLayer:
    """Encode one layer for the config's PE count (not yet placed in memory).

    ``out_positions`` (device row of each output row; the device length is then
    `padded_len`) and ``in_positions`` (device column of each input, ``in_len`` device
    columns) place the matrix in the device's order; None keeps the model's.

    A used codebook value that no shift holds (it would saturate, or a non-zero value
    would round to 0) raises `numerics.FixedPointError` unless ``allow_loss``. Biases
    saturate to the activation range by definition (docs/format.md); the compressor
    refuses that itself (`numerics.bias_problems`).
    """
    _check_layer(q, cfg)
    frac = numerics.choose_weight_frac(q.codebook, cfg)
    if not allow_loss:
        numerics.check_codebook(q.name, q.codebook, frac, cfg, used=np.unique(q.indices))
    idx, bias = np.asarray(q.indices), numerics.bias_to_fixed(q.bias, cfg)
    out_len = q.out_len if out_positions is None else padded_len(q.out_len, cfg.n_pe)
    in_len = q.in_len if in_positions is None else int(in_len)
    if out_positions is not None or in_positions is not None:
        rows = np.arange(q.out_len) if out_positions is None else \
            check_positions(out_positions, out_len, f"layer {q.name}: output positions")
        cols = np.arange(q.in_len) if in_positions is None else \
            check_positions(in_positions, in_len, f"layer {q.name}: input positions")
        if len(rows) != q.out_len or len(cols) != q.in_len:
            raise FormatError(f"layer {q.name}: positions for {len(rows)} x {len(cols)}, "
                              f"the matrix is {q.out_len} x {q.in_len}")
        idx = np.zeros((out_len, in_len), idx.dtype)
        idx[np.ix_(rows, cols)] = q.indices
        bias = np.zeros(out_len, np.int64)
        bias[rows] = numerics.bias_to_fixed(q.bias, cfg)
    ptrs, vs, zs = [], [], []
    for k in range(cfg.n_pe):
        ptr, v, z = encode_slice(idx[k::cfg.n_pe, :], cfg.max_run)
        ptrs.append(ptr); vs.append(v); zs.append(z)
    return EncodedLayer(name=q.name, in_len=in_len, out_len=out_len, shift=frac, relu=bool(q.relu),
                        codebook=numerics.codebook_to_fixed(q.codebook, frac, cfg), bias=bias,
                        ptr=ptrs, v=vs, z=zs,
                        out_positions=None if out_positions is None else np.asarray(out_positions, np.int64),
                        in_positions=None if in_positions is None else np.asarray(in_positions, np.int64))


def encode_network(layers: list[QuantizedLayer], cfg: EIEConfig, balance: bool = False,
                   column_weights: list | None = None, *, allow_loss: bool = False) -> Program:
    """Encode and place every layer; raise CapacityError naming what does not fit.

    ``balance``: place every layer's output rows with `eie.balance.balanced_positions`
    (each PE's entries evened out, padding included) instead of row ``i`` in PE
    ``i % n_pe``; each next layer's columns follow. ``column_weights`` (one array per layer,
    or None) weighs each input column by how often it is non-zero. ``allow_loss``: see
    `encode_layer` (default: refuse values the formats cannot hold).
    """
    if not layers:
        raise FormatError("a network needs at least one layer")
    if len(layers) > cfg.max_layers:
        raise CapacityError(f"the network has {len(layers)} layers; the config's layer table holds "
                            f"{cfg.max_layers} (max_layers)")
    for a, b in zip(layers, layers[1:]):
        if a.out_len != b.in_len:
            raise FormatError(f"layer {a.name} has {a.out_len} outputs but layer {b.name} "
                              f"expects {b.in_len} inputs")
    encoded, prev = [], None
    for i, q in enumerate(layers):
        pos = None
        if balance:
            from .balance import balanced_positions   # balance builds on this module
            _check_layer(q, cfg)
            pos = balanced_positions(q.indices, cfg.n_pe, cfg.max_run,
                                     None if column_weights is None else column_weights[i])
        e = encode_layer(q, cfg, pos, None if prev is None else prev.out_positions,
                         None if prev is None else prev.out_len,
                         allow_loss=allow_loss)
        encoded.append(e)
        prev = e
    place(encoded, cfg)
    return Program(cfg=cfg, layers=encoded)


def place(encoded: list[EncodedLayer], cfg: EIEConfig):
    """Assign memory bases to layers, checking every capacity."""
    ptr_base = bias_base = 0
    entry_base = np.zeros(cfg.n_pe, dtype=np.int64)
    for e in encoded:
        for what, length in (("inputs", e.in_len), ("outputs", e.out_len)):
            need = local_rows(length, cfg.n_pe)
            if need > cfg.act_depth:
                raise CapacityError(
                    f"layer {e.name}: {length} {what} need {need} activation slots per PE "
                    f"on {cfg.n_pe} PEs; act_depth is {cfg.act_depth}")
        e.ptr_base, e.bias_base = ptr_base, bias_base
        e.entry_base = [int(x) for x in entry_base]
        ptr_base += e.in_len + 1
        bias_base += local_rows(e.out_len, cfg.n_pe)
        entry_base += e.entries_per_pe
        if ptr_base > cfg.ptr_depth:
            raise CapacityError(
                f"layer {e.name}: column pointers need {ptr_base} entries per PE up to this layer; "
                f"ptr_depth is {cfg.ptr_depth}")
        if bias_base > cfg.bias_depth:
            raise CapacityError(
                f"layer {e.name}: biases need {bias_base} entries per PE up to this layer; "
                f"bias_depth is {cfg.bias_depth}")
        worst = int(entry_base.max())
        if worst > cfg.spmat_entries:
            need_words = -(-worst // cfg.entries_per_word)
            raise CapacityError(
                f"layer {e.name}: sparse-matrix entries need {need_words} words "
                f"({worst} entries) in PE {int(entry_base.argmax())} up to this layer; "
                f"spmat_depth is {cfg.spmat_depth} words ({cfg.spmat_entries} entries)")


# ---- decoding --------------------------------------------------------------------------

def decode_slice(ptr: np.ndarray, v: np.ndarray, z: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(local_row, column, v) of every entry in a PE's slice; padding entries included.

    Raises FormatError when an entry's row falls outside the slice.
    """
    ptr = np.asarray(ptr, np.int64)
    counts = np.diff(ptr)
    if np.any(counts < 0) or ptr[0] != 0 or ptr[-1] != len(v):
        raise FormatError("column pointers are not a non-decreasing run from 0 to the entry count")
    cols = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    steps = np.asarray(z, np.int64) + 1
    csum = np.cumsum(steps)
    # Running sum restarted at each column start.
    start_of_col = np.zeros(len(counts), dtype=np.int64)
    nonempty = counts > 0
    before = np.concatenate([[0], csum])[ptr[:-1]]
    start_of_col[nonempty] = before[nonempty]
    row = csum - start_of_col[cols] - 1
    if len(row) and (row.max() >= rows):
        raise FormatError(f"an entry lands on local row {int(row.max())}, past the slice's {rows} rows")
    return row, cols, np.asarray(v, np.int64)


def decode_layer(e: EncodedLayer, n_pe: int) -> np.ndarray:
    """Codebook-index matrix of an encoded layer in the device's order (out_len x in_len)."""
    idx = np.zeros((e.out_len, e.in_len), dtype=np.int64)
    for k in range(n_pe):
        rows_k = rows_of_pe(e.out_len, k, n_pe)
        r, c, v = decode_slice(e.ptr[k], e.v[k], e.z[k], rows_k)
        real = v != 0
        idx[r[real] * n_pe + k, c[real]] = v[real]
    return idx


def model_matrix(e: EncodedLayer, n_pe: int) -> np.ndarray:
    """Codebook-index matrix of an encoded layer in the model's order
    (model_out_len x model_in_len)."""
    idx = decode_layer(e, n_pe)
    rows = np.arange(e.out_len) if e.out_positions is None else e.out_positions
    cols = np.arange(e.in_len) if e.in_positions is None else e.in_positions
    return idx[np.ix_(rows, cols)]
