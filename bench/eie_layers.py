"""EIE's nine benchmark layers on the 64-PE, queue-depth-8 `eie` preset (or another), in Verilator.

For each layer of DESIGN.md's table (synthetic weights and activations at the paper's
shape and densities, `bench.synthetic`, fixed seed): the RTL's cycles (cocotb + Verilator,
outputs checked bit for bit against the golden model, cycles against the cycle model),
DESIGN.md's lower bound, their ratio, the equivalent time at 800 MHz next to EIE's reported
actual time; and, in the same run, the same layer on this CPU: a dense NumPy mat-vec and a
scipy.sparse CSR mat-vec (float32, measured), next to the modeled hardware time at 800 MHz
and at the FPGA clock when one is known (``--fpga-mhz`` or an fpga report).

Headline figures: the geometric mean of our cycles over EIE's actual cycles (goal <= 1.0)
and the mean ratio of our cycles to the lower bound (goal <= 1.05). In the same run, the best
configuration and encoding `eie explore` finds at 64 PEs (``summary.best``: its config, the
geometric mean over EIE's cycles on the RTL, goal <= 0.75, and SRAM bits per layer next to
EIE's 4-bit format), bit-exact against the golden model and cycle-exact against the model.

    python -m bench.eie_layers --out out/bench          # JSON + Markdown
    python -m bench.eie_layers --out out/bench --no-rtl # CPU and models only (no Verilator)
    python -m bench.eie_layers --out out/bench --config eie_256   # eie_layers_eie_256.json/.md
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from eie import format as fmt
from eie.atomic import atomic_write_text
from eie.config import PRESETS, EIEConfig
from eie.images import write_images

from .synthetic import EIE_LAYERS, EIE_CLOCK_HZ, synthetic_layer

__all__ = ["run", "cpu_times", "main"]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _timeit(fn, min_seconds: float = 0.3, min_repeats: int = 5) -> float:
    """Median seconds per call (after a warm-up), repeated for at least ``min_seconds``."""
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_repeats or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if len(times) >= 1000:
            break
    return float(np.median(times))


def cpu_times(q: fmt.QuantizedLayer, x_q: np.ndarray, cfg: EIEConfig) -> dict:
    """Dense NumPy and scipy.sparse CSR mat-vec of the layer, float32, on this CPU (µs).

    Dense runs with one BLAS thread and with all of them; the faster median counts (on a
    shared 2-core machine the threaded BLAS can lose to a single thread).
    """
    import scipy.sparse as sp

    w = np.asarray(q.codebook, np.float32)[q.indices]
    x = (np.asarray(x_q, np.float64) / 2 ** cfg.act_frac).astype(np.float32)
    csr = sp.csr_matrix(w)
    dense = {}
    try:
        from threadpoolctl import threadpool_limits
        with threadpool_limits(limits=1, user_api="blas"):
            dense[1] = _timeit(lambda: w @ x)
    except ImportError:
        pass
    threads = os.cpu_count() or 1
    dense[threads] = _timeit(lambda: w @ x)
    best = min(dense, key=dense.get)
    csr_s = _timeit(lambda: csr @ x)
    assert np.allclose(w @ x, csr @ x, rtol=1e-4, atol=1e-3)
    return {"dense_us": dense[best] * 1e6, "dense_threads": best,
            "dense_us_by_threads": {str(k): v * 1e6 for k, v in dense.items()},
            "csr_us": csr_s * 1e6, "nnz": int(csr.nnz)}


def fpga_clock_mhz(reports: Path = Path("out/fpga")) -> tuple[float | None, str | None]:
    """The FPGA clock to quote: ``EIE_FPGA_MHZ``, else the highest clock among the `eie build`
    reports under ``reports`` (``<board>/report.json``) whose timing was met."""
    env = os.environ.get("EIE_FPGA_MHZ")
    if env:
        return float(env), "EIE_FPGA_MHZ"
    best = (None, None)
    for path in sorted(Path(reports).glob("*/report.json")):
        try:
            clock = json.loads(path.read_text())["clock"]
        except (OSError, ValueError, KeyError):
            continue
        if clock.get("timing_met") and (best[0] is None or clock["pll_mhz"] > best[0]):
            best = (float(clock["pll_mhz"]), str(path))
    return best


def _layer_case(q, x, L, cfg, balance: bool, folder: Path, seed: int, name: str):
    """Encode one layer for ``cfg``; its images, inputs and regression case in ``folder``."""
    from sim.cases import Case

    program = fmt.encode_network([q], cfg, balance=balance)
    write_images(program, folder / "images", extra={"bench": L.name, "seed": seed, "balance": balance})
    np.save(folder / "inputs.npy", x[None, :])
    case = Case(name=name, cfg=cfg,
                kind="images", shape=[L.in_len, L.out_len], weight_density=L.weight_density,
                input_density=L.act_density, n_vectors=1, seed=seed, load="backdoor", balance=balance,
                images=str(folder / "images"), inputs=str(folder / "inputs.npy"))
    return program, case


def explore_best(cfg: EIEConfig, seed: int, names, n_pe: int = 64, log=print) -> dict:
    """`eie explore`'s best point at ``n_pe`` PEs on the same layers (its default grid of
    depths, run-length bits and encodings; other PE counts cannot change the choice)."""
    from sim.explore import report, source, sweep

    t = time.perf_counter()
    src = source.eie_layers(cfg, seed=seed, names=names)
    grid = sweep.Grid(pes=(n_pe,), depths=(8, 16, 32), z_bits=(4, 5, 6), entries_per_word=(cfg.entries_per_word,))
    points, _ = sweep.evaluate(src, grid, progress=False)
    best = report.best_point(points, n_pe)
    ref = report.reference_point(points, n_pe, cfg)
    log(f"explore: best at {n_pe} PEs: {best.encoding} rows, depth {best.cfg.queue_depth}, "
        f"{best.cfg.z_bits}-bit z, geomean {best.geomean('ratio_to_eie'):.3f}x EIE on the cycle model "
        f"({time.perf_counter() - t:.1f} s)")
    return {"point": best, "reference": ref, "grid": grid, "seconds": round(time.perf_counter() - t, 1)}


def _prepare(L, i, cfg, seed, work, rtl, best, log):
    """The paper-format row of one layer (and its RTL case), plus the best point's."""
    from sim.explore.sweep import storage_bits
    from eie.cycle_model import CycleModel, lower_bound

    t = time.perf_counter()
    q, x = synthetic_layer(L.in_len, L.out_len, L.weight_density, L.act_density, cfg, seed=seed + i, name=L.name)
    program = fmt.encode_network([q], cfg)
    bound = lower_bound(cfg, program.layers[0], x)
    e = program.layers[0]
    cpu = cpu_times(q, x, cfg)
    row = {
        "layer": L.name, "in_len": L.in_len, "out_len": L.out_len,
        "weight_density": L.weight_density, "act_density": L.act_density,
        "nnz_weights": cpu["nnz"], "nnz_inputs": int(np.count_nonzero(x)),
        "entries_max_pe": int(e.entries_per_pe.max()), "padding_total": int(e.padding_per_pe.sum()),
        "bound_cycles": bound, "model_cycles": CycleModel(program).layer_cycles(x)[0],
        "sram_bits": storage_bits(cfg, e.entries_per_pe, e.in_len)["sram_bits"],
        "eie_actual_us": L.eie_actual_us, "eie_actual_cycles": L.eie_actual_cycles,
        "cpu_dense_us": cpu["dense_us"], "cpu_dense_threads": cpu["dense_threads"],
        "cpu_dense_us_by_threads": cpu["dense_us_by_threads"], "cpu_csr_us": cpu["csr_us"],
        "rtl_cycles": None, "rtl_status": None,
    }
    cases = []
    if rtl:
        cases.append(_layer_case(q, x, L, cfg, False, work / L.name, seed, f"bench/{L.name}")[1])
    if best is not None:
        bcfg, balanced = best["point"].cfg, best["point"].encoding == "balanced"
        bprog = fmt.encode_network([q], bcfg, balance=balanced)
        be = bprog.layers[0]
        row["best"] = {"bound_cycles": lower_bound(bcfg, bprog.layers[0], x), "model_cycles": CycleModel(bprog).layer_cycles(x)[0],
                       "explore_cycles": best["point"].layers[i]["cycles"],
                       "entries_max_pe": int(be.entries_per_pe.max()), "padding_total": int(be.padding_per_pe.sum()),
                       "sram_bits": storage_bits(bcfg, be.entries_per_pe, be.in_len)["sram_bits"],
                       "rtl_cycles": None, "rtl_status": None}
        if rtl:
            cases.append(_layer_case(q, x, L, bcfg, balanced, work / "best" / L.name, seed,
                                     f"bench/{L.name}/best")[1])
    log(f"{L.name}: prepared in {time.perf_counter() - t:.1f} s (bound {bound} cycles, "
        f"CPU dense {cpu['dense_us']:.0f} µs, CSR {cpu['csr_us']:.0f} µs)")
    return row, cases


