"""Subcommands of the simulation side: `eie golden`, `eie sim` and `eie regression`."""

from __future__ import annotations

import os
from pathlib import Path

from eie.errors import EIEError


def register(sub):
    p = sub.add_parser("golden", help="run the bit-exact golden model (and cycle model) on an image folder")
    p.add_argument("images", help="image folder written by `eie compress` (holds manifest.json)")
    p.add_argument("--inputs", required=True,
                   help=".npy of input vectors, shape (in_len,) or (batch, in_len) (a conv net's images: "
                        "(batch, C, H, W), (C, H, W) or flattened): fixed-point integers, or floats with --float")
    p.add_argument("--float", action="store_true", help="inputs are floats: convert to fixed point first")
    p.add_argument("--config", help="expected config (preset or JSON): refuse images made for another")
    p.add_argument("-o", "--output", help="write the last layer's outputs to this .npy")
    p.set_defaults(handler=run_golden_cmd)

    m = sub.add_parser("sim", help="run a compressed model on the RTL (Verilator) against the golden and cycle models",
                       description="Load an image folder into the Verilator build of its config, run every input "
                                   "vector through the RTL, compare every output with the golden model and every "
                                   "layer's cycles with the cycle model. Exit 0: everything matches; 1: a "
                                   "difference (the first is printed with a command that replays it); 2: bad input.")
    m.add_argument("images", help="image folder written by `eie compress` (holds manifest.json)")
    m.add_argument("--inputs", required=True,
                   help=".npy of fixed-point input vectors, shape (in_len,) or (batch, in_len)")
    m.add_argument("--config", help="expected config (preset or JSON): refuse images made for another")
    m.add_argument("-o", "--output", help="write the RTL's last-layer outputs to this .npy")
    m.add_argument("--labels", help=".npy of integer class labels, one per vector: report the RTL's accuracy")
    m.add_argument("--idle", type=float, default=0.0,
                   help="probability of an idle cycle on the input stream (default 0)")
    m.add_argument("--backpressure", type=float, default=0.0,
                   help="probability that the output stream's ready is low in a cycle (default 0)")
    m.add_argument("--load", choices=("protocol", "backdoor"), default="protocol",
                   help="how the images reach the memories: host commands (default) or direct writes")
    m.add_argument("--waves", action="store_true", help="write a waveform (FST; VCD without liblz4-dev)")
    m.add_argument("--seed", type=int, default=1, help="seed of the idle/backpressure pattern (default 1)")
    m.add_argument("--vectors", metavar="START:END", help="run only these input vectors (for replays)")
    m.add_argument("--chunk", type=int, help="vectors per design reset and image load (default: about 20 chunks)")
    m.add_argument("--work", help="work folder (default build/eie-sim/<config hash>)")
    m.set_defaults(handler=run_sim_cmd)

    r = sub.add_parser("regression",
                       help="run the RTL regression sweep on Verilator (cocotb) against the golden and cycle models")
    r.add_argument("--out", default="out/regression", help="output folder (summary.md, summary.json, runs)")
    r.add_argument("--seed", type=int, default=1, help="sweep seed: every case is generated from it (default 1)")
    r.add_argument("--quick", action="store_true", help="a small sweep (1, 4, 16 PEs; depths 1, 8; a third of the grid)")
    r.add_argument("--pes", help="comma-separated PE counts (default 1,2,4,8,16,64)")
    r.add_argument("--depths", help="comma-separated queue depths (default 1,2,8)")
    r.add_argument("--all-depths", action="store_true",
                   help="run 64 PEs at every queue depth too (default, unless --depths is given: "
                        "on the eie preset, depth 8, whose Verilator build LeNet and the benchmark share)")
    r.add_argument("--per-config", type=int, default=0, metavar="N",
                   help="add random cases (sim.regression.scale_cases: 1 entry up to full memories) until every "
                        "config has N cases (issue 13's 10,000-case sweep: 500 on the 20 configs)")
    r.add_argument("--only", help="run only cases whose name matches this regular expression")
    r.add_argument("--list", action="store_true", help="list the cases and exit")
    r.add_argument("--no-lenet", action="store_true", help="leave out LeNet-300-100 on the MNIST test split")
    r.add_argument("--lenet-images", help="image folder of a compressed LeNet-300-100 (default: make one)")
    r.add_argument("--lenet-config", default="eie,ice40",
                   help="comma-separated configs LeNet runs on (default eie,ice40)")
    r.add_argument("--no-cnn", action="store_true",
                   help="leave out the conv nets (LeNet-5 and a small CNN from PyTorch via ONNX) on MNIST test images")
    r.add_argument("--cnn-config", default="eie", help="comma-separated configs the conv nets run on (default eie)")
    r.add_argument("--cnn-images", type=int, default=20, metavar="N",
                   help="MNIST test images per conv net (default 20)")
    r.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", "2")),
                   help="simulations run in parallel (default: $JOBS or 2)")
    r.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the case batches on the Dask cluster at ADDRESS (tcp://host:8786), whose workers "
                        "share this file system (docs/verification.md); default: a Dask LocalCluster of --jobs "
                        "workers; 'threads': --jobs threads in this process, no Dask")
    r.add_argument("--batch", type=int, default=12, metavar="N",
                   help="cases per simulator process (default 12)")
    r.add_argument("--waves", action="store_true",
                   help="write a waveform of every case run (FST; VCD without liblz4-dev): for replaying one case")
    r.add_argument("--no-strict-cycles", action="store_true",
                   help="report cycle-model differences without failing the case")
    r.set_defaults(handler=run_regression_cmd)


