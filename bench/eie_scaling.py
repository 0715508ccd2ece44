"""EIE's nine layers at 64 and 256 PEs on the RTL: the speed-up next to EIE's reported 3.25x.

EIE (ISCA 2016, its scalability study) reports 256 PEs running its nine benchmark layers
3.25x faster than 64. This benchmark runs `bench.eie_layers` (synthetic layers at the
paper's shapes and densities, outputs checked bit for bit against the golden model, cycles
against the cycle model) on the `eie` preset and on `eie_256`, and tabulates each layer's
RTL cycles at both sizes and their ratio, with the geometric mean and the ratio of the
summed cycles. A 64-PE result already in ``out`` (``eie_layers.json`` of the same config
hash and seed, with RTL figures) is reused.

    python -m bench.eie_scaling --out out/bench
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from eie.atomic import atomic_write_text
from eie.config import PRESETS

from . import eie_layers

__all__ = ["EIE_SPEEDUP_256", "run", "markdown", "main"]

EIE_SPEEDUP_256 = 3.25          # EIE's reported speed-up of 256 PEs over 64
CONFIGS = ("eie", "eie_256")


def _layers(out: Path, config: str, seed: int, rtl: bool, log) -> dict:
    path = out / f"{eie_layers.result_name(config)}.json"
    if path.exists():
        data = json.loads(path.read_text())
        s = data["summary"]
        if s["config_hash"] == PRESETS[config].hash and s["seed"] == seed and \
                (not rtl or s["rtl_layers_passed"] == s["layers"] == len(data["layers"])):
            log(f"eie_scaling: reusing {path}")
            return data
    return eie_layers.run(out, config=config, rtl=rtl, seed=seed, best=False, log=log)


def run(out: Path, *, seed: int = 0, rtl: bool = True, log=print) -> dict:
    out = Path(out)
    runs = {c: _layers(out, c, seed, rtl, log) for c in CONFIGS}
    key = "rtl_cycles" if rtl else "model_cycles"
    rows = []
    for a, b in zip(runs["eie"]["layers"], runs["eie_256"]["layers"]):
        ca, cb = a[key], b[key]
        rows.append({"layer": a["layer"], "cycles_64": ca, "cycles_256": cb,
                     "speedup": ca / cb if ca and cb else None,
                     "exact_64": a.get("rtl_status") == "pass" and a.get("model_error") == 0,
                     "exact_256": b.get("rtl_status") == "pass" and b.get("model_error") == 0,
                     "bound_64": a["bound_cycles"], "bound_256": b["bound_cycles"],
                     "nnz_inputs": b["nnz_inputs"]})
    done = [r for r in rows if r["speedup"]]
    data = {
        "source": "RTL (Verilator)" if rtl else "cycle model",
        "configs": {c: {"config_hash": PRESETS[c].hash, "n_pe": PRESETS[c].n_pe} for c in CONFIGS},
        "seed": seed, "eie_reported_speedup": EIE_SPEEDUP_256, "layers": rows,
        "geomean_speedup": math.exp(sum(math.log(r["speedup"]) for r in done) / len(done)) if done else None,
        "total_speedup": (sum(r["cycles_64"] for r in done) / sum(r["cycles_256"] for r in done)) if done else None,
        "all_exact": bool(rtl and all(r["exact_64"] and r["exact_256"] for r in rows)),
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "eie_scaling.json", json.dumps(data, indent=1) + "\n")
    atomic_write_text(out / "eie_scaling.md", markdown(data))
    return data


def _f(v, spec="{:.2f}"):
    return "n/a" if v is None else spec.format(v)


def markdown(d: dict) -> str:
    c64, c256 = d["configs"]["eie"], d["configs"]["eie_256"]
    lines = ["# EIE's nine layers at 64 and 256 PEs", "",
             f"{d['source']}: `eie` ({c64['n_pe']} PEs, {c64['config_hash']}) and `eie_256` ({c256['n_pe']} PEs, "
             f"{c256['config_hash']}), synthetic layers (seed {d['seed']}); outputs bit-exact against the golden "
             "model and cycles equal to the cycle model where marked exact.", "",
             f"- speed-up of 256 over 64 PEs: geometric mean **{_f(d['geomean_speedup'])}x**, summed cycles "
             f"{_f(d['total_speedup'])}x; EIE reports **{d['eie_reported_speedup']}x**",
             f"- every layer bit-exact and cycle-exact at both sizes: {'yes' if d['all_exact'] else 'no'}", "",
             "| layer | 64 PEs cycles | 256 PEs cycles | speed-up | exact (64 / 256) | bound 64 / 256 |",
             "|---|---|---|---|---|---|"]
    for r in d["layers"]:
        lines.append(f"| {r['layer']} | {_f(r['cycles_64'], '{:d}')} | {_f(r['cycles_256'], '{:d}')} | "
                     f"{_f(r['speedup'])} | {'yes' if r['exact_64'] else 'no'} / {'yes' if r['exact_256'] else 'no'} | "
                     f"{r['bound_64']} / {r['bound_256']} |")
    broadcast = [r["layer"] for r in d["layers"] if r["bound_256"] == r["nnz_inputs"]]
    if broadcast:
        lines += ["", f"At 256 PEs the broadcast (one non-zero input per cycle, whatever the PE count) is the "
                      f"lower bound of {', '.join(broadcast)}: more PEs cannot make it faster."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.eie_scaling", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out/bench")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-rtl", action="store_true", help="the cycle model only (no Verilator)")
    args = p.parse_args(argv)
    print(markdown(run(Path(args.out), seed=args.seed, rtl=not args.no_rtl)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