def _rtl(rows, cases, work, progress) -> dict:
    """Run the cases; fill each row's (and its best's) RTL cycles and status."""
    from sim import regression

    t = time.perf_counter()
    results = {r["name"]: r for r in regression.run_cases(cases, work / "rtl", jobs=1, progress=progress,
                                                             strict_cycles=False)}
    for row in rows:
        for target, name in ((row, f"bench/{row['layer']}"), (row.get("best"), f"bench/{row['layer']}/best")):
            res = results.get(name)
            if target is None or res is None:
                continue
            target["rtl_status"] = res["status"]
            target["rtl_error"] = res.get("error")
            target["load_seconds"] = res.get("load_seconds")
            if res.get("layers"):
                target["rtl_cycles"] = int(res["layers"][0]["rtl"])
    return {"seconds": round(time.perf_counter() - t, 1), "sim_log_dir": str(work / "rtl" / "runs")}


def _ratios(row: dict, L, fpga_mhz):
    cyc = row["rtl_cycles"]
    row["ratio_to_bound"] = cyc / row["bound_cycles"] if cyc and row["bound_cycles"] else None
    row["rtl_us_800mhz"] = cyc / EIE_CLOCK_HZ * 1e6 if cyc else None
    row["ratio_to_eie"] = cyc / L.eie_actual_cycles if cyc else None
    row["bound_us_800mhz"] = row["bound_cycles"] / EIE_CLOCK_HZ * 1e6
    row["rtl_us_fpga"] = cyc / (fpga_mhz * 1e6) * 1e6 if cyc and fpga_mhz else None
    row["model_error"] = (cyc - row["model_cycles"]) if cyc and row["model_cycles"] is not None else None


