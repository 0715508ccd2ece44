"""Fmax over nextpnr seeds for every board's default build, and a PE-count sweep on the ECP5.

For each board (its default config and clock, `fpga.boards`): place and route with
``--seeds`` nextpnr seeds (default 5; `fpga.build.build_board`, no retry), Fmax
min/median/max, how many seeds met timing, utilisation, and the modeled LeNet-300-100
throughput at the board's clock (`fpga.performance`, the cycle model over 100 MNIST test
images; the compressed model from `sim.regression.lenet_images`). Then the ECP5 sweep: on
each ``--sweep-boards`` board (default the ULX3S, the slower speed grade) the default config
at 8, 16, 24, 32, ... PEs at the sweep clock (100 MHz), ``--sweep-seeds`` seeds each (default
one), up to the first PE count the capacity check refuses or that does not route. It takes hours (``make fmax``); nothing here runs in ``make test``.
``--first-seed`` starts every seed range there instead of at 1 (nextpnr is deterministic for a
netlist and a seed, so a long run can be continued with the seeds it has not run).

    python -m bench.fpga_fmax --out out/bench [--boards icebreaker,ulx3s,orangecrab]
                              [--seeds 5] [--sweep 8,16,24,32,40,48] [--sweep-mhz 100]
                              [--sweep-boards ulx3s,orangecrab] [--sweep-seeds 1]
                              [--first-seed 1] [--no-sweep] [--keep]

Writes ``fpga_fmax.json`` and ``fpga_fmax.md`` (rewritten after every build, so a long run
can be read while it goes); build folders go to ``<out>/fmax/`` and are removed after each
build unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

from eie.atomic import atomic_write_text

__all__ = ["run", "main", "markdown"]

DEFAULT_BOARDS = ["icebreaker", "ulx3s", "orangecrab"]
DEFAULT_SWEEP = [8, 16, 24, 32, 40, 48]
SWEEP_BOARDS = ["ulx3s"]


def _build(board, cfg, freq, seed, folder: Path, keep: bool, log) -> dict:
    """One build; its report's figures (or the error of a build that failed)."""
    from eie.errors import EIEError
    from fpga.build import build_board

    t = time.monotonic()
    try:
        report = build_board(board, folder, cfg=cfg, freq=freq, seed=seed, retry=False, log=log)
        row = {"seed": seed, "fmax_mhz": report["clock"]["fmax_mhz"],
               "pll_mhz": report["clock"]["pll_mhz"], "timing_met": report["clock"]["timing_met"],
               "utilisation": report["utilisation"], "critical_path": _steps(report.get("critical_path", []))}
    except EIEError as e:
        row = {"seed": seed, "error": str(e)}
    row["seconds"] = round(time.monotonic() - t, 1)
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(folder.parent / f"{folder.name}.failed", ignore_errors=True)
    return row


def _steps(path: list[str]) -> list[str]:
    """A critical path's steps (every net with its routing delay and placement) and its
    logic/routing split, without the source-file lines."""
    return [line for line in path if "Defined in" not in line and not line.strip().startswith("/")]


def _summary(rows: list[dict]) -> dict:
    fmax = [r["fmax_mhz"] for r in rows if "fmax_mhz" in r]
    if not fmax:
        return {"routed": 0}
    return {"routed": len(fmax), "met": sum(r["timing_met"] for r in rows if "fmax_mhz" in r),
            "fmax_min": min(fmax), "fmax_median": statistics.median(fmax), "fmax_max": max(fmax)}


def _lenet(board, cfg, f_hz, log) -> dict:
    """Modeled LeNet-300-100 throughput of the board's default config at its clock."""
    from eie.config import PRESETS
    from eie.images import read_images
    from fpga.performance import model_performance
    from sim.regression import lenet_images

    preset = next((name for name, c in PRESETS.items() if c == cfg), None)
    if preset is None:
        return {"note": "the default config is not a preset: no LeNet images"}
    images = read_images(lenet_images(preset, log=log), cfg)
    m = model_performance(images, f_hz, log=log)
    return {k: m[k] for k in ("inputs", "cycles_per_input", "us_per_input", "inputs_per_second", "gops",
                              "dense_equivalent_gops", "pe_utilisation") if k in m}


