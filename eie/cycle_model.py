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

`batch_timing` runs the recurrence for several configs of one layer side by side (what
`eie explore` sweeps); `layer_timing` is it with one config, so the rules exist once.
`layer_timing` also returns DESIGN.md's lower bound ``max(non-zero inputs, max over PEs of
entries in the columns of non-zero inputs)`` and the per-PE busy and stall counts that the
RTL's performance counters report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eie.config import EIEConfig
from eie import format as fmt
from eie.timing import COLUMN_QUEUE_DEPTH

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


def layer_timing(cfg: EIEConfig, layer: fmt.EncodedLayer, x) -> LayerTiming:
    """Cycles of one layer on the RTL for the input vector ``x`` (fixed-point ints)."""
    in_len = min(layer.in_len, cfg.max_len)
    out_len = min(layer.out_len, cfg.max_len)
    counts = column_entries(layer, np.arange(in_len))
    return batch_timing([counts], [np.asarray(x)[:in_len]], [cfg.n_pe], [cfg.queue_depth], [out_len])[0]


def batch_timing(counts: list, xs: list, n_pe: list, depth: list, out_len: list) -> list[LayerTiming]:
    """`layer_timing` of several configs of one layer at once, their PEs side by side.

    Config ``c`` has ``n_pe[c]`` PEs, queue depth ``depth[c]``, entries ``counts[c]`` of
    shape (n_pe, in_len) per PE and column (padding included, as `column_entries` or
    `eie.format.pattern_entries` give them), the device input ``xs[c]`` (in_len,) and
    ``out_len[c]`` outputs. The inputs must hold the same number of non-zeros (the same
    vector in each config's device order): the recurrence then steps over the broadcasts
    once for every config. The exact model is this with one config.
    """
    nz = [np.flatnonzero(np.asarray(x)) for x in xs]
    M = len(nz[0])
    if any(len(n) != M for n in nz):
        raise ValueError("every config of a batch needs the same number of non-zero inputs")
    n_pe = np.asarray(n_pe, np.int64)
    # int32: entries of one column in one PE; (M, lanes) of a whole sweep stays small.
    e = np.concatenate([np.asarray(c)[:, n].T.reshape(M, N).astype(np.int32)
                        for c, n, N in zip(counts, nz, n_pe)], axis=1)
    rows = np.stack([n // k for n, k in zip(nz, n_pe)], axis=1) if M else np.zeros((0, len(n_pe)), np.int64)
    gaps = np.maximum(np.diff(np.vstack([np.full((1, len(n_pe)), -1), rows]), axis=0) - 1, 0)
    last_b, idle, stall = _broadcasts(e, gaps, n_pe, np.asarray(depth, np.int64))
    out = []
    lane = np.concatenate([[0], np.cumsum(n_pe)])
    for c, N in enumerate(n_pe):
        S = -(-len(xs[c]) // int(N))
        R = -(-int(out_len[c]) // int(N))
        last_row = int(rows[-1, c]) if M else -1
        scan_end = int(last_b[c]) + (S - 1 - last_row)
        drain = max(2, scan_end + 1, int(idle[c]) if M else 0)
        busy = e[:, lane[c]:lane[c + 1]].sum(axis=0, dtype=np.int64)
        out.append(LayerTiming(cycles=int(drain + max(1, R) + 3), bound=int(max(M, int(busy.max()) if M else 0)),
                               broadcasts=M, busy=busy.astype(np.int64),
                               stall=stall[lane[c]:lane[c + 1]].astype(np.int64),
                               scan_end=scan_end, drain=int(drain)))
    return out


def _broadcasts(e: np.ndarray, gaps: np.ndarray, n_pe: np.ndarray, depth: np.ndarray):
    """The recurrence of docs/hw.md ("Timing") over the broadcasts, rules 1-4, for configs
    side by side (config ``c`` owns the next ``n_pe[c]`` lanes of ``e``): NumPy vectors
    across the lanes, one Python step per non-zero input. ``e`` (M, lanes): entries of
    broadcast ``i`` in each lane's PE; ``gaps`` (M, configs): all-zero slot rows before it.

    Returns each config's last broadcast cycle and idle cycle, and each lane's stall count.
    """
    M, L = e.shape
    C = COLUMN_QUEUE_DEPTH
    never = -(1 << 40)
    starts = np.concatenate([[0], np.cumsum(n_pe)[:-1]])
    lane_cfg = np.repeat(np.arange(len(n_pe)), n_pe)
    D, Dmax = depth[lane_cfg], int(depth.max())
    lanes = np.arange(L)
    hist = np.full((Dmax, L), never, np.int64)  # pops of the last Dmax broadcasts (ring by i)
    ring = np.full((L, C), never, np.int64)     # issue start of each PE's last C non-empty columns
    count = np.zeros(L, np.int64)               # non-empty columns so far, per PE
    free_at = np.zeros(L, np.int64)             # first cycle the issue stage is free
    idle = np.zeros(L, np.int64)
    stall = np.zeros(L, np.int64)
    prev_b, prev_p = np.ones(len(n_pe), np.int64), np.full(L, never, np.int64)
    for i in range(M):
        si = prev_b + 1 + gaps[i]                              # 1. scanner offers it
        old = hist[(i - D) % Dmax, lanes]                      # p[k, i-D]: never while i < D
        bi = np.maximum(si, np.maximum.reduceat(old, starts) + 1)   # 2. every queue has room
        stall += np.maximum(old + 1 - si[lane_cfg], 0)
        slot = count % C
        pi = np.maximum(np.maximum(prev_p + 1, ring[lanes, slot]), bi[lane_cfg] + 1)   # 3. pop
        hist[i % Dmax] = pi
        ei = e[i]
        ne = ei > 0
        start = np.maximum(pi + 2, free_at)                    # 4. issue
        free_at = np.where(ne, start + ei, free_at)
        ring[lanes[ne], slot[ne]] = start[ne]
        count += ne
        np.maximum(idle, np.where(ne, start + ei + 3, pi + 2), out=idle)
        prev_b, prev_p = bi, pi
    return prev_b, np.maximum.reduceat(idle, starts), stall


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