def _headline(rows: list[dict]) -> dict:
    done = [r for r in rows if r.get("ratio_to_eie") and r["rtl_status"] == "pass"]
    return {
        "rtl_layers_passed": len(done),
        "cycle_exact_layers": sum(r["model_error"] == 0 for r in done),
        "geomean_ratio_to_eie": (math.exp(np.mean([math.log(r["ratio_to_eie"]) for r in done]))
                                 if done else None),
        "mean_ratio_to_bound": float(np.mean([r["ratio_to_bound"] for r in done])) if done else None,
        "max_ratio_to_bound": float(np.max([r["ratio_to_bound"] for r in done])) if done else None,
        # The cycle model's cycles over the bound, every layer (also with --no-rtl).
        "model_mean_ratio_to_bound": float(np.mean([r["model_cycles"] / r["bound_cycles"] for r in rows
                                                    if r["bound_cycles"]])) if rows else None,
    }


def _best_summary(best: dict, rows: list[dict]) -> dict:
    p = best["point"]
    brows = [r["best"] for r in rows]
    c = p.cfg
    return {
        "config": {"base": best["base"], "n_pe": c.n_pe, "queue_depth": c.queue_depth, "z_bits": c.z_bits,
                   "entries_per_word": c.entries_per_word, "entry_bits": c.entry_bits, "word_bits": c.word_bits},
        "config_hash": c.hash, "encoding": p.encoding,
        "explore": {"geomean_ratio_to_eie": p.geomean("ratio_to_eie"), "seconds": best["seconds"],
                    "grid": {"pes": list(best["grid"].pes), "depths": list(best["grid"].depths),
                             "z_bits": list(best["grid"].z_bits), "encodings": list(best["grid"].encodings)}},
        **_headline(brows),
        "sram_bits_per_layer": {r["layer"]: r["best"]["sram_bits"] for r in rows},
        "sram_bits_per_layer_eie_format": {r["layer"]: r["sram_bits"] for r in rows},
        "sram_bits": int(sum(b["sram_bits"] for b in brows)),
        "sram_bits_eie_format": int(sum(r["sram_bits"] for r in rows)),
        "goal_geomean_ratio_to_eie": 0.75,
    }


def result_name(config: str) -> str:
    """File stem of a config's results: ``eie_layers`` for the `eie` preset."""
    return "eie_layers" if config == "eie" else f"eie_layers_{config}"