def run(out: Path, boards=DEFAULT_BOARDS, seeds: int = 5, sweep=DEFAULT_SWEEP, sweep_mhz: float = 100.0,
        keep: bool = False, log=print, sweep_boards=SWEEP_BOARDS, sweep_seeds: int = 1,
        first_seed: int = 1) -> dict:
    from fpga.boards import get_board
    from fpga.pll import plan_clock

    out = Path(out)
    work = out / "fmax"
    data = {"seeds": seeds, "boards": [], "sweeps": []}
    for name in boards:
        board = get_board(name)
        cfg = board.default_config
        _, f_sync = plan_clock(board.family, board.clk_freq, board.default_freq)
        entry = {"board": name, "device": board.device, "config_hash": cfg.hash, "n_pe": cfg.n_pe,
                 "requested_mhz": board.default_freq / 1e6, "pll_mhz": f_sync / 1e6, "runs": []}
        data["boards"].append(entry)
        for seed in range(first_seed, first_seed + seeds):
            log(f"fpga_fmax: {name} {cfg.n_pe} PEs seed {seed}")
            entry["runs"].append(_build(board, cfg, board.default_freq, seed, work / f"{name}-s{seed}", keep, log))
            entry.update(_summary(entry["runs"]))
            _write(out, data)
        entry["lenet"] = _lenet(board, cfg, f_sync, log)
        _write(out, data)
    for name in sweep_boards:
        board = get_board(name)
        entry = {"board": name, "device": board.device, "mhz": sweep_mhz, "seeds": sweep_seeds, "points": []}
        data["sweeps"].append(entry)
        for n in sweep or []:
            cfg = board.default_config.replace(n_pe=n)
            point = {"n_pe": n, "config_hash": cfg.hash, "runs": []}
            entry["points"].append(point)
            for seed in range(first_seed, first_seed + sweep_seeds):
                log(f"fpga_fmax: sweep {name} {n} PEs at {sweep_mhz:g} MHz seed {seed}")
                point["runs"].append(_build(board, cfg, sweep_mhz * 1e6, seed, work / f"sweep-{name}-{n}-s{seed}",
                                            keep, log))
                point.update(_summary(point["runs"]))
                _write(out, data)
            if not point.get("routed"):
                break
    return data


def _write(out: Path, data: dict):
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "fpga_fmax.json", json.dumps(data, indent=1) + "\n")
    atomic_write_text(out / "fpga_fmax.md", markdown(data))


def _util(u: dict) -> str:
    return ", ".join(f"{k} {a}/{b}" for k, (a, b) in u.items())


def markdown(data: dict) -> str:
    lines = ["# Fmax over nextpnr seeds, and the ECP5 PE-count sweep", "",
             f"Each board's default build (`eie build --board B`), {data['seeds']} nextpnr seeds, no retry. "
             "Fmax is nextpnr's after routing; LeNet figures are the cycle model's at the board's clock.", "",
             "| board | PEs | clock MHz | Fmax min / median / max | met | utilisation (seed 1) | LeNet images/s | µs/image |",
             "|---|---|---|---|---|---|---|---|"]
    for b in data["boards"]:
        lenet = b.get("lenet", {})
        util = next((_util(r["utilisation"]) for r in b["runs"] if "utilisation" in r), "-")
        fmax = (f"{b['fmax_min']:.2f} / {b['fmax_median']:.2f} / {b['fmax_max']:.2f}"
                if b.get("routed") else "-")
        ips = f"{lenet['inputs_per_second']:.0f}" if "inputs_per_second" in lenet else "-"
        us = f"{lenet['us_per_input']:.1f}" if "us_per_input" in lenet else "-"
        lines.append(f"| {b['board']} | {b['n_pe']} | {b['pll_mhz']:.3f} | {fmax} | {b.get('met', 0)}/{len(b['runs'])} "
                     f"| {util} | {ips} | {us} |")
    for b in data["boards"]:
        errors = [r for r in b["runs"] if "error" in r]
        for r in errors:
            lines.append(f"\n{b['board']} seed {r['seed']}: {r['error']}")
    for s in data["sweeps"]:
        lines += ["", f"## PE-count sweep: {s['board']} ({s['device']}) at {s['mhz']:g} MHz, {s['seeds']} seed(s)", "",
                  "| PEs | Fmax min / median / max MHz | met | utilisation (first seed) | seconds |",
                  "|---|---|---|---|---|"]
        for p in s["points"]:
            secs = sum(r["seconds"] for r in p["runs"])
            errors = "; ".join(r["error"] for r in p["runs"] if "error" in r)
            if not p.get("routed"):
                lines.append(f"| {p['n_pe']} | - | {errors or '-'} | - | {secs:.0f} |")
                continue
            util = next(_util(r["utilisation"]) for r in p["runs"] if "utilisation" in r)
            lines.append(f"| {p['n_pe']} | {p['fmax_min']:.2f} / {p['fmax_median']:.2f} / {p['fmax_max']:.2f} "
                         f"| {p['met']}/{len(p['runs'])} | {util} | {secs:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fpga_fmax", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out/bench")
    p.add_argument("--boards", default=",".join(DEFAULT_BOARDS))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--sweep", default=",".join(map(str, DEFAULT_SWEEP)), help="PE counts on the ECP5")
    p.add_argument("--sweep-mhz", type=float, default=100.0)
    p.add_argument("--sweep-boards", default=",".join(SWEEP_BOARDS), help="boards the sweep runs on")
    p.add_argument("--sweep-seeds", type=int, default=1, help="nextpnr seeds per sweep point")
    p.add_argument("--first-seed", type=int, default=1, help="the first nextpnr seed of every seed range")
    p.add_argument("--no-sweep", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep every build folder")
    args = p.parse_args(argv)
    if args.seeds < 0 or args.sweep_seeds < 1 or args.first_seed < 1:
        p.error("--seeds must be at least 0, --sweep-seeds and --first-seed at least 1")
    sweep = [] if args.no_sweep else [int(v) for v in args.sweep.split(",") if v]
    data = run(Path(args.out), [b for b in args.boards.split(",") if b], args.seeds, sweep, args.sweep_mhz,
               args.keep, sweep_boards=[b for b in args.sweep_boards.split(",") if b],
               sweep_seeds=args.sweep_seeds, first_seed=args.first_seed)
    print(markdown(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
