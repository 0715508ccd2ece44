"""LeNet-5 benchmark: Deep Compression of a conv net on the MNIST subset, and its cycles on the array.

Trains the dense LeNet-5 (`compress.demo.lenet5`: conv 20@5x5, max pool 2x2, conv 50@5x5, max
pool 2x2, fc 500, fc 10, ReLU after every layer but the last) once on the 4000 training images
of the built-in MNIST subset, then compresses it twice at the paper's densities (66 %, 12 %,
8 %, 19 %: 8 % of the weights), pruning in 4 steps with retraining, trained quantization with
centroid fine-tuning, Huffman coding:

* **EIE images** on the `eie` preset (64 PEs, 4-bit codebooks for every layer, the config's
  ``v_bits``): what the RTL runs (``eie regression``'s LeNet-5 part);
* **paper's codebook bits** (8-bit conv, 5-bit fc, Table 3) on `eie` with ``v_bits = 8``
  (12-bit entries): the paper's storage format.

``lenet5.json`` and ``lenet5.md`` hold both in the layout of the paper's Table 3, the
accuracies (dense, compressed float, fixed point: the golden model on the images), and the
cycle model of the EIE images on the first 20 test images: RUNs per image (one per im2col
patch, one for the dense layers), array cycles, bytes on the host link, and what on-chip
im2col would leave of them. Targets (the issue's acceptance, on the EIE images):

* total compression (P+Q+H) >= 39x (the paper: 39x);
* fixed-point accuracy within 0.5 point of the dense baseline.

    python -m bench.lenet5 --out out/bench      # lenet5.json, lenet5.md, runs in lenet5/

Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from eie.atomic import atomic_write_text

__all__ = ["run", "markdown", "main", "TARGETS", "PAPER"]

TARGETS = {"compression": 39.0, "fixed_vs_dense": 0.5}
TIMING_IMAGES = 20

# Deep Compression, Table 3 (LeNet-5 on MNIST): weights, kept, weight bits P+Q / +H,
# index bits P+Q / +H, compression rate P+Q / P+Q+H (as percent of dense).
PAPER = {
    "conv1": (500, 66, 8, 7.2, 5, 1.5, 78.5, 67.45),
    "conv2": (25_000, 12, 8, 7.2, 5, 3.9, 6.0, 5.28),
    "fc1": (400_000, 8, 5, 4.5, 5, 4.5, 2.7, 2.45),
    "fc2": (5_000, 19, 5, 5.2, 5, 3.7, 6.9, 6.13),
    "total": (431_000, 8, 5.3, 4.1, 5, 4.4, 3.05, 2.55),
}
PAPER_ERROR = {"dense": 0.80, "compressed": 0.74}     # top-1 error, percent
NAMES = ["conv1", "conv2", "fc1", "fc2"]


def _timing(images_dir: Path, cfg) -> dict:
    """The cycle model of the first `TIMING_IMAGES` test images on the images' config."""
    from compress.data import load_dataset
    from eie import numerics
    from eie.convtiming import image_timing
    from eie.golden import GoldenModel
    from eie.images import read_images

    imgs = read_images(images_dir, cfg)
    program = imgs.program()
    golden = GoldenModel(program)
    x = numerics.act_from_float(load_dataset("mnist").x_test[:TIMING_IMAGES], cfg)
    ts = [image_timing(golden, program, img) for img in x]
    steps = []
    for i, s in enumerate(ts[0].steps):
        steps.append({"name": s.name, "runs": s.runs,
                      **{k: float(np.mean([getattr(t.steps[i], k) for t in ts]))
                         for k in ("cycles", "bound", "broadcasts", "host_bytes")}})
    return {"images": len(ts), "host_bits": cfg.host_bits, "runs": ts[0].runs,
            "cycles": float(np.mean([t.cycles for t in ts])),
            "host_bytes": float(np.mean([t.host_bytes for t in ts])), "on_chip_bytes": ts[0].on_chip_bytes,
            "steps": steps}


def _summary(rep: dict) -> dict:
    tot = rep["total"]
    return {
        "config": rep["config"]["name"] or rep["config"]["description"], "config_hash": rep["config"]["hash"],
        "v_bits": rep["config"]["v_bits"], "accuracy": rep["accuracy"],
        "compression": {k: tot[k] for k in ("kept_pct", "ratio_pruned", "ratio_pq", "ratio_pqh", "bits_dense",
                                            "bits_pqh", "weight_bits_pq", "weight_bits_pqh", "index_bits_pq",
                                            "index_bits_pqh")},
        "layers": [{k: l[k] for k in ("name", "kind", "shape", "weight_shape", "weights", "kept_pct",
                                      "weight_bits_pq", "weight_bits_pqh", "index_bits_pq", "index_bits_pqh",
                                      "ratio_pruned", "ratio_pq", "ratio_pqh")} for l in rep["layers"]],
        "eie_images": rep["eie_total"], "timings": rep["timings"], "warnings": rep["warnings"],
    }


