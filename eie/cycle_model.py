"""Cycle model of the RTL in hw/: predicts every layer's cycle count exactly.

The rules (docs/hw.md, "Timing") are a recurrence over the slot rows and broadcasts of a
layer, evaluated with NumPy vectors across the PEs (one Python step per row and per non-zero
input, no per-entry loop). Local time ``t = 0`` is the layer's LOAD cycle; every latency is
`eie.timing`'s, for the layer's PE count N (F = ``forward_stages(N)``, the CCU-to-PE delay).

* Scanner: slot row ``r`` is read at ``a_r = max(a_{r-1} + 1, d_{r-B} + 1)`` (``a_0 = 1``, at
  most B = ``row_buffer_depth`` rows ahead) and can be picked from ``a_r + row_latency``; it
  is consumed (``d_r``) with its last broadcast, an all-zero row one cycle after the row
  before it (not before it can be picked). A row's first non-zero is offered the cycle after
  the row before it is consumed and it can be picked; each next one the cycle after the
  previous broadcast.
* Broadcast ``i`` happens at ``b_i = max(s_i, max_k p[k, i-D] + credit_return + 1)``: the
  CCU's credit for PE ``k`` comes back ``credit_return`` cycles after its pop of ``i - D``.
* PE ``k`` pops broadcast ``i`` at ``p[k, i] = max(b_i + F + 1, p[k, i-1] + 1, c)``, where
  ``c`` is the C-th latest end of the column-queue reservations of the columns before it
  (C = ``column_queue_depth(N)``): a non-empty column holds its reservation until its issue starts,
  an empty one until ``p + empty_column_hold``. ``e[k, i]`` is the column's entry count in
  that PE (padding included). A non-empty column starts issuing at ``max(p +
  issue_after_pop, end of the previous non-empty column)`` and issues ``e`` cycles.
* PE ``k`` is idle from ``start + e + arith_tail`` after its last entry or ``p +
  empty_column_tail`` after an empty column; the CCU sees it ``reduce_stages`` later. The
  drain check passes at ``t_d = max(2, E_scan + 1, max idle + reduce_stages, b_last + F +
  reduce_stages)``; write-back then takes ``max(1, ceil(out_len / N))`` cycles, WB_FLUSH
  ``wb_flush_cycles`` more and FINISH one more: cycles = ``t_d + max(1, R) + wb_flush_cycles + 2``.

`batch_timing` runs the recurrence for several configs of one layer (what `eie explore`
sweeps); `layer_timing` is it with one config, so the rules exist once.
`layer_timing` also returns DESIGN.md's lower bound ``max(non-zero inputs, max over PEs of
entries in the columns of non-zero inputs)`` and the per-PE busy and stall counts that the
RTL's performance counters report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eie.config import EIEConfig
from eie import format as fmt
from eie import timing

__all__ = ["LayerTiming", "layer_timing", "batch_timing", "network_timing", "lower_bound", "column_entries",
           "CycleModel", "RunTiming"]


@dataclass
class LayerTiming:
    cycles: int            # the layer's cycles, as the RTL's layer_cycles counter reports
    bound: int             # DESIGN.md lower bound
    broadcasts: int        # non-zero inputs broadcast
    busy: np.ndarray       # per PE: entries issued (= busy_count)
    stall: np.ndarray      # per PE: cycles the broadcast waited on this PE's full queue
    scan_end: int          # E_scan
    drain: int             # t_d

    @property
    def ratio(self) -> float:
        return self.cycles / max(1, self.bound)


def column_entries(layer: fmt.EncodedLayer, cols: np.ndarray) -> np.ndarray:
    """(N, len(cols)) entry counts (padding included) of the given columns in every PE."""
    ptr = np.stack([np.asarray(p, np.int64) for p in layer.ptr])
    cols = np.asarray(cols, np.int64)
    return ptr[:, cols + 1] - ptr[:, cols]


def lower_bound(cfg: EIEConfig, layer: fmt.EncodedLayer, x) -> int:
    nz = np.flatnonzero(np.asarray(x)[:layer.in_len])
    e = column_entries(layer, nz)
    return int(max(len(nz), int(e.sum(axis=1).max()) if len(nz) else 0))


class _PEs:
    """The PEs' side of the recurrence, one broadcast at a time, vectorised over the PEs:
    pops (queue order, column-queue reservations), issue starts, idle times."""

    def __init__(self, n_pe: int):
        C = timing.column_queue_depth(n_pe)
        self.forward = timing.forward_stages(n_pe)
        self.issue_after_pop = timing.issue_after_pop(n_pe)
        self.empty_hold = timing.empty_column_hold(n_pe)
        self.arith_tail, self.empty_tail = timing.arith_tail(n_pe), timing.empty_column_tail(n_pe)
        self.lanes = np.arange(n_pe)
        self.held = np.full((n_pe, C), _NEVER, np.int64)   # the C latest reservation ends
        self.free_at = np.zeros(n_pe, np.int64)             # first cycle the issue stage is free
        self.idle = np.full(n_pe, _NEVER, np.int64)
        self.prev_p = np.full(n_pe, _NEVER, np.int64)

    def take(self, b: int, e: np.ndarray) -> np.ndarray:
        """Broadcast committed in cycle ``b`` with ``e`` entries per PE: returns its pops."""
        lanes, held = self.lanes, self.held
        oldest = held.argmin(axis=1)
        p = np.maximum(np.maximum(self.prev_p + 1, held[lanes, oldest]), b + self.forward + 1)
        ne = e > 0
        start = np.maximum(p + self.issue_after_pop, self.free_at)
        self.free_at = np.where(ne, start + e, self.free_at)
        # A non-empty column is held until its issue starts, an empty one until its drop.
        held[lanes, oldest] = np.maximum(held[lanes, oldest],
                                         np.where(ne, start, p + self.empty_hold))
        np.maximum(self.idle, np.where(ne, start + e + self.arith_tail, p + self.empty_tail),
                   out=self.idle)
        self.prev_p = p
        return p


_NEVER = -(1 << 40)


def layer_timing(cfg: EIEConfig, layer: fmt.EncodedLayer, x) -> LayerTiming:
    """Cycles of one layer on the RTL for the input vector ``x`` (fixed-point ints)."""
    in_len = min(layer.in_len, cfg.max_len)
    out_len = min(layer.out_len, cfg.max_len)
    x = np.asarray(x)[:in_len]
    nz = np.flatnonzero(x)
    e = column_entries(layer, nz).T.copy() if len(nz) else np.zeros((0, cfg.n_pe), np.int64)
    return _timing(e, nz, in_len, cfg.n_pe, cfg.queue_depth, out_len)


def batch_timing(counts: list, xs: list, n_pe: list, depth: list, out_len: list) -> list[LayerTiming]:
    """`layer_timing` of several configs of one layer.

    Config ``c`` has ``n_pe[c]`` PEs, queue depth ``depth[c]``, entries ``counts[c]`` of
    shape (n_pe, in_len) per PE and column (padding included, as `column_entries` or
    `eie.format.pattern_entries` give them), the device input ``xs[c]`` (in_len,) and
    ``out_len[c]`` outputs. The inputs must hold the same number of non-zeros (the same
    vector in each config's device order). Each config runs the one recurrence of
    `layer_timing` (its latencies depend on its PE count, `eie.timing`).
    """
    nz = [np.flatnonzero(np.asarray(x)) for x in xs]
    if any(len(n) != len(nz[0]) for n in nz):
        raise ValueError("every config of a batch needs the same number of non-zero inputs")
    out = []
    for c, n in enumerate(nz):
        N = int(n_pe[c])
        e = np.asarray(counts[c])[:, n].T.astype(np.int64) if len(n) else np.zeros((0, N), np.int64)
        out.append(_timing(e, n, len(xs[c]), N, int(depth[c]), int(out_len[c])))
    return out


def _timing(e: np.ndarray, nz: np.ndarray, in_len: int, N: int, D: int, out_len: int) -> LayerTiming:
    """The recurrence for one config: ``e`` (M, N) entries of each non-zero input's column in
    each PE, ``nz`` the non-zero inputs' indices, ``in_len`` inputs, N PEs, queue depth D."""
    M = len(nz)
    S = -(-in_len // N)
    R = -(-out_len // N)
    per_row = np.bincount(nz // N, minlength=S)
    F = timing.forward_stages(N)
    lat, depth = timing.row_latency(N), timing.row_buffer_depth(N)
    credit = timing.credit_return(N)

    b = np.zeros(M, np.int64)
    s = np.zeros(M, np.int64)
    p = np.zeros((M, N), np.int64)
    pes = _PEs(N)
    done = np.zeros(S, np.int64)          # the cycle each slot row is consumed
    read = timing.FIRST_ROW_READ - 1      # the last row read's cycle
    prev_done = timing.FIRST_ROW_READ
    i = 0
    for r in range(S):
        read = max(read + 1, done[r - depth] + 1 if r >= depth else timing.FIRST_ROW_READ)
        ready = read + lat                # the row can be picked from its buffer
        if per_row[r] == 0:
            prev_done = done[r] = max(prev_done + 1, ready)
            continue
        prev_b = max(prev_done, ready)    # so the row's first offer is in the cycle after
        for _ in range(int(per_row[r])):
            s[i] = prev_b + 1
            b[i] = s[i] if i < D else max(s[i], int(p[i - D].max()) + credit + 1)
            p[i] = pes.take(int(b[i]), e[i])
            prev_b = int(b[i])
            i += 1
        prev_done = done[r] = prev_b

    scan_end = int(done[S - 1]) if S else timing.FIRST_ROW_READ
    drain = max(2, scan_end + 1)
    if M:
        settle = F + timing.reduce_stages(N)
        drain = max(drain, int(pes.idle.max()) + timing.reduce_stages(N), int(b[-1]) + settle)
    cycles = drain + max(1, R) + timing.wb_flush_cycles(N) + 2

    busy = e.sum(axis=0) if M else np.zeros(N, np.int64)
    if M > D:
        stall = np.maximum(p[:M - D] + credit + 1 - s[D:, None], 0).sum(axis=0)
    else:
        stall = np.zeros(N, np.int64)
    bound = int(max(M, int(busy.max()) if M else 0))
    return LayerTiming(cycles=int(cycles), bound=bound, broadcasts=M, busy=busy.astype(np.int64),
                       stall=stall.astype(np.int64), scan_end=int(scan_end), drain=int(drain))


def network_timing(program: fmt.Program, x, inputs: list | None = None) -> list[LayerTiming]:
    """Timing of every layer of a network; each layer's input comes from the golden model
    (eie.golden) unless ``inputs`` (one vector per layer) is given."""
    if inputs is None:
        from eie.golden import GoldenModel
        outs = GoldenModel(program).run_layers(np.asarray(x, np.int64))
        inputs = [np.asarray(x, np.int64)] + list(outs[:-1])
    return [layer_timing(program.cfg, e, a) for e, a in zip(program.layers, inputs)]


@dataclass
class RunTiming:
    layers: list[list[LayerTiming]]     # per input vector, per layer
    total_cycles: np.ndarray            # per input vector: the RUN's cycles (sum over layers)


class CycleModel:
    """The cycle model of one network: a `Program` or `eie.images.Images`."""

    def __init__(self, source):
        self.program = source.program() if hasattr(source, "pe_memory") else source
        self.cfg = self.program.cfg

    def timing(self, x) -> list[LayerTiming]:
        return network_timing(self.program, np.asarray(x, np.int64))

    def layer_cycles(self, x) -> list[int]:
        """Cycles of every layer for one input vector (the RTL's layer_cycles counters)."""
        return [t.cycles for t in self.timing(x)]

    def run(self, x) -> RunTiming:
        """Timing of one input vector or a batch (rows)."""
        x = np.asarray(x, np.int64)
        xs = x[None, :] if x.ndim == 1 else x
        layers = [self.timing(v) for v in xs]
        return RunTiming(layers=layers, total_cycles=np.array([sum(t.cycles for t in ls) for ls in layers],
                                                              dtype=np.int64))

    cycles = run