def run(out: Path, *, config: str = "eie", rtl: bool = True, seed: int = 0, names: list[str] | None = None,
        fpga_mhz: float | None = None, progress: bool = True, best: bool = True, log=print) -> dict:
    """Run the benchmark on preset ``config``; write `result_name` ``.json`` and ``.md`` into ``out``.

    Besides the paper's format on the preset, ``best`` runs the best configuration and
    encoding `eie explore` finds at the preset's PE count on the same layers, in the same
    RTL run."""
    out = Path(out)
    work = out / result_name(config)
    cfg = PRESETS[config]
    if fpga_mhz is None:
        fpga_mhz, fpga_source = fpga_clock_mhz()
    else:
        fpga_source = "--fpga-mhz"
    layers = [L for L in EIE_LAYERS if not names or L.name in names]
    found = explore_best(cfg, seed, names, n_pe=cfg.n_pe, log=log) if best else None
    if found:
        found["base"] = config
    rows, cases = [], []
    for L in layers:
        row, cs = _prepare(L, EIE_LAYERS.index(L), cfg, seed, work, rtl, found, log)
        rows.append(row)
        cases += cs
    rtl_info = _rtl(rows, cases, work, progress) if rtl and cases else {}
    for row, L in zip(rows, layers):
        _ratios(row, L, fpga_mhz)
        if "best" in row:
            _ratios(row["best"], L, fpga_mhz)
    summary = {
        "config": config, "config_hash": cfg.hash, "n_pe": cfg.n_pe, "queue_depth": cfg.queue_depth,
        "clock_mhz": EIE_CLOCK_HZ / 1e6, "fpga_mhz": fpga_mhz, "fpga_mhz_source": fpga_source,
        "seed": seed, "cpu": cpu_name(), "numpy": np.__version__, "layers": len(rows),
        **_headline(rows),
        "sram_bits": int(sum(r["sram_bits"] for r in rows)),
        "goals": {"geomean_ratio_to_eie": 1.0, "mean_ratio_to_bound": 1.05},
        **rtl_info,
    }
    if found:
        summary["best"] = _best_summary(found, rows)
    data = {"summary": summary, "layers": rows}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{result_name(config)}.json", json.dumps(data, indent=1) + "\n")
    atomic_write_text(out / f"{result_name(config)}.md", markdown(data))
    return data


def _f(v, fmt_="{:.1f}", none="n/a"):
    return none if v is None else fmt_.format(v)


def markdown(data: dict) -> str:
    s, rows = data["summary"], data["layers"]
    fpga = s["fpga_mhz"]
    lines = [
        "# EIE benchmark layers on the RTL",
        "",
        f"Config `{s['config']}` ({s['n_pe']} PEs, queue depth {s['queue_depth']}, hash {s['config_hash']}), "
        f"Verilator; synthetic layers at EIE's shapes and densities (seed {s['seed']}). "
        f"Times at {s['clock_mhz']:.0f} MHz are RTL cycles / clock. CPU: {s['cpu']} (NumPy {s['numpy']}, "
        "float32, one mat-vec, median of repeats).",
        "",
        f"- geometric mean of our cycles / EIE actual cycles: **{_f(s['geomean_ratio_to_eie'], '{:.3f}')}** (goal <= 1.0)",
        f"- mean of our cycles / lower bound: **{_f(s['mean_ratio_to_bound'], '{:.3f}')}** "
        f"(max {_f(s['max_ratio_to_bound'], '{:.3f}')}; goal <= 1.05)",
        f"- mean of the cycle model's cycles / lower bound: {_f(s.get('model_mean_ratio_to_bound'), '{:.3f}')}",
        f"- RTL layers run and checked bit for bit: {s['rtl_layers_passed']} of {s['layers']}",
        "",
        "| layer | in × out | W% | Act% | RTL cycles | bound | RTL/bound | model err | µs @800 MHz | EIE µs | ours/EIE | "
        + (f"µs @{fpga:.0f} MHz (FPGA) | " if fpga else "") + "CPU dense µs | CPU CSR µs |",
        "|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if fpga else "") + "---|---|",
    ]
    for r in rows:
        status = "" if r["rtl_status"] in (None, "pass") else f" ({r['rtl_status']})"
        lines.append(
            f"| {r['layer']} | {r['in_len']}×{r['out_len']} | {100 * r['weight_density']:g} | "
            f"{100 * r['act_density']:g} | {_f(r['rtl_cycles'], '{:d}')}{status} | {r['bound_cycles']} | "
            f"{_f(r['ratio_to_bound'], '{:.3f}')} | {_f(r['model_error'], '{:+d}')} | "
            f"{_f(r['rtl_us_800mhz'])} | {r['eie_actual_us']} | {_f(r['ratio_to_eie'], '{:.2f}')} | "
            + (f"{_f(r['rtl_us_fpga'])} | " if fpga else "")
            + f"{r['cpu_dense_us']:.0f} | {r['cpu_csr_us']:.0f} |")
    if fpga:
        lines += ["", f"FPGA column: these {s['n_pe']}-PE cycle counts at {fpga:.1f} MHz (from {s['fpga_mhz_source']}); "
                      f"a board build may hold fewer PEs than the `{s['config']}` preset."]
    else:
        lines += ["", "No FPGA clock known (build a board with `make fpga`, or pass `--fpga-mhz`)."]
    if s.get("best"):
        lines += _best_markdown(s, rows)
    return "\n".join(lines) + "\n"