def run(out: Path, *, seed: int = 0, progress: bool = True, paper_bits: bool = True, log=print) -> dict:
    """Run the benchmark; write ``lenet5.json`` and ``lenet5.md`` into ``out``."""
    import torch

    from compress.data import load_dataset
    from compress.demo import LENET5_EPOCHS, LENET5_WEIGHT_DECAY, run_lenet5, train_lenet5
    from compress.pipeline import CompressOptions
    from eie.config import PRESETS

    out = Path(out)
    t0 = time.perf_counter()
    data = load_dataset("mnist")
    log(f"LeNet-5: dense training, {LENET5_EPOCHS} epochs")
    dense = train_lenet5(data, seed=seed, progress=progress)
    dense_s = time.perf_counter() - t0
    runs = {}
    for key, cfg, bits in (("eie", "eie", None), ("paper_bits", PRESETS["eie"].replace(v_bits=8), "paper")):
        if key == "paper_bits" and not paper_bits:
            continue
        t = time.perf_counter()
        options = CompressOptions(densities="paper", codebook_bits=bits, seed=seed, progress=progress,
                                  prune_weight_decay=LENET5_WEIGHT_DECAY)
        rep = run_lenet5(out / "lenet5" / key, cfg, options=options, dense=dense, progress=progress, log=log)
        runs[key] = {**_summary(rep), "seconds": time.perf_counter() - t}
    cfg = PRESETS["eie"]
    timing = _timing(out / "lenet5" / "eie" / "images", cfg)
    e = runs["eie"]
    acc, comp = e["accuracy"], e["compression"]
    checks = {
        "compression": {"value": comp["ratio_pqh"], "target": f">= {TARGETS['compression']}x",
                        "pass": comp["ratio_pqh"] >= TARGETS["compression"]},
        "fixed_vs_dense": {"value": acc["fixed_point"] - acc["dense"],
                           "target": f">= -{TARGETS['fixed_vs_dense']} points",
                           "pass": acc["fixed_point"] >= acc["dense"] - TARGETS["fixed_vs_dense"]},
    }
    result = {
        "benchmark": "lenet5", "seed": seed, "densities": [0.66, 0.12, 0.08, 0.19],
        "dense_epochs": LENET5_EPOCHS, "weight_decay": LENET5_WEIGHT_DECAY, "dense_seconds": dense_s,
        "runs": runs, "timing": timing, "checks": checks, "pass": all(c["pass"] for c in checks.values()),
        "seconds": time.perf_counter() - t0,
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "processor": platform.processor() or platform.machine()},
    }
    atomic_write_text(out / "lenet5.json", json.dumps(result, indent=1) + "\n")
    atomic_write_text(out / "lenet5.md", markdown(result))
    return result


