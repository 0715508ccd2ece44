"""`eie explore --eie-layers` as a benchmark: its wall and CPU seconds on the default grid.

Runs the command (72 points: 16-128 PEs x queue depths 8, 16, 32 x run-length bits 4, 5, 6 x
plain and balanced rows) into ``OUT/explore/`` and writes ``explore_speed.json`` and
``explore_speed.md`` with its own timing (goal: at most 60 s), the machine's load and the
best point it found at 64 PEs.

    python -m bench.explore_speed --out out/bench
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eie.atomic import atomic_write_text

__all__ = ["run", "main"]

GOAL_SECONDS = 60.0


def run(out: Path, log=print) -> dict:
    from eie.cli import main as eie_main

    out = Path(out)
    folder = out / "explore"
    rc = eie_main(["explore", "--eie-layers", "--out", str(folder), "--quiet"])
    if rc:
        raise RuntimeError(f"eie explore exited with status {rc}")
    s = json.loads((folder / "explore.json").read_text())["summary"]
    b = s["best"]
    data = {"seconds": s["seconds"], "machine": s.get("machine"), "goal_seconds": GOAL_SECONDS,
            "points": s["grid"]["points"], "layers": len(s["layers"]),
            "best": {k: b[k] for k in ("n_pe", "queue_depth", "z_bits", "entries_per_word", "encoding",
                                       "geomean_ratio_to_eie", "sram_bits")}}
    sec, m = data["seconds"], data["machine"] or {}
    md = ["# eie explore --eie-layers", "",
          f"{data['points']} points x {data['layers']} layers: **{sec['total']:.1f} s** wall (goal <= "
          f"{GOAL_SECONDS:.0f} s), {sec['cpu']:.1f} s of CPU; load average {m.get('load_average_start')} -> "
          f"{m.get('load_average_end')} on {m.get('cpus')} CPUs.", "",
          "| stage | seconds |", "|---|---|"] + [f"| {k} | {v:.1f} |" for k, v in sec.items()] + [
          "", f"Best at 64 PEs: {b['encoding']} rows, queue depth {b['queue_depth']}, {b['z_bits']}-bit run "
              f"lengths: {b['geomean_ratio_to_eie']:.3f}x EIE's cycles on the cycle model; the figures and "
              "plots are in [explore/explore.md](explore/explore.md)."]
    atomic_write_text(out / "explore_speed.json", json.dumps(data, indent=1) + "\n")
    atomic_write_text(out / "explore_speed.md", "\n".join(md) + "\n")
    return data


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.explore_speed", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out/bench")
    args = p.parse_args(argv)
    run(Path(args.out))
    print((Path(args.out) / "explore_speed.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