def _load_inputs(path: str):
    import numpy as np
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise EIEError(f"cannot read inputs {path!r}: {e}") from None


def run_golden_cmd(args):
    import numpy as np

    from eie import numerics
    from eie.atomic import atomic_write_bytes
    from eie.config import get_config
    from eie.golden import GoldenModel

    cfg = get_config(args.config) if args.config else None
    from eie.images import read_images
    model_program = read_images(Path(args.images), cfg).program()
    model = GoldenModel(model_program)
    x = _load_inputs(args.inputs)
    if args.float:
        if not np.all(np.isfinite(x)):
            raise EIEError("inputs contain NaN or Inf")
        x = numerics.act_from_float(x, model.cfg)
    if model.network is not None:
        y = _golden_conv_net(model, model_program, x)
    else:
        y = model.run(x)                 # the model's order (a balanced encoding's is undone)
        batch = 1 if y.ndim == 1 else y.shape[0]
        print(f"golden model: {len(model.layers)} layers, {batch} input vector(s), config {model.cfg.hash}")
        from eie.cycle_model import network_timing
        first = x if x.ndim == 1 else x[0]
        timing = network_timing(model_program, first)
        print("cycle model (first input vector):")
        print(f"  {'layer':12} {'in':>6} {'out':>6} {'non-zero in':>11} {'cycles':>8} {'bound':>8} {'ratio':>6}")
        for layer, t in zip(model.layers, timing):
            print(f"  {layer.name:12} {layer.in_len:>6} {layer.out_len:>6} {t.broadcasts:>11} "
                  f"{t.cycles:>8} {t.bound:>8} {t.ratio:>6.3f}")
    if args.output:
        import io
        buf = io.BytesIO()
        np.save(buf, y)
        atomic_write_bytes(args.output, buf.getvalue())
        print(f"outputs written to {args.output}")
    else:
        print(np.array2string(y, threshold=64))
    return 0


