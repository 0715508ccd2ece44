"""Cycle model of the RTL in hw/: predicts every layer's cycle count exactly.

The rules (docs/hw.md, "Timing") are a recurrence over the broadcasts of a layer, evaluated
with NumPy vectors across the PEs (one Python step per non-zero input, no per-entry loop).
Local time ``t = 0`` is the layer's LOAD cycle.

* Scanner: slot row ``r`` (inputs ``r*N .. r*N+N-1``) is read at START (t = 1) for r = 0 and
  in the cycle the previous row is finished; a row with ``m`` non-zeros is finished with its
  last broadcast, an all-zero row in the cycle it arrives. So broadcast ``i`` is offered at
  ``s_i = b_{i-1} + 1 + (zero rows between)`` (``b_{-1} = 1``, row ``-1``).
* Broadcast ``i`` happens at ``b_i = max(s_i, max_k p[k, i-D] + 1)``: a queue of depth D is
  full until the PE pops entry ``i - D`` (``amaranth.lib.fifo.SyncFIFO`` level rules).
* PE ``k`` pops broadcast ``i`` at ``p[k, i] = max(b_i + 1, p[k, i-1] + 1, c)``, where ``c``
  is the issue start of the C-th most recent non-empty column before it (its column queue of
  depth C must have room). ``e[k, i]`` is the column's entry count in that PE (padding
  included); an empty column is dropped after its pointer read. A non-empty column starts
  issuing at ``max(p + 2, end of the previous non-empty column)`` and issues ``e`` cycles.
* PE ``k`` is idle from ``start + e + 3`` after its last entry (arithmetic pipeline) or
  ``p + 2`` after an empty column. The scan is done after the last row (``E_scan``); the
  drain check passes at ``t_d = max(2, E_scan + 1, max idle)``; write-back then takes
  ``max(1, ceil(out_len / N))`` cycles, WB_FLUSH one more (a row is written two cycles after
  its write-back starts) and FINISH one more: cycles = ``t_d + max(1, R) + 3``.

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

__all__ = ["LayerTiming", "layer_timing", "network_timing", "lower_bound", "column_entries",
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


def layer_timing(cfg: EIEConfig, layer: fmt.EncodedLayer, x) -> LayerTiming:
    """Cycles of one layer on the RTL for the input vector ``x`` (fixed-point ints)."""
    N, D = cfg.n_pe, cfg.queue_depth
    in_len = min(layer.in_len, cfg.max_len)
    out_len = min(layer.out_len, cfg.max_len)
    x = np.asarray(x)[:in_len]
    nz = np.flatnonzero(x)
    M = len(nz)
    S = -(-in_len // N)
    R = -(-out_len // N)
    e = column_entries(layer, nz).T.copy() if M else np.zeros((0, N), np.int64)   # (M, N)
    rows = nz // N
    gaps = np.maximum(np.diff(np.concatenate([[-1], rows])) - 1, 0)

    C = timing.COLUMN_QUEUE_DEPTH
    b = np.zeros(M, np.int64)
    s = np.zeros(M, np.int64)
    p = np.zeros((M, N), np.int64)
    never = -(1 << 40)
    held = np.full((N, C), never, np.int64)     # per PE: the C latest ends of column-queue reservations
    free_at = np.zeros(N, np.int64)             # first cycle the issue stage is free
    idle = np.zeros(N, np.int64)
    lanes = np.arange(N)
    prev_b, prev_p = 1, np.full(N, never, np.int64)
    for i in range(M):
        si = prev_b + 1 + int(gaps[i])
        bi = si
        if i >= D:
            bi = max(bi, int(p[i - D].max()) + 1)
        s[i], b[i] = si, bi
        oldest = held.argmin(axis=1)
        pi = np.maximum(np.maximum(prev_p + 1, held[lanes, oldest]), bi + 1)
        p[i] = pi
        ei = e[i]
        ne = ei > 0
        start = np.maximum(pi + timing.ISSUE_AFTER_POP, free_at)
        free_at = np.where(ne, start + ei, free_at)
        # A non-empty column is held until its issue starts, an empty one until its drop.
        held[lanes, oldest] = np.maximum(held[lanes, oldest],
                                         np.where(ne, start, pi + timing.EMPTY_COLUMN_HOLD))
        np.maximum(idle, np.where(ne, start + ei + timing.ARITH_TAIL, pi + timing.EMPTY_COLUMN_TAIL),
                   out=idle)
        prev_b, prev_p = bi, pi

    last_row = int(rows[-1]) if M else -1
    scan_end = prev_b + (S - 1 - last_row)
    drain = max(2, scan_end + 1, int(idle.max()) if M else 0)
    cycles = drain + max(1, R) + timing.WB_FLUSH_CYCLES + 2

    busy = e.sum(axis=0) if M else np.zeros(N, np.int64)
    if M > D:
        stall = np.maximum(p[:M - D] + 1 - s[D:, None], 0).sum(axis=0)
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
