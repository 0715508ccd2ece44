"""The sweep: every grid point (config fields x encoding) on every layer, on the cycle model.

For each layer and PE count, the encodings' row positions (`eie.balance`, the encoder's own
function, so a point is exactly what `encode_network` would write) and the entries of every
(PE, column) (`eie.format.pattern_entries`, one sort for every run-length width) are
computed once; then one `eie.cycle_model.batch_timing` call steps through the layer's
broadcasts for every point at once. Entries per word change only the storage: the cycle
model has no word size in it (the RTL reads each word a cycle ahead; the regression checks
every packing it builds against the same model).

Per point and layer: cycles, DESIGN.md's bound, busy entries per PE (its imbalance), PE
utilisation (real multiply-accumulates over PE-cycles) and SRAM bits (`storage_bits`).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np

from eie import balance, format as fmt
from eie.config import EIEConfig, bits_for
from eie.cycle_model import batch_timing

from .source import Source

__all__ = ["Grid", "Point", "evaluate", "storage_bits", "ENCODINGS"]

ENCODINGS = ("plain", "balanced")


@dataclass(frozen=True)
class Grid:
    """The swept values; every combination is a point."""

    pes: tuple = (16, 32, 64, 128)
    depths: tuple = (8, 16, 32)
    z_bits: tuple = (4, 5, 6)
    entries_per_word: tuple = (8,)
    encodings: tuple = ENCODINGS

    def __post_init__(self):
        for name in ("pes", "depths", "z_bits", "entries_per_word", "encodings"):
            if not getattr(self, name):
                raise ValueError(f"the grid needs at least one value of {name}")
        bad = set(self.encodings) - set(ENCODINGS)
        if bad:
            raise ValueError(f"unknown encoding(s) {', '.join(sorted(bad))}: use {', '.join(ENCODINGS)}")

    @property
    def shape(self) -> tuple:
        return (len(self.pes), len(self.depths), len(self.z_bits), len(self.entries_per_word), len(self.encodings))

    def configs(self, base: EIEConfig):
        """(config, encoding) of every point; configs validated by `EIEConfig`."""
        for n, d, z, w, enc in itertools.product(self.pes, self.depths, self.z_bits,
                                                 self.entries_per_word, self.encodings):
            yield base.replace(n_pe=n, queue_depth=d, z_bits=z, entries_per_word=w), enc


@dataclass
class Point:
    """One config and encoding, with its figures per layer."""

    cfg: EIEConfig
    encoding: str
    layers: list[dict] = field(default_factory=list)

    @property
    def key(self) -> tuple:
        c = self.cfg
        return (c.n_pe, c.queue_depth, c.z_bits, c.entries_per_word, self.encoding)

    def total(self, what: str) -> float:
        return float(sum(l[what] for l in self.layers))

    def geomean(self, what: str) -> float:
        return math.exp(float(np.mean([math.log(l[what]) for l in self.layers])))

    def summary(self) -> dict:
        c = self.cfg
        out = {"n_pe": c.n_pe, "queue_depth": c.queue_depth, "z_bits": c.z_bits,
               "entries_per_word": c.entries_per_word, "entry_bits": c.entry_bits, "word_bits": c.word_bits,
               "encoding": self.encoding, "config_hash": c.hash,
               "cycles": int(self.total("cycles")), "bound": int(self.total("bound")),
               "sram_bits": int(self.total("sram_bits") + queue_bits(c, self.layers)),
               "queue_bits": int(queue_bits(c, self.layers)),
               "utilisation": self.total("macs") / max(1.0, sum(c.n_pe * l["cycles"] for l in self.layers)),
               "max_imbalance": max(l["imbalance"] for l in self.layers)}
        if all(l.get("ratio_to_eie") for l in self.layers):
            out["geomean_ratio_to_eie"] = self.geomean("ratio_to_eie")
        return out


def storage_bits(cfg: EIEConfig, entries_per_pe: np.ndarray, in_len: int) -> dict:
    """SRAM a layer needs on its own: every PE gets the busiest PE's sparse-matrix words
    (memories are alike) and ``in_len + 1`` pointers wide enough for its entry count."""
    words = int(-(-int(entries_per_pe.max()) // cfg.entries_per_word)) if len(entries_per_pe) else 0
    spmat = cfg.n_pe * words * cfg.word_bits
    ptr = cfg.n_pe * (in_len + 1) * bits_for(int(entries_per_pe.max()) if len(entries_per_pe) else 0)
    return {"spmat_bits": spmat, "ptr_bits": ptr, "sram_bits": spmat + ptr}


def queue_bits(cfg: EIEConfig, layers: list[dict]) -> int:
    """Activation queues: ``queue_depth`` (index, value) pairs per PE, indices wide enough
    for the longest input."""
    longest = max(l["in_len_device"] for l in layers)
    return cfg.n_pe * cfg.queue_depth * (bits_for(longest - 1) + cfg.act_bits)


# ---- one layer -------------------------------------------------------------------------

@dataclass
class _Encoded:
    """A layer under one (PE count, encoding, run-length width): what the points share."""

    positions: np.ndarray
    counts: np.ndarray         # (n_pe, in_len_device) entries incl. padding
    xs: np.ndarray             # (vectors, in_len_device) device-order inputs
    real: np.ndarray           # (vectors,) real multiply-accumulates of each vector


def _device_len(length: int, n_pe: int, enc: str) -> int:
    return length if enc == "plain" else fmt.padded_len(length, n_pe)


def _encode_layer(layer, prev: dict | None, n_pe: int, zs, enc: str, real: np.ndarray) -> dict:
    """Every run-length width's `_Encoded` of a layer for one PE count and encoding.
    ``prev``: the previous layer's (chained sources), whose positions move the columns;
    ``real``: each input vector's multiply-accumulates (non-zero weights in active columns)."""
    out = {}
    cols, in_len, xs = layer.cols, layer.in_len, layer.xs
    # One pattern count serves every width unless the previous layer's balanced positions
    # (one set per width) move this layer's columns.
    groups = [[z] for z in zs] if prev is not None and enc == "balanced" else [list(zs)]
    for group in groups:
        if prev is not None:               # the previous layer's positions move the columns
            p = prev[group[0]].positions
            cols, in_len = p[layer.cols], _device_len(len(p), n_pe, enc)
            xs = np.zeros((len(layer.xs), in_len), np.int64)
            xs[:, p] = layer.xs
        runs = [(1 << z) - 1 for z in group]
        if enc == "plain":
            pos = balance.interleaved_positions(layer.out_len)
            placed = [(pos, c) for c in fmt.pattern_entries(layer.rows, cols, pos, in_len, n_pe, runs)]
        else:
            # The encoder's own placement, its entry counts with it. Relabelled columns place
            # rows alike (padding is counted per column, whatever its number).
            placed = balance.balanced_placements(layer.rows, cols, (layer.out_len, in_len), n_pe, runs)
        for z, (pos, c) in zip(group, placed):
            out[z] = _Encoded(pos, c, xs, real)
    return out