def _golden_conv_net(model, program, x):
    """A conv net: outputs of every image, and the first image's RUNs, cycles and host bytes."""
    from eie.convnet import as_images
    from eie.convtiming import image_timing

    images, single = as_images(x, model.network, model.cfg)       # refuses a wrong image size
    y = model.run(x)
    c, h, w = model.network.input_shape
    print(f"golden model: conv net on {c}x{h}x{w} images, {len(model.layers)} layers, {len(images)} image(s), "
          f"config {model.cfg.hash}")
    t = image_timing(model, program, images[0])
    print("cycle model (first image; each conv runs once per im2col patch, pooling on the host):")
    print(f"  {'layers':16} {'RUNs':>6} {'cycles':>9} {'bound':>9} {'host bytes':>11}")
    for s in t.steps:
        print(f"  {s.name:16} {s.runs:>6} {s.cycles:>9} {s.bound:>9} {s.host_bytes:>11}")
    print(f"  {'total':16} {t.runs:>6} {t.cycles:>9} {'':>9} {t.host_bytes:>11}  (image and result alone: "
          f"{t.on_chip_bytes} bytes)")
    return y


def run_sim_cmd(args):
    import io
    import shutil

    import numpy as np

    from eie.atomic import atomic_write_bytes
    from . import regression, runner
    from .run_model import SimRequest, check_inputs, chunk_cases, parse_vectors, report

    req = SimRequest(images=Path(args.images), inputs=Path(args.inputs), config=args.config,
                     output=Path(args.output) if args.output else None,
                     labels=Path(args.labels) if args.labels else None, idle=args.idle,
                     backpressure=args.backpressure, load=args.load, waves=args.waves, seed=args.seed,
                     vectors=parse_vectors(args.vectors), chunk=args.chunk)
    images, x, labels = check_inputs(req)
    reason = runner.verilator_missing()
    if reason:
        raise EIEError(f"cannot simulate: {reason}")
    cfg = images.cfg
    work = Path(args.work) if args.work else runner.BUILD_ROOT / "eie-sim" / cfg.hash
    shutil.rmtree(work / "run", ignore_errors=True)
    cases, size = chunk_cases(req, images, x, work / "run" / "inputs")
    print(f"eie sim: {len(x)} vectors in {len(cases)} chunk(s) on config {cfg.hash} ({cfg.describe()}); "
          f"Verilator build in {runner.BUILD_ROOT / 'verilator'} (made once per config)", flush=True)
    results = regression.run_cases(cases, work / "run", waves=args.waves, progress=True, strict_cycles=True,
                                   max_batch=4)
    saved = [Path(c.tags["save_outputs"]) for c in cases]
    outputs = np.concatenate([np.load(p) for p in saved]) if all(p.exists() for p in saved) else None
    code, lines = report(req, images, results, size, labels, outputs)
    for line in lines:
        print(line)
    if args.waves:
        for p in sorted((work / "run" / "runs").glob("*/*/dump.*")):
            print(f"waveform: {p}")
    if req.output is not None and outputs is not None:
        buf = io.BytesIO()
        np.save(buf, outputs)
        atomic_write_bytes(req.output, buf.getvalue())
        print(f"RTL outputs written to {req.output}")
    return code