def _best_markdown(s: dict, rows: list[dict]) -> list[str]:
    b, c = s["best"], s["best"]["config"]
    lines = [
        "", f"## The best configuration `eie explore` finds at {c['n_pe']} PEs, on the RTL", "",
        f"`{c['base']}` preset with queue depth {c['queue_depth']}, {c['z_bits']}-bit run lengths ({c['entry_bits']}-bit "
        f"entries, {c['entries_per_word']} per {c['word_bits']}-bit word), **{b['encoding']}** rows "
        f"(config {b['config_hash']}), same layers and inputs, same Verilator run.", "",
        f"- geometric mean of our cycles / EIE actual cycles: **{_f(b['geomean_ratio_to_eie'], '{:.3f}')}** "
        f"(goal <= {b['goal_geomean_ratio_to_eie']}; the cycle model predicted {b['explore']['geomean_ratio_to_eie']:.3f})",
        f"- mean of our cycles / lower bound: {_f(b['mean_ratio_to_bound'], '{:.3f}')} "
        f"(max {_f(b['max_ratio_to_bound'], '{:.3f}')})",
        f"- RTL layers run and checked bit for bit: {b['rtl_layers_passed']} of {s['layers']}, "
        f"cycle-exact: {b['cycle_exact_layers']}",
        f"- SRAM (sparse matrices and pointers, each layer on its own): {b['sram_bits'] / 1e6:.2f} Mbit, "
        f"EIE's 4-bit format {b['sram_bits_eie_format'] / 1e6:.2f} Mbit "
        f"({b['sram_bits'] / b['sram_bits_eie_format']:.3f}x)", "",
        "| layer | RTL cycles | bound | RTL/bound | model err | ours/EIE | EIE format ours/EIE | padding | "
        "SRAM Mbit | SRAM Mbit (EIE format) |",
        "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        x = r["best"]
        status = "" if x["rtl_status"] in (None, "pass") else f" ({x['rtl_status']})"
        lines.append(f"| {r['layer']} | {_f(x['rtl_cycles'], '{:d}')}{status} | {x['bound_cycles']} | "
                     f"{_f(x['ratio_to_bound'], '{:.3f}')} | {_f(x['model_error'], '{:+d}')} | "
                     f"{_f(x['ratio_to_eie'], '{:.3f}')} | {_f(r['ratio_to_eie'], '{:.3f}')} | {x['padding_total']} | "
                     f"{x['sram_bits'] / 1e6:.2f} | {r['sram_bits'] / 1e6:.2f} |")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.eie_layers", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out/bench")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--config", default="eie", help="preset (default eie; eie_256 for the 256-PE point)")
    p.add_argument("--layers", help="comma-separated layer names (default: all nine)")
    p.add_argument("--no-rtl", action="store_true", help="skip Verilator (CPU and models only)")
    p.add_argument("--fpga-mhz", type=float, help="FPGA clock for the modeled FPGA time")
    p.add_argument("--no-best", action="store_true", help="only the paper's format (no `eie explore` best)")
    args = p.parse_args(argv)
    data = run(Path(args.out), config=args.config, rtl=not args.no_rtl, seed=args.seed,
               names=args.layers.split(",") if args.layers else None, fpga_mhz=args.fpga_mhz,
               best=not args.no_best)
    print(markdown(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
