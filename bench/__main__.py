"""Run every benchmark: ``python -m bench --out DIR`` (`make bench` writes out/bench).

* ``eie_layers``: EIE's nine layers on the 64-PE preset in Verilator, with CPU baselines, and
  the best configuration and encoding `eie explore` finds at 64 PEs, in the same run;
* ``eie_scaling``: the nine layers on the 256-PE ``eie_256`` preset too, the speed-up next to
  EIE's reported 3.25x (reuses ``eie_layers``' 64-PE run);
* ``explore_speed``: `eie explore --eie-layers` on its default grid (its own timing);
* ``sim_speed``: Verilator cycles/s on the 64-PE array and image load times each way;
* ``verilator_steps``: build time and RUN speed of each Verilator setting of `sim.runner`;
* ``golden_speed``: the golden model on a large layer;
* ``lenet``: Deep Compression of LeNet-300-100 against the paper's table;
* ``fpga_area``: per-module LUT, flop and RAM use of the array after ECP5 and iCE40 synthesis.

Each writes ``<name>.json`` and ``<name>.md`` into DIR; ``index.md`` links them and says
which ones failed (the others still run). ``--only NAME[,NAME]`` picks some, ``--no-rtl``
leaves Verilator out.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from pathlib import Path

from eie.atomic import atomic_write_text

BENCHMARKS = ["eie_layers", "eie_scaling", "explore_speed", "sim_speed", "verilator_steps", "golden_speed",
              "lenet", "fpga_area"]
# eie_layers and eie_scaling can skip their RTL part; the others need Verilator.
NEEDS_RTL = {"eie_layers": False, "eie_scaling": False, "sim_speed": True, "verilator_steps": True}


def _call(name: str, module, out: Path, no_rtl: bool):
    if name in ("eie_layers", "eie_scaling"):
        return module.run(out, rtl=not no_rtl)
    return module.run(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description="Run every benchmark of eie-gen.")
    p.add_argument("--out", default="out/bench", help="output folder (default out/bench)")
    p.add_argument("--only", help="comma-separated benchmark names: " + ", ".join(BENCHMARKS))
    p.add_argument("--no-rtl", action="store_true", help="skip everything that needs Verilator")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = args.only.split(",") if args.only else BENCHMARKS
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        p.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    rows, failed = [], []
    for name in names:
        if args.no_rtl and NEEDS_RTL.get(name):
            rows.append((name, "skipped (--no-rtl)", 0.0))
            continue
        module = importlib.import_module(f"bench.{name}")
        print(f"== bench {name}", flush=True)
        t = time.monotonic()
        affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        try:
            _call(name, module, out, args.no_rtl)
            rows.append((name, "ok", time.monotonic() - t))
        except Exception as e:
            traceback.print_exc()
            rows.append((name, f"FAILED: {type(e).__name__}: {e}", time.monotonic() - t))
            failed.append(name)
        finally:
            if affinity is not None:       # a benchmark may pin itself to one core
                os.sched_setaffinity(0, affinity)
    lines = ["# eie-gen benchmarks", "", "| benchmark | result | seconds | files |", "|---|---|---|---|"]
    for name, status, secs in rows:
        files = " ".join(f"[{f.name}]({f.name})" for f in sorted(out.glob(f"{name}.*")))
        lines.append(f"| {name} | {status} | {secs:.0f} | {files} |")
    atomic_write_text(out / "index.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