def _table(r: dict) -> list[str]:
    lines = ["| layer | #weights | weights % (P) | weight bits (P+Q) | weight bits (P+Q+H) | index bits (P+Q) "
             "| index bits (P+Q+H) | compress rate (P+Q) | compress rate (P+Q+H) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, l in zip(NAMES, r["layers"]):
        p = PAPER[name]
        lines.append(f"| {name} ({l['name']}) | {l['weights']:,} | {l['kept_pct']:.0f} % ({p[1]} %) | "
                     f"{l['weight_bits_pq']:.0f} ({p[2]}) | {l['weight_bits_pqh']:.1f} ({p[3]}) | "
                     f"{l['index_bits_pq']:.0f} ({p[4]}) | {l['index_bits_pqh']:.1f} ({p[5]}) | "
                     f"{100 / l['ratio_pq']:.2f} % ({p[6]} %) | {100 / l['ratio_pqh']:.2f} % ({p[7]} %) |")
    c, p = r["compression"], PAPER["total"]
    lines.append(f"| **total** | {sum(l['weights'] for l in r['layers']):,} | {c['kept_pct']:.1f} % ({p[1]} %) | "
                 f"{c['weight_bits_pq']:.1f} ({p[2]}) | {c['weight_bits_pqh']:.1f} ({p[3]}) | "
                 f"{c['index_bits_pq']:.1f} ({p[4]}) | {c['index_bits_pqh']:.1f} ({p[5]}) | "
                 f"{100 / c['ratio_pq']:.2f} % = {c['ratio_pq']:.1f}x ({p[6]} % = 33x) | "
                 f"**{100 / c['ratio_pqh']:.2f} % = {c['ratio_pqh']:.1f}x** ({p[7]} % = 39x) |")
    return lines


def markdown(data: dict) -> str:
    ok = lambda key: "pass" if data["checks"][key]["pass"] else "**FAIL**"
    e = data["runs"]["eie"]
    a = e["accuracy"]
    lines = [
        "# LeNet-5: Deep Compression of a conv net on the MNIST subset, and the array",
        "",
        f"Seed {data['seed']}; dense LeNet-5 trained {data['dense_epochs']} epochs (Adam, L2 weight decay "
        f"{data['weight_decay']:g}) on the 4000 training images; the paper's densities 66 %, 12 %, 8 %, 19 %; "
        f"wall time {data['seconds']:.0f} s on {data['machine']['processor']}. Accuracies on the 1000 test images "
        "(one image is 0.1 point; the paper's figures are on all of MNIST).",
        "",
        "| figure | value | paper | target | |",
        "|---|---:|---:|---|---|",
        f"| total compression (P+Q+H), EIE images' 4-bit codebooks | {e['compression']['ratio_pqh']:.1f}x | 39x | "
        f">= {TARGETS['compression']:g}x | {ok('compression')} |",
        f"| dense test accuracy | {a['dense']:.2f} % | {100 - PAPER_ERROR['dense']:.2f} % | | |",
        f"| compressed, float (4-bit) | {a['compressed_float']:.2f} % | {100 - PAPER_ERROR['compressed']:.2f} % | | |",
        f"| compressed, fixed point (golden model on the EIE images) | {a['fixed_point']:.2f} % | | within 0.5 of "
        f"dense | {ok('fixed_vs_dense')} |",
    ]
    pb = data["runs"].get("paper_bits")
    if pb:
        b = pb["accuracy"]
        lines += [f"| total compression (P+Q+H), paper's bits (8-bit conv, 5-bit fc) | "
                  f"{pb['compression']['ratio_pqh']:.1f}x | 39x | | |",
                  f"| compressed, fixed point, paper's bits (`eie` with v_bits = 8) | {b['fixed_point']:.2f} % | | | |"]
    lines += ["", "## EIE images: 4-bit codebooks for every layer (`eie`, v_bits = 4)", "",
              "Paper's Table 3 figures in parentheses (8-bit conv, 5-bit fc codebooks there).", ""] + _table(e)
    if pb:
        lines += ["", "## The paper's codebook bits: 8-bit conv, 5-bit fc (`eie` with v_bits = 8)", ""] + _table(pb)
        lines += ["", f"Cost of 4-bit codebooks against the paper's bits: fixed point {a['fixed_point']:.2f} % vs "
                  f"{pb['accuracy']['fixed_point']:.2f} %, compressed float {a['compressed_float']:.2f} % vs "
                  f"{pb['accuracy']['compressed_float']:.2f} % (dense {a['dense']:.2f} %)."]
    t = data["timing"]
    lines += ["", f"## On the array (cycle model, `eie`, mean of the first {t['images']} test images)", "",
              "Each conv layer runs once per im2col patch (RUN of that layer-table entry alone); the two "
              "fully connected layers are one RUN; pooling and im2col on the host. Host bytes: WRITE_ACT of each "
              "RUN's input, the RUN, READ_ACT of its outputs, with responses, each filled up to whole beats of the "
              f"{t['host_bits']}-bit host port (the RTL regression measures the cycles they take).", "",
              "| layers | RUNs | array cycles | lower bound | non-zero inputs | host bytes |",
              "|---|---:|---:|---:|---:|---:|"]
    for s in t["steps"]:
        lines.append(f"| {s['name']} | {s['runs']} | {s['cycles']:,.0f} | {s['bound']:,.0f} | {s['broadcasts']:,.0f} | "
                     f"{s['host_bytes']:,.0f} |")
    lines.append(f"| **total** | {t['runs']} | {t['cycles']:,.0f} | | | {t['host_bytes']:,.0f} |")
    lines += ["", f"With im2col and pooling next to the array, the host would send the image and read the result: "
              f"{t['on_chip_bytes']:,} bytes instead of {t['host_bytes']:,.0f} per image.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.lenet5", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out/bench")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-paper-bits", action="store_true", help="skip the run with the paper's codebook bits")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    data = run(Path(args.out), seed=args.seed, progress=not args.quiet, paper_bits=not args.no_paper_bits)
    print(markdown(data))
    return 0 if data["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
