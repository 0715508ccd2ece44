"""The RTL regression: run many `Case`s on Verilator builds, check them, summarise.

`run_cases(cases, out)` groups cases by config, builds each config once
(`sim.runner.get_build`, cached by hash), writes every case's images and inputs, and runs
them in batches through the cocotb testbench ``sim.tb.test_top``. The testbench checks
every output value against the golden model and every layer's cycle count against the
cycle model, and appends one JSON line per case to a results file, so progress shows while
the simulator runs (tqdm) and a crash loses nothing already finished.

`full_sweep()` is the sweep of `eie regression` (`make regression`): PE counts 1, 2, 4, 8,
16 at queue depths 1, 2, 8, and 64 PEs on the `eie` preset (depth 8; every depth with
``presets=False``); weight densities 1 % to 50 %; input densities 5 % to 100 %;
the odd shapes; multi-layer networks; every kind both with and without random idle cycles
and backpressure; balanced encodings (`eie.balance`) of the shapes where balancing changes
the most (ragged rows, multi-layer, long runs); and `WIDTH_CONFIGS`, entry and word widths
other than EIE's (run lengths of 3, 5, 6 and 8 bits, 7- to 12-bit entries, 28- to 80-bit words). `write_summary` leaves ``summary.md`` and ``summary.json`` in the output
folder. `lenet_cases` adds the compressed LeNet-300-100 on the MNIST test split.

Replay one case exactly (same generated network, same cycle pattern), with a waveform:
``eie regression --out out/replay --only NAME --seed SEED --waves``.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import defaultdict
from pathlib import Path

import numpy as np

from eie.atomic import atomic_write_text
from eie.config import PRESETS, EIEConfig
from .cases import Case, fits, regression_config

__all__ = ["run_cases", "full_sweep", "quick_sweep", "write_summary", "summarise", "TB_MODULE",
           "SWEEP_PES", "SWEEP_DEPTHS", "PRESET_PES", "WEIGHT_DENSITIES", "INPUT_DENSITIES",
           "WIDTH_CONFIGS", "BALANCED_KINDS", "scale_cases", "SCALE_KINDS", "scale_configs",
           "SCALE_PRESETS", "SCALE_DEPTH_CONFIGS", "SCALE_PES", "SCALE_ONLY"]

TB_MODULE = "sim.tb.test_top"

SWEEP_PES = (1, 2, 4, 8, 16, 64)
SWEEP_DEPTHS = (1, 2, 8)
# PE counts that run on a preset instead of at every queue depth: a 64-PE Verilator build
# takes 10-15 minutes on two busy cores, and the `eie` preset's build is the one LeNet and
# the EIE-layer benchmark need anyway. Queue depths are swept at 1-16 PEs.
PRESET_PES = {64: "eie"}
WEIGHT_DENSITIES = (0.01, 0.05, 0.1, 0.25, 0.5)
INPUT_DENSITIES = (0.05, 0.25, 0.5, 1.0)
ODD_KINDS = ("ragged_rows", "single_column", "zero_input", "zero_columns", "long_runs",
             "saturate", "multilayer")
# Balanced twins of these shapes run on every config: ragged rows leave slots no row takes,
# multi-layer chains positions through the act files, long runs pad.
BALANCED_KINDS = ("ragged_rows", "multilayer", "long_runs")
# (n_pe, queue_depth, entries_per_word, z_bits): entries and words of other widths than
# EIE's 8 and 64 bits (72 bits: two 36-bit block RAMs).
WIDTH_CONFIGS = ((4, 8, 8, 5), (16, 1, 4, 8), (2, 2, 4, 3), (8, 8, 8, 6))
# Configs the scale sweep (``per_config`` > 0) adds to the sweep's: the other presets (the
# boards' points, EIE's 256 PEs, the unit tests' `tiny`), and queue depth 16 (the most the
# ECP5's LUT RAM holds at the cost of depth 8) as (n_pe, queue_depth, entries_per_word,
# host_bits).
SCALE_PRESETS = ("eie_256", "ecp5", "ecp5_16pe", "ice40", "ice40_1pe", "tiny")
SCALE_DEPTH_CONFIGS = ((2, 16, 1, 8), (8, 16, 2, 32))
SCALE_PES = tuple(sorted(set(SWEEP_PES) | {PRESETS[p].n_pe for p in SCALE_PRESETS}))
# PE counts whose configs run only this many scale cases in the scale sweep (not the grid of
# `cases_for_config`): under the full testbench the 256-PE array simulates at 1-4 thousand
# cycles per second (a grid case of a thousand inputs takes minutes, a small scale case
# 10-40 s). The first two are the single-entry network and the full sparse matrix.
SCALE_ONLY = {256: 16}
STRESS = (0.3, 0.3)                 # (idle, backpressure) of stressed cases
BACKDOOR_ENTRIES = 20000            # cases with more stored entries load through the backdoor


# ---- the sweep -----------------------------------------------------------------------------

def _dims(rng, cfg: EIEConfig) -> int:
    """A random vector length: up to ten per PE (at least 24), at most the config's limit."""
    hi = min(cfg.max_len, max(24, 10 * cfg.n_pe))
    lo = min(hi, max(1, cfg.n_pe // 2))
    return int(rng.integers(lo, hi + 1))


def _epw_for(n_pe: int, depth: int) -> int:
    """Vary the word packing over the sweep too: 8 (EIE), 4, 2 and 1 entries per word (the
    hardware takes powers of two)."""
    i = (SWEEP_PES.index(n_pe) if n_pe in SWEEP_PES else 0) + \
        (SWEEP_DEPTHS.index(depth) if depth in SWEEP_DEPTHS else 0)
    return (8, 4, 2, 1)[i % 4]


def _host_bits_for(n_pe: int, depth: int) -> int:
    """Half the sweep's configs have the UART's 8-bit host port, half an SoC's 32 bits; the
    choice follows the word packing and the queue depth, so each width meets every PE count
    below 64, every depth and every packing (and the quick sweep has both)."""
    return (8, 32)[(_epw_for(n_pe, depth).bit_length() + (depth > 1)) % 2]


def sweep_configs(pes=SWEEP_PES, depths=SWEEP_DEPTHS, presets: bool = True) -> list[EIEConfig]:
    """The sweep's configs: every PE count at every queue depth, except that PE counts in
    `PRESET_PES` run on their preset alone when ``presets`` is true."""
    out = []
    for n in pes:
        if presets and n in PRESET_PES:
            out.append(PRESETS[PRESET_PES[n]])
        else:
            out += [regression_config(n, d, entries_per_word=_epw_for(n, d), host_bits=_host_bits_for(n, d))
                    for d in depths]
    return out + width_configs(pes, depths)


def width_configs(pes=SWEEP_PES, depths=SWEEP_DEPTHS) -> list[EIEConfig]:
    """`WIDTH_CONFIGS` whose PE count and queue depth are swept (8-bit host port)."""
    return [regression_config(n, d, entries_per_word=w, z_bits=z) for n, d, w, z in WIDTH_CONFIGS
            if n in pes and d in depths]


def scale_configs(pes=SCALE_PES) -> list[EIEConfig]:
    """The configs the scale sweep adds (`SCALE_PRESETS`, `SCALE_DEPTH_CONFIGS`) whose PE
    count is in ``pes``."""
    out = [PRESETS[p] for p in SCALE_PRESETS]
    out += [regression_config(n, d, entries_per_word=w, host_bits=h) for n, d, w, h in SCALE_DEPTH_CONFIGS]
    return [c for c in out if c.n_pe in pes]


def cases_for_config(cfg: EIEConfig, seed: int, full_grid: bool = True) -> list[Case]:
    """The sweep's cases on one config: the density grid, then every odd shape clean and stressed."""
    # EIE's 4-bit run lengths draw as they always did (a replay seed keeps its case).
    rng = np.random.default_rng([seed, cfg.n_pe, cfg.queue_depth] + ([cfg.z_bits] if cfg.z_bits != 4 else []))
    tag = f"pe{cfg.n_pe}-q{cfg.queue_depth}-w{cfg.entries_per_word}" + \
        (f"-z{cfg.z_bits}" if cfg.z_bits != 4 else "")
    out: list[Case] = []
    k = 0

    def add(name, **kw):
        nonlocal k
        stressed = kw.pop("stressed")
        case = Case(name=f"{tag}/{name}" + ("/stress" if stressed else ""), cfg=cfg,
                    seed=int(rng.integers(1 << 31)),
                    idle=STRESS[0] if stressed else 0.0,
                    backpressure=STRESS[1] if stressed else 0.0, **kw)
        k += 1
        out.append(case)

    grid = [(w, x) for w in WEIGHT_DENSITIES for x in INPUT_DENSITIES]
    for i, (wd, xd) in enumerate(grid):
        if not full_grid and i % 3:
            continue
        shape = [_dims(rng, cfg), _dims(rng, cfg)]
        # Half the grid runs stressed; which half alternates with the config.
        stressed = (i + cfg.n_pe + cfg.queue_depth) % 2 == 1
        add(f"random-w{wd:g}-x{xd:g}", kind="random", shape=shape, weight_density=wd,
            input_density=xd, n_vectors=2, stressed=stressed)
    n = cfg.n_pe
    odd = {
        "ragged_rows": dict(shape=[_dims(rng, cfg), (int(rng.integers(1, 6)) * n + int(rng.integers(1, n)) if n > 1 else 7)],
                            weight_density=0.3, input_density=0.6),
        "single_column": dict(shape=[1, _dims(rng, cfg)], weight_density=0.7, input_density=1.0),
        "zero_input": dict(shape=[_dims(rng, cfg), _dims(rng, cfg)], weight_density=0.3, input_density=0.0),
        "zero_columns": dict(shape=[_dims(rng, cfg), _dims(rng, cfg)], weight_density=0.3, input_density=0.8),
        "long_runs": dict(shape=[_dims(rng, cfg), min(cfg.max_len, max(20 * n, 40 * n if n < 8 else 24 * n))],
                          weight_density=0.02, input_density=0.7),
        "saturate": dict(shape=[_dims(rng, cfg), _dims(rng, cfg)], weight_density=0.5, input_density=0.8),
        "multilayer": dict(shape=[_dims(rng, cfg) for _ in range(min(cfg.max_layers, 4) + 1)],
                           weight_density=0.2, input_density=0.5),
    }
    for kind in ODD_KINDS:
        for stressed in (False, True):
            add(kind, kind=kind if kind != "multilayer" else "random", n_vectors=2,
                stressed=stressed, **odd[kind])
            if kind == "multilayer":
                out[-1].tags["multilayer"] = True
    for i, kind in enumerate(BALANCED_KINDS):
        add(f"{kind}-balanced", kind=kind if kind != "multilayer" else "random", n_vectors=2,
            stressed=(i + cfg.n_pe) % 2 == 1, balance=True, **odd[kind])
        if kind == "multilayer":
            out[-1].tags["multilayer"] = True
    for c in out:
        if fits(c) is not None:
            raise ValueError(f"sweep case {c.name} does not fit its config: {fits(c)}")
        c.load = "backdoor" if _entries(c) > BACKDOOR_ENTRIES else "protocol"
    return out


def _entries(case: Case) -> int:
    # A cheap estimate of the stored entries (the protocol load time is proportional).
    s = case.shape
    return int(sum(a * b for a, b in zip(s[:-1], s[1:])) * max(case.weight_density, 0.02))


SCALE_KINDS = ("random", "random", "random", "ragged_rows", "zero_columns", "long_runs", "saturate",
               "single_column", "zero_input")


SCALE_MAX_LEN = 2048


def _loguniform(rng, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else float(lo)


def scale_cases(cfg: EIEConfig, seed: int, n: int, start: int = 0) -> list[Case]:
    """``n`` random cases on ``cfg`` (named ``<tag>/scale-NNNNN``), for sweeps of thousands of
    cases: a kind from `SCALE_KINDS` (a tenth of them balanced, a tenth multi-layer), layer
    lengths log-uniform from 1 up to the config's limits (``max_len`` outputs, inputs up to
    what the column pointers hold; at most `SCALE_MAX_LEN`), weight density log-uniform from 0.5 % to 100 %; a draw
    that does not fit is thinned (density x 0.9) or shortened until it does, so the large ones end near
    full memories. The first case of a config is the single-entry network (1 x 1, one
    weight), the second the largest single layer whose entries fit. Half of them run
    stressed (idle and backpressure 0.3). Each case is a function of (seed, config, index)."""
    tag = f"pe{cfg.n_pe}-q{cfg.queue_depth}-w{cfg.entries_per_word}" + \
        (f"-z{cfg.z_bits}" if cfg.z_bits != 4 else "") + (f"-h{cfg.host_bits}" if cfg.host_bits != 8 else "")
    # The generator draws dense index matrices: lengths stop at SCALE_MAX_LEN (on the sweep's
    # configs their limits are lower; the 32768-long vectors of the `eie` preset are not
    # drawn in full).
    max_out = min(cfg.max_len, SCALE_MAX_LEN)
    max_in = max(1, min(cfg.max_len, cfg.ptr_depth - 1, SCALE_MAX_LEN))
    out = []
    for k in range(start, start + n):
        rng = np.random.default_rng([seed, 7919, cfg.n_pe, cfg.queue_depth, cfg.entries_per_word,
                                     cfg.z_bits, cfg.host_bits, k])
        stressed = k % 2 == 1
        multilayer = k >= 2 and rng.random() < 0.1
        if k == 0:
            kind, shape, wd, xd = "random", [1, 1], 1.0, 1.0
        elif k == 1:
            shape = [max_in, max_out]
            kind, xd = "random", 0.5
            wd = min(1.0, 1.02 * cfg.spmat_entries * cfg.n_pe / (max_in * max_out))
        else:
            kind = str(rng.choice(SCALE_KINDS))
            layers = int(rng.integers(2, min(cfg.max_layers, 4) + 1)) if multilayer else 1
            shape = [int(round(_loguniform(rng, 1, max_in)))] + \
                [int(round(_loguniform(rng, 1, max_out))) for _ in range(layers)]
            if multilayer:              # later layers' inputs are earlier outputs: keep them in range
                shape = [shape[0]] + [min(s, max_in) for s in shape[1:-1]] + [shape[-1]]
            wd, xd = _loguniform(rng, 0.005, 1.0), float(rng.choice([0.05, 0.25, 0.5, 1.0]))
        if kind == "single_column":
            shape = [1] + shape[1:]
        case = Case(name=f"{tag}/scale-{k:05d}" + ("/stress" if stressed else ""), cfg=cfg, kind=kind,
                    shape=shape, weight_density=round(wd, 5), input_density=xd,
                    n_vectors=int(rng.integers(1, 4)), seed=int(rng.integers(1 << 31)),
                    idle=STRESS[0] if stressed else 0.0, backpressure=STRESS[1] if stressed else 0.0,
                    balance=k >= 2 and kind in BALANCED_KINDS and rng.random() < 0.3)
        if multilayer:
            case.tags["multilayer"] = True
        case.tags["scale"] = True
        for _ in range(40):
            why = fits(case)
            if why is None:
                break
            if "sparse-matrix" in why:
                case.weight_density = round(case.weight_density * 0.9, 6)
            else:                       # a length or pointer limit: shorten the longest layer
                i = int(np.argmax(case.shape))
                case.shape[i] = max(1, case.shape[i] * 3 // 4)
        else:
            raise ValueError(f"scale case {case.name} never fit its config: {why}")
        case.load = "backdoor" if _entries(case) > BACKDOOR_ENTRIES else "protocol"
        out.append(case)
    return out


def full_sweep(seed: int = 1, pes=SWEEP_PES, depths=SWEEP_DEPTHS, presets: bool = True,
               per_config: int = 0) -> list[Case]:
    """Every case of `make regression` except LeNet (see `lenet_cases`). ``per_config``: add
    the configs of `scale_configs` (unless ``presets`` is false) and `scale_cases` until
    every config has at least that many cases (the largest, `SCALE_ONLY`, run scale cases
    alone)."""
    cases = []
    # The grid runs every PE count asked for, except that the scale sweep's own PE counts
    # (32 and 256: their presets) come from `scale_configs` alone.
    grid_pes = tuple(p for p in pes if p in SWEEP_PES or not per_config or p not in SCALE_PES)
    configs = sweep_configs(grid_pes, depths, presets)
    if per_config and presets:
        configs += scale_configs(pes)
    for cfg in configs:
        if per_config and cfg.n_pe in SCALE_ONLY:
            cases += scale_cases(cfg, seed, SCALE_ONLY[cfg.n_pe])
            continue
        mine = cases_for_config(cfg, seed)
        if per_config > len(mine) + 1:
            mine += scale_cases(cfg, seed, per_config - len(mine) - 1)   # + its backdoor twin below
        cases += mine
    # One backdoor-loaded twin of a protocol case per config shows the two load paths agree.
    twins = []
    for c in cases:
        if c.kind == "random" and c.load == "protocol" and "random-w0.1-x0.5" in c.name:
            twin = Case.from_dict(c.to_dict())
            twin.name, twin.load = c.name + "/backdoor", "backdoor"
            twins.append(twin)
    return cases + twins


def quick_sweep(seed: int = 1) -> list[Case]:
    """A small sweep (a few minutes): 1, 4 and 16 PEs at depths 1 and 8, a third of the grid."""
    cases = []
    for cfg in sweep_configs((1, 4, 16), (1, 8)):
        cases += cases_for_config(cfg, seed, full_grid=False)
    return cases


# ---- running ------------------------------------------------------------------------------

def _batches(cases: list[Case], max_cases: int = 12) -> list[list[Case]]:
    out, cur = [], []
    for c in cases:
        cur.append(c)
        if len(cur) >= max_cases:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


def run_cases(cases: list[Case], out: Path, *, jobs: int = 1, waves: bool = False,
              progress: bool = True, strict_cycles: bool = True, max_batch: int = 12,
              plusargs: list[str] | None = None, engine=None) -> list[dict]:
    """Run ``cases``; return one result record per case (also in ``out/results.jsonl``).

    ``engine`` (`sim.engine`) says where the batches run: by default ``jobs`` threads of
    this process; `sim.engine.DaskEngine` on a Dask cluster. Either way each config is
    built once (cached, locked) and its cases run in batches of at most ``max_batch``."""
    from . import runner
    from .engine import ThreadEngine

    out = Path(out).resolve()          # the simulator runs in its own folder: no relative paths
    out.mkdir(parents=True, exist_ok=True)
    by_cfg: dict[str, list[Case]] = defaultdict(list)
    cfgs: dict[str, EIEConfig] = {}
    for c in cases:
        by_cfg[c.cfg.hash].append(c)
        cfgs[c.cfg.hash] = c.cfg
    results: dict[str, dict] = {}
    lock = threading.Lock()
    wave_kind = runner.waves_from_env() or "fst" if waves else None

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(cases), unit="case", desc="regression", dynamic_ncols=True,
                   file=sys.stderr)

    def record(res: dict):
        with lock:
            if res["name"] in results:
                return
            results[res["name"]] = res
            if bar is not None:
                bar.update(1)
                fails = sum(r["status"] != "pass" for r in results.values())
                bar.set_postfix(fail=fails, refresh=False)

    order = sorted(by_cfg, key=lambda h: -sum(_entries(c) + 2000 for c in by_cfg[h]))
    groups = []
    for h in order:
        specs = [{"cfg": cfgs[h].to_dict(), "cases": [c.to_dict() for c in batch], "out": str(out),
                  "batch": f"batch{bi:03d}", "strict_cycles": strict_cycles, "waves": wave_kind,
                  "plusargs": list(plusargs or [])}
                 for bi, batch in enumerate(_batches(by_cfg[h], max_batch))]
        groups.append((cfgs[h].to_dict(), specs))
    own = engine is None
    engine = engine or ThreadEngine(jobs)
    try:
        builds = engine.run(groups, record, waves=wave_kind)
    finally:
        if own:
            engine.close()
        if bar is not None:
            bar.close()
    ordered = [results.get(c.name) or _error_record(c, "no result from the engine") for c in cases]
    with open(out / "results.jsonl", "w") as f:
        for r in ordered:
            f.write(json.dumps(r) + "\n")
    atomic_write_text(out / "builds.json", json.dumps(builds, indent=1, sort_keys=True) + "\n")
    return ordered


def _error_record(case: Case, message: str, status: str = "error") -> dict:
    from .engine import error_record
    return error_record(case, message, status)


# ---- the summary --------------------------------------------------------------------------

def _describe(r: dict) -> str:
    """A case record's config as the summary names it: PEs, queue depth, entries per word
    (and z bits)."""
    return f"{r['n_pe']} PE, q{r['queue_depth']}, {r['entries_per_word']}/word" + \
        (f", z{r['z_bits']}" if r.get("z_bits", 4) != 4 else "")


def _config_labels(results: list[dict]) -> list[str]:
    """Each record's `_describe`, with its config hash where two configs read the same."""
    hashes = defaultdict(set)
    for r in results:
        hashes[_describe(r)].add(r.get("config_hash"))
    return [_describe(r) + (f" ({r.get('config_hash')})" if len(hashes[_describe(r)]) > 1 else "")
            for r in results]


def summarise(results: list[dict]) -> dict:
    """Totals, cycle error statistics and per-config counts."""
    n = len(results)
    by_status = defaultdict(int)
    for r in results:
        by_status[r["status"]] += 1
    layer_rows = [l for r in results for l in r.get("layers", [])]
    errs = [l["rtl"] - l["model"] for l in layer_rows if l.get("model") is not None]
    ratios = [l["rtl"] / l["bound"] for l in layer_rows if l.get("bound")]
    per_cfg = defaultdict(lambda: {"cases": 0, "pass": 0})
    for r, key in zip(results, _config_labels(results)):
        per_cfg[key]["cases"] += 1
        per_cfg[key]["pass"] += r["status"] == "pass"
    return {
        "cases": n,
        "status": dict(by_status),
        "passed": by_status.get("pass", 0),
        "values_checked": int(sum(r.get("values_checked") or 0 for r in results)),
        "vectors": int(sum(r.get("vectors") or 0 for r in results)),
        "layer_runs": len(layer_rows),
        "cycle_error": {
            "checked": len(errs),
            "exact": int(sum(e == 0 for e in errs)),
            "max_abs": int(max((abs(e) for e in errs), default=0)),
            "mean_abs": float(np.mean(np.abs(errs))) if errs else 0.0,
            "max_rel": float(max((abs(l["rtl"] - l["model"]) / max(1, l["model"]) for l in layer_rows
                                  if l.get("model") is not None), default=0.0)),
        },
        "rtl_over_bound": {
            "mean": float(np.mean(ratios)) if ratios else None,
            "max": float(np.max(ratios)) if ratios else None,
        },
        "per_config": dict(per_cfg),
        "balanced": {"cases": sum(bool(r.get("balance")) for r in results),
                     "passed": sum(bool(r.get("balance")) and r["status"] == "pass" for r in results)},
    }


def _fmt_shape(shape) -> str:
    return "×".join(str(s) for s in shape)


def write_summary(results: list[dict], out: Path, title: str = "RTL regression",
                  extra: dict | None = None, seed: int | None = None) -> dict:
    """``summary.json`` and ``summary.md`` in ``out``; returns the summary."""
    out = Path(out)
    s = summarise(results)
    if extra:
        s.update(extra)
    s["seed"] = seed
    atomic_write_text(out / "summary.json", json.dumps({"summary": s, "cases": results}, indent=1) + "\n")
    ce = s["cycle_error"]
    lines = [f"# {title}", "",
             f"{s['cases']} cases, **{s['passed']} passed**"
             + "".join(f", {v} {k}" for k, v in sorted(s["status"].items()) if k != "pass")
             + f"; {s['vectors']} input vectors, {s['values_checked']} output values checked bit for bit.", "",
             f"Cycle check ({ce['checked']} layer runs): {ce['exact']} exact, max |RTL - model| = "
             f"{ce['max_abs']} cycles, mean |error| = {ce['mean_abs']:.3g}, max relative {ce['max_rel']:.3g}."]
    if s["balanced"]["cases"]:
        lines.append(f"Balanced encodings: {s['balanced']['passed']} of {s['balanced']['cases']} cases passed.")
    if s["rtl_over_bound"]["mean"] is not None:
        lines.append(f"RTL cycles / lower bound: mean {s['rtl_over_bound']['mean']:.3f}, "
                     f"max {s['rtl_over_bound']['max']:.3f}.")
    if s.get("wall_seconds"):
        lines.append(f"Wall time {s['wall_seconds']:.0f} s on {s.get('engine', '?')} ({s.get('scheduler', '')}): "
                     f"{s.get('cases_per_hour') or 0:.0f} cases per hour.")
    b = s.get("builds")
    if b:
        made = [v for v in b.values() if v.get("built")]
        lines.append(f"Verilator builds: {len(b)} configs, {len(made)} built in this run "
                     f"({sum(v.get('build_seconds', 0) for v in made):.0f} s of builds), the rest from the cache.")
    if seed is not None:
        lines.append(f"Sweep seed {seed}.")
    for name, a in (s.get("lenet") or {}).items():
        acc = f"{a['accuracy_pct']:.2f} %" if a["accuracy_pct"] is not None else "n/a"
        lines.append(f"LeNet-300-100 on `{name}`: {a['images']} MNIST test images classified by the RTL, "
                     f"{a['parts_passed']} of {a['parts']} parts bit-exact with the golden model; "
                     f"accuracy of the RTL's outputs {acc}.")
    for name, a in (s.get("cnn") or {}).items():
        acc = f"{a['accuracy_pct']:.2f} %" if a["accuracy_pct"] is not None else "n/a"
        cyc = (f"; {a['cycles_per_image']:.0f} device cycles per image (clean parts), of which "
               f"{a['array_cycles_per_image']:.0f} in RUNs ({100 * a['host_share']:.1f} % host traffic), "
               f"{a['runs'] / max(1, a['images']):.0f} RUNs per image" if a["cycles_per_image"] else "")
        lines.append(f"Conv net {name}: {a['images']} MNIST test images through the RTL, {a['parts_passed']} of "
                     f"{a['parts']} parts bit-exact with the golden model (every RUN checked); accuracy of the "
                     f"RTL's outputs {acc}{cyc}.")
    lines += ["", "| config | cases | pass |", "|---|---|---|"]
    for k, v in s["per_config"].items():
        lines.append(f"| {k} | {v['cases']} | {v['pass']} |")
    lines += ["", "| case | PEs | q | load | stress | shape | W% | X% | vec | status | RTL cycles | model | bound | note |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        ls = r.get("layers", [])
        rtl = "+".join(str(l["rtl"]) for l in ls) if ls else ""
        mod = "+".join(str(l["model"]) for l in ls if l.get("model") is not None) if ls else ""
        bnd = "+".join(str(l["bound"]) for l in ls if l.get("bound") is not None) if ls else ""
        if r.get("network"):        # a conv net: per image, not per layer run (hundreds of RUNs)
            n = max(1, r["network"]["images"])
            rtl, mod, bnd = (f"{sum(l[k] for l in ls) / n:.0f}/image" for k in ("rtl", "model", "bound"))
        note = r.get("error") or ""
        stress = f"{r['idle']:g}/{r['backpressure']:g}" if (r["idle"] or r["backpressure"]) else "-"
        lines.append(f"| {r['name']} | {r['n_pe']} | {r['queue_depth']} | {r['load']} | {stress} | "
                     f"{_fmt_shape(r['shape'])} | {100 * r['weight_density']:g} | {100 * r['input_density']:g} | "
                     f"{r.get('vectors', 0)} | {r['status']} | {rtl} | {mod} | {bnd} | {note[:160]} |")
    failed = [r for r in results if r["status"] not in ("pass", "skip")]
    if failed:
        lines += ["", "## Failures", ""]
        for r in failed:
            lines.append(f"- `{r['name']}` (case seed {r['seed']}): {r.get('error')}")
            if r.get("replay"):
                lines.append(f"  replay: `{r['replay']}`")
    atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
    return s


# ---- LeNet-300-100 on the MNIST test split ---------------------------------------------------------

def lenet_images(config: str, folder: Path | None = None, log=print) -> Path:
    """Images of the compressed LeNet-300-100 for ``config``, made once by `compress.demo`
    (dense training and Deep Compression, a few minutes) into ``build/lenet/<config>/`` and
    reused by the pytest slow test and every `eie regression` after."""
    from eie.images import read_images, ImageError
    from eie.config import get_config
    from .runner import BUILD_ROOT

    cfg = get_config(config)
    folder = Path(folder) if folder else BUILD_ROOT / "lenet" / config
    images = folder / "images"
    try:
        read_images(images, cfg)
        return images
    except ImageError:
        pass
    from compress.demo import run_lenet

    log(f"regression: compressing LeNet-300-100 for config {config} into {folder} (once; cached)")
    from .runner import _locked
    with _locked(BUILD_ROOT / "locks" / f"lenet-{config}.lock"):
        try:
            read_images(images, cfg)           # made by another process meanwhile
        except ImageError:
            run_lenet(folder, config, progress=False, log=lambda *a: None)
    return images


def lenet_cases(out: Path, configs: str = "ice40", images: str | None = None,
                parts: int = 10) -> list[Case]:
    """The whole MNIST test split through the RTL: one case per slice of ``1000 / parts`` images,
    for each config named in ``configs`` (comma-separated), images loaded through the protocol."""
    from compress.data import load_dataset
    from eie import numerics
    from eie.config import get_config
    from eie.images import read_images

    data = load_dataset("mnist")
    out = Path(out).resolve()
    cases = []
    for name in configs.split(","):
        cfg = get_config(name)
        folder = Path(images).resolve() if images else lenet_images(name)
        imgs = read_images(folder, cfg)
        from eie.golden import GoldenModel
        g = GoldenModel(imgs)
        density = sum(l.weights.nnz for l in g.layers) / sum(l.in_len * l.out_len for l in g.layers)
        x = numerics.act_from_float(data.x_test, cfg)
        parts_dir = Path(out) / name / "inputs"
        parts_dir.mkdir(parents=True, exist_ok=True)
        for p, idx in enumerate(np.array_split(np.arange(len(x)), parts)):
            path = parts_dir / f"part{p:02d}.npy"
            np.save(path, x[idx])
            np.save(parts_dir / f"labels{p:02d}.npy", data.y_test[idx])
            shape = [imgs.layers[0]["in_len"]] + [l["out_len"] for l in imgs.layers]
            cases.append(Case(name=f"lenet/{name}/part{p:02d}", cfg=cfg, kind="images", shape=shape,
                              weight_density=round(float(density), 4), input_density=float(np.mean(x[idx] != 0)),
                              n_vectors=len(idx), seed=1000 + p, load="protocol",
                              idle=STRESS[0] if p % 2 else 0.0, backpressure=STRESS[1] if p % 2 else 0.0,
                              images=str(folder), inputs=str(path),
                              tags={"lenet": name, "labels": str(parts_dir / f"labels{p:02d}.npy"),
                                    "save_outputs": str(parts_dir / f"rtl_out{p:02d}.npy")}))
    return cases


def lenet_accuracy(results: list[dict]) -> dict:
    """Classification accuracy of the RTL's own outputs, per config (from the saved outputs)."""
    out = {}
    for r in results:
        tags = r.get("tags") or {}
        if "lenet" not in tags:
            continue
        a = out.setdefault(tags["lenet"], {"images": 0, "correct": 0, "parts": 0, "parts_passed": 0})
        a["parts"] += 1
        a["parts_passed"] += r["status"] == "pass"
        path = Path(tags["save_outputs"])
        if path.exists():
            y = np.load(path)
            labels = np.load(tags["labels"])
            a["images"] += len(labels)
            a["correct"] += int(np.sum(np.argmax(y, axis=1) == labels))
    for a in out.values():
        a["accuracy_pct"] = 100.0 * a["correct"] / a["images"] if a["images"] else None
    return out