def run_regression_cmd(args):
    import json
    import re
    import time

    from sim import regression

    def ints(text, default):
        if not text:
            return default
        try:
            return tuple(int(t) for t in text.split(","))
        except ValueError:
            raise EIEError(f"expected comma-separated integers, not {text!r}") from None

    pes = ints(args.pes, regression.SCALE_PES if args.per_config else regression.SWEEP_PES)
    depths = ints(args.depths, regression.SWEEP_DEPTHS)
    if args.quick and not (args.pes or args.depths):
        cases = regression.quick_sweep(args.seed)
    else:
        # Explicit --depths apply to every PE count, 64 included.
        cases = regression.full_sweep(args.seed, pes, depths,
                                      presets=not (args.all_depths or args.depths), per_config=args.per_config)
    if not args.no_lenet:
        cases += regression.lenet_cases(Path(args.out) / "lenet", args.lenet_config, args.lenet_images)
    if not args.no_cnn:
        from sim.cnn_regression import cnn_cases

        if args.cnn_images < 1:
            raise EIEError(f"--cnn-images must be at least 1, not {args.cnn_images}")
        cases += cnn_cases(Path(args.out) / "cnn", args.cnn_config, images=args.cnn_images)
    if args.only:
        try:
            pat = re.compile(args.only)
        except re.error as e:
            raise EIEError(f"--only is not a valid regular expression: {e}") from None
        cases = [c for c in cases if pat.search(c.name)]
        if not cases:
            raise EIEError(f"no case matches {args.only!r} (see --list)")
    if args.list:
        for c in cases:
            print(f"{c.name}  [{c.cfg.hash}] shape {c.shape} load {c.load} seed {c.seed}")
        print(f"{len(cases)} cases")
        return 0
    out = Path(args.out)
    from sim.engine import make_engine
    try:
        engine = make_engine(args.scheduler, args.jobs)
    except (RuntimeError, OSError) as e:
        raise EIEError(f"cannot start the regression engine: {e}") from None
    print(f"regression: {len(cases)} cases on {len({c.cfg.hash for c in cases})} configs; {engine.describe()}",
          flush=True)
    t0 = time.monotonic()
    try:
        results = regression.run_cases(cases, out, jobs=args.jobs, waves=args.waves, max_batch=args.batch,
                                       strict_cycles=not args.no_strict_cycles, engine=engine)
    finally:
        engine.close()
    for r in results:
        if r["status"] not in ("pass", "skip"):
            r["replay"] = (f"eie regression --out out/replay --seed {args.seed} --only '^{re.escape(r['name'])}$' "
                           f"--waves" + (" --no-lenet" if not r["name"].startswith("lenet") else "")
                           + (" --no-cnn" if not r["name"].startswith("cnn") else ""))
    wall = time.monotonic() - t0
    extra = {"wall_seconds": round(wall, 1), "engine": engine.name, "scheduler": args.scheduler or "local",
             "cases_per_hour": round(len(results) * 3600 / wall, 1) if wall > 0 else None}
    try:
        extra["builds"] = json.loads((out / "builds.json").read_text())
    except (OSError, ValueError):
        pass
    lenet = regression.lenet_accuracy(results)
    if lenet:
        extra["lenet"] = lenet
    from sim.cnn_regression import cnn_summary

    cnn = cnn_summary(results)
    if cnn:
        extra["cnn"] = cnn
    s = regression.write_summary(results, out, seed=args.seed, extra=extra)
    ce = s["cycle_error"]
    print(f"regression: {s['passed']}/{s['cases']} cases passed "
          f"({', '.join(f'{v} {k}' for k, v in sorted(s['status'].items()))}); "
          f"{s['values_checked']} values checked; cycle error max {ce['max_abs']} "
          f"({ce['exact']}/{ce['checked']} layer runs exact); summary in {out / 'summary.md'}")
    skipped = [r for r in results if r["status"] == "skip"]
    if skipped:
        raise EIEError(f"{len(skipped)} case(s) could not run: {skipped[0]['error']}")
    for name, a in (lenet or {}).items():
        print(f"LeNet-300-100 on {name}: {a['images']} MNIST test images through the RTL, "
              f"{a['parts_passed']}/{a['parts']} parts bit-exact, RTL accuracy {a['accuracy_pct']:.2f} %")
    for name, a in cnn.items():
        cyc = (f", {a['cycles_per_image']:.0f} cycles per image ({100 * a['host_share']:.0f} % host traffic)"
               if a["cycles_per_image"] else "")
        print(f"{name}: {a['images']} MNIST test images through the RTL, {a['parts_passed']}/{a['parts']} parts "
              f"bit-exact, RTL accuracy {a['accuracy_pct']:.2f} %{cyc}")
    bad = [r for r in results if r["status"] not in ("pass", "skip")]
    for r in bad[:10]:
        print(f"  FAILED {r['name']}: {r.get('error')}\n    replay: {r['replay']}")
    if bad:
        raise EIEError(f"{len(bad)} regression case(s) failed (see {out / 'summary.md'})")
    return 0
