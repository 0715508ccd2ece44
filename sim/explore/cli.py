"""`eie explore`: sweep configs and encodings on the cycle model; JSON, Markdown, plots."""

from __future__ import annotations

import os
import time
from pathlib import Path

from eie.errors import EIEError


def register(sub):
    p = sub.add_parser("explore", help="sweep PE count, queue depth, run-length bits, word packing and "
                                       "balanced encodings on the cycle model: JSON, Markdown, plots")
    p.add_argument("model", nargs="?", help="image folder or the compressed.npz of `eie compress`")
    p.add_argument("--eie-layers", action="store_true", help="EIE's nine benchmark layers (synthetic, "
                                                             "at the paper's shapes and densities)")
    p.add_argument("--out", default="out/explore", help="output folder (explore.json, explore.md, *.png)")
    p.add_argument("--config", default="eie", help="config the sweep varies (preset or JSON; default eie; "
                                                    "an image folder brings its own)")
    p.add_argument("--pes", default="16,32,64,128", help="PE counts (default 16,32,64,128)")
    p.add_argument("--depths", help="activation queue depths (default 8,16,32 and the config's)")
    p.add_argument("--z-bits", help="run-length bits (default 4,5,6 and the config's)")
    p.add_argument("--entries-per-word",
                   help="entries per sparse-matrix word, powers of two for the RTL (default: the config's)")
    p.add_argument("--encodings", default="plain,balanced", help="plain and/or balanced (default both)")
    p.add_argument("--best-pes", type=int, default=64, help="PE count the best point is chosen at (default 64)")
    p.add_argument("--inputs", help=".npy of input vectors (fixed point, or floats with --float); "
                                    "default: random at --input-density")
    p.add_argument("--float", action="store_true", help="inputs are floats: convert to fixed point")
    p.add_argument("--input-density", type=float, default=0.5, help="non-zero share of random inputs (default 0.5)")
    p.add_argument("--vectors", type=int, default=4, help="input vectors per layer (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic layers and random inputs")
    p.add_argument("--no-plots", action="store_true", help="JSON and Markdown only")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_explore)


def _ints(text: str, what: str) -> tuple:
    try:
        values = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise EIEError(f"--{what} needs comma-separated integers, not {text!r}") from None
    if not values:
        raise EIEError(f"--{what} needs at least one value")
    return values


def _grid(args, base):
    """The grid asked for; by default it holds the base config's own depth, run-length
    bits and packing, so EIE's format (the reference) is one of its points."""
    from .sweep import Grid

    def values(text, what, default, own):
        return _ints(text, what) if text else tuple(sorted(set(default) | {own}))
    try:
        return Grid(pes=_ints(args.pes, "pes"),
                    depths=values(args.depths, "depths", (8, 16, 32), base.queue_depth),
                    z_bits=values(args.z_bits, "z-bits", (4, 5, 6), base.z_bits),
                    entries_per_word=values(args.entries_per_word, "entries-per-word", (), base.entries_per_word),
                    encodings=tuple(args.encodings.split(",")))
    except ValueError as e:
        raise EIEError(str(e)) from None


def _source(args, cfg):
    import numpy as np
    from eie import numerics
    from . import source

    if args.eie_layers == bool(args.model):
        raise EIEError("give either an image folder / compressed .npz, or --eie-layers")
    if args.eie_layers:
        return source.eie_layers(cfg, seed=args.seed)
    if not 0.0 <= args.input_density <= 1.0:
        raise EIEError(f"--input-density must be between 0 and 1, not {args.input_density}")
    if args.vectors < 1:
        raise EIEError(f"--vectors must be at least 1, not {args.vectors}")
    xs = None
    if args.inputs:
        try:
            xs = np.load(args.inputs, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise EIEError(f"cannot read inputs {args.inputs!r}: {e}") from None
        if args.float:
            if not np.all(np.isfinite(xs)):
                raise EIEError("inputs contain NaN or Inf")
            xs = numerics.act_from_float(xs, cfg)
    return source.load_source(args.model, cfg, xs=xs, density=args.input_density,
                              vectors=args.vectors, seed=args.seed)


def _check_grid(grid, base):
    """Every point must be a config `EIEConfig` accepts; name the first that is not."""
    from eie.config import ConfigError
    try:
        for _ in grid.configs(base):
            pass
    except ConfigError as e:
        raise EIEError(f"grid point not a valid config: {e}") from None
    if any(w & (w - 1) for w in grid.entries_per_word):
        raise EIEError(f"entries per word must be powers of two (what hw/ builds), not {grid.entries_per_word}")


def run_explore(args):
    import json
    from eie.atomic import atomic_dir
    from eie.config import get_config
    from . import report, sweep

    t0, c0, load0 = time.perf_counter(), time.process_time(), _load()
    src = _source(args, get_config(args.config))
    grid = _grid(args, src.cfg)
    _check_grid(grid, src.cfg)
    t_src = time.perf_counter() - t0
    if args.best_pes not in grid.pes:
        raise EIEError(f"--best-pes {args.best_pes} is not among the swept PE counts {list(grid.pes)}")
    points, seconds = sweep.evaluate(src, grid, progress=not args.quiet)
    seconds = {"source": round(t_src, 2), **seconds}
    out = Path(args.out)
    with atomic_dir(out) as tmp:
        t = time.perf_counter()
        data = report.to_json(src, grid, points, args.best_pes, seconds)
        plots = [] if args.no_plots else _plots(data, tmp)
        seconds["report"] = round(time.perf_counter() - t, 2)
        seconds["total"] = round(time.perf_counter() - t0, 2)
        # CPU time of this process: what the wall time would be with a core to itself.
        seconds["cpu"] = round(time.process_time() - c0, 2)
        data["summary"]["seconds"] = seconds
        data["summary"]["machine"] = {"cpus": os.cpu_count(), "load_average_start": load0,
                                      "load_average_end": _load()}
        (tmp / "explore.json").write_text(json.dumps(data, indent=1) + "\n")
        (tmp / "explore.md").write_text(report.markdown(data, plots))
    _print(data, out)
    return 0


def _load():
    """1-minute load average: how busy the machine was (the wall time depends on it)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _plots(data, folder):
    from .plots import write_plots
    return write_plots(data, folder)


def _print(data, out: Path):
    s = data["summary"]
    sec = s["seconds"]
    print(f"explore: {s['grid']['points']} points x {len(s['layers'])} layers in {sec['total']:.1f} s "
          f"({', '.join(f'{k} {v:.1f} s' for k, v in sec.items() if k not in ('total', 'cpu'))}; "
          f"{sec['cpu']:.1f} s of CPU)")
    b = s["best"]
    if b:
        ratio = f", {b['geomean_ratio_to_eie']:.3f}x EIE's cycles" if b.get("geomean_ratio_to_eie") else ""
        print(f"best at {s['best_pes']} PEs: {b['encoding']} rows, queue depth {b['queue_depth']}, "
              f"{b['z_bits']}-bit run lengths, {b['entries_per_word']} entries per {b['word_bits']}-bit word: "
              f"geomean {b['geomean_cycles']:.0f} cycles{ratio}, SRAM {b['sram_bits'] / 1e6:.2f} Mbit")
    r = s.get("best_over_reference")
    if r:
        print(f"  vs EIE's format at {s['best_pes']} PEs: cycles {r['geomean_cycles']:.3f}x, SRAM {r['sram_bits']:.3f}x")
    print(f"written: {out / 'explore.md'}, {out / 'explore.json'}")
