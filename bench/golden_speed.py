"""Golden-model speed: one EIE-sized layer from images to outputs and cycle prediction, one core.

The acceptance case of the foundation issue: a 4096 x 4096 layer at 9 % weight density and
35 % input density on the 64-PE `eie` preset. The timed path is everything a user of the
golden model pays per image folder and input: read and check the images, decode them,
run the bit-exact model, and predict the cycles with the cycle model. The process is pinned
to one core first. Writes ``golden_speed.json`` and ``golden_speed.md``.

    python -m bench.golden_speed --out out/bench
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.synthetic import synthetic_layer
from eie import format as fmt
from eie.atomic import atomic_write_text
from eie.config import PRESETS
from eie.images import read_images, write_images
from eie.cycle_model import CycleModel
from eie.golden import GoldenModel

TARGET_S = 2.0


def pin_to_one_core():
    """Measure on one core, as the target says (BLAS threads would otherwise spread)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def run(out: Path, *, shape=(4096, 4096), weight_density=0.09, act_density=0.35, config="eie",
        seed=0, repeats=5) -> dict:
    pin_to_one_core()
    cfg = PRESETS[config]
    q, x = synthetic_layer(shape[1], shape[0], weight_density, act_density, cfg, seed=seed)
    program = fmt.encode_network([q], cfg)
    stages = {"read_images": [], "golden_decode": [], "golden_run": [], "cycle_model": [], "total": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_images(program, Path(tmp) / "images")
        for _ in range(repeats):
            t0 = time.perf_counter()
            images = read_images(folder, cfg)
            t1 = time.perf_counter()
            program_read = images.program()
            model = GoldenModel(program_read)
            t2 = time.perf_counter()
            y = model.run(x)
            t3 = time.perf_counter()
            timing = CycleModel(program_read).timing(x)
            t4 = time.perf_counter()
            for name, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
                stages[name].append(dt)
    medians = {k: statistics.median(v) for k, v in stages.items()}
    data = {
        "benchmark": "golden_speed",
        "config": config, "config_hash": cfg.hash, "n_pe": cfg.n_pe,
        "shape": list(shape), "weight_density": weight_density, "act_density": act_density,
        "seed": seed, "repeats": repeats, "cores": 1,
        "nonzero_weights": int(np.count_nonzero(q.indices)), "nonzero_inputs": int(np.count_nonzero(x)),
        "predicted_cycles": int(timing[0].cycles), "lower_bound": int(timing[0].bound),
        "output_nonzeros": int(np.count_nonzero(y)),
        "median_s": medians, "min_total_s": min(stages["total"]),
        "target_s": TARGET_S, "meets_target": medians["total"] < TARGET_S,
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "golden_speed.json", json.dumps(data, indent=1) + "\n")
    atomic_write_text(out / "golden_speed.md", markdown(data))
    return data


def markdown(d: dict) -> str:
    m = d["median_s"]
    lines = [
        "# Golden model speed",
        "",
        f"{d['shape'][0]} x {d['shape'][1]} layer, {d['weight_density']:.0%} weights, "
        f"{d['act_density']:.0%} inputs, `{d['config']}` preset ({d['n_pe']} PEs), one core, "
        f"median of {d['repeats']} runs.",
        "",
        "| stage | seconds |",
        "|---|---|",
        f"| read and check images | {m['read_images']:.3f} |",
        f"| decode (golden model set-up) | {m['golden_decode']:.3f} |",
        f"| bit-exact outputs | {m['golden_run']:.3f} |",
        f"| cycle prediction | {m['cycle_model']:.3f} |",
        f"| **total** | **{m['total']:.3f}** (target < {d['target_s']:.1f}: "
        f"{'met' if d['meets_target'] else 'NOT met'}) |",
        "",
        f"Predicted {d['predicted_cycles']} cycles; lower bound {d['lower_bound']}.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="out/bench")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    data = run(Path(args.out), seed=args.seed, repeats=args.repeats)
    print(markdown(data))
    return 0 if data["meets_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