def _layer_points(layer, encs: dict, grid: Grid, base: EIEConfig) -> dict:
    """Figures of every point on one layer: one batched cycle-model run per input vector."""
    keys = [(n, d, z, enc) for n in grid.pes for d in grid.depths for z in grid.z_bits for enc in grid.encodings]
    cycles = np.zeros(len(keys)); bound = np.zeros(len(keys))
    busy = [np.zeros(k[0]) for k in keys]
    for v in range(len(layer.xs)):
        ts = batch_timing([encs[n, enc][z].counts for n, d, z, enc in keys],
                          [encs[n, enc][z].xs[v] for n, d, z, enc in keys],
                          [n for n, *_ in keys], [d for _, d, *_ in keys],
                          [_device_len(layer.out_len, n, enc) for n, d, z, enc in keys])
        for i, t in enumerate(ts):
            cycles[i] += t.cycles; bound[i] += t.bound; busy[i] += t.busy
    out = {}
    for i, (n, d, z, enc) in enumerate(keys):
        e = encs[n, enc][z]
        entries = e.counts.sum(axis=1)
        for w in grid.entries_per_word:
            cfg = base.replace(n_pe=n, queue_depth=d, z_bits=z, entries_per_word=w)
            row = {"layer": layer.name, "cycles": int(cycles[i]), "bound": int(bound[i]),
                   "imbalance": balance.imbalance(busy[i]), "macs": int(e.real.sum()),
                   "utilisation": float(e.real.sum() / (n * cycles[i])),
                   "entries_max_pe": int(entries.max()), "entries_total": int(entries.sum()),
                   "padding_total": int(entries.sum() - layer.nnz), "in_len_device": int(e.counts.shape[1]),
                   **storage_bits(cfg, entries, e.counts.shape[1])}
            if layer.eie_cycles:
                row["ratio_to_eie"] = cycles[i] / (layer.eie_cycles * len(layer.xs))
            out[(n, d, z, w, enc)] = (cfg, enc, row)
    return out


def evaluate(source: Source, grid: Grid, progress: bool = True, log=print) -> tuple[list[Point], dict]:
    """Every grid point on every layer of ``source``; returns the points and the seconds
    spent (encoding, cycle model)."""
    points: dict[tuple, Point] = {}
    seconds = {"encode": 0.0, "cycles": 0.0}
    bar = None
    if progress:
        import sys
        from tqdm import tqdm
        bar = tqdm(total=len(source.layers) * 2, unit="step", desc="explore", dynamic_ncols=True, file=sys.stderr)
    prev = {}
    for layer in source.layers:
        if bar is not None:
            bar.set_postfix(layer=layer.name, refresh=False)
        t = time.perf_counter()
        real = (layer.xs[:, layer.cols] != 0).sum(axis=1)
        encs = {(n, enc): _encode_layer(layer, prev.get((n, enc)) if source.chained else None,
                                        n, grid.z_bits, enc, real)
                for n in grid.pes for enc in grid.encodings}
        seconds["encode"] += time.perf_counter() - t
        if bar is not None:
            bar.update(1)
        t = time.perf_counter()
        for key, (cfg, enc, row) in _layer_points(layer, encs, grid, source.cfg).items():
            points.setdefault(key, Point(cfg, enc)).layers.append(row)
        seconds["cycles"] += time.perf_counter() - t
        if bar is not None:
            bar.update(1)
        prev = encs
    if bar is not None:
        bar.close()
    return list(points.values()), {k: round(v, 2) for k, v in seconds.items()}
