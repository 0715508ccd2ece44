"""Simulation speed of the 64-PE `eie` preset in Verilator, and the time to load images.

Three measurements on synthetic layers (1024 x 1024, 10 % weights, 35 % inputs; the raw run
on 4096 x 4096, 9 % weights, 35 % inputs, so that it lasts ~10 k cycles):

* raw Verilator speed: cycles per second of a RUN with Python out of the loop
  (`sim.tb.test_speed.raw_run`: the simulator runs until ``busy`` falls);
* testbench speed: cycles per second of the same RUN under the full testbench (the cocotb
  monitor samples the output stream every cycle, as in the regression);
* image loading, each way: through the host protocol (WRITE_MEM frames, one byte per
  cycle) and through the backdoor (direct writes into the named memories): seconds,
  simulated cycles, bytes or words, and the rate.

Plus the one-off costs: Verilog generation and the Verilator build of the preset.

    python -m bench.sim_speed --out out/bench
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from eie import contract
from eie import format as fmt
from eie.atomic import atomic_write_text
from eie.config import PRESETS
from eie.images import write_images

from .synthetic import synthetic_layer

__all__ = ["run", "main", "layer_case", "raw_run", "SHAPE", "RAW_SHAPE"]

SHAPE = (1024, 1024, 0.10, 0.35)
# The raw run needs a long RUN for a steady figure: Alex-7's shape (~10 k cycles on 64 PEs).
RAW_SHAPE = (4096, 4096, 0.09, 0.35)


def layer_case(cfg, work: Path, name: str, shape, seed: int, load: str, case_name: str):
    """A synthetic one-layer case of ``cfg``, its images and input written under ``work/name``."""
    from sim.cases import Case

    in_len, out_len, wd, xd = shape
    q, x = synthetic_layer(in_len, out_len, wd, xd, cfg, seed=seed, name=name)
    folder = work / name
    images = write_images(fmt.encode_network([q], cfg), folder / "images")
    np.save(folder / "inputs.npy", x[None, :])
    return Case(name=case_name, cfg=cfg, kind="images", shape=[in_len, out_len],
                weight_density=wd, input_density=xd, n_vectors=1, seed=seed, load=load,
                images=str(images), inputs=str(folder / "inputs.npy"))


RAW_RUNS = 5          # RUNs timed in the raw run; the median counts


def raw_run(build, cfg, work: Path, env: dict | None = None) -> dict:
    """`sim.tb.test_speed.raw_run` on ``build``: `RAW_RUNS` RUNs of the `RAW_SHAPE` layer with
    Python out of the loop, outputs checked; its result record (``cycles_per_second`` of the
    median run ...)."""
    rec = layer_case(cfg, work, "speed_raw", RAW_SHAPE, 8, "backdoor", "speed/raw").materialise(work / "raw")
    (work / "raw").mkdir(parents=True, exist_ok=True)
    (work / "raw" / "cases.json").write_text(json.dumps([rec]))
    raw_file = work / "raw" / "results.jsonl"
    raw_file.unlink(missing_ok=True)
    build.test("sim.tb.test_speed", test_dir=work / "raw" / "run", testcase="raw_run",
               env={"EIE_CASES": work / "raw" / "cases.json", "EIE_RESULTS": raw_file, "EIE_RAW_RUNS": RAW_RUNS,
                    **(env or {})},
               log_file=work / "raw" / "sim.log")
    if not raw_file.exists():
        raise RuntimeError(f"the raw Verilator run wrote no result; see {work / 'raw' / 'sim.log'}")
    return json.loads(raw_file.read_text().splitlines()[-1])


def run(out: Path, *, config: str = "eie", progress: bool = True, log=print) -> dict:
    from sim import runner, regression
    from sim.cases import Case

    out = Path(out)
    work = out.resolve() / "sim_speed"      # the simulator runs in its own folder: no relative paths
    cfg = PRESETS[config]
    reason = runner.verilator_missing()
    if reason:
        raise RuntimeError(reason)

    t = time.monotonic()
    vpath = runner.verilog_for(cfg)
    verilog_s = time.monotonic() - t
    stamp = json.loads((vpath.parent / "stamp.json").read_text())
    t = time.monotonic()
    build = runner.get_build(cfg)
    build_s = time.monotonic() - t
    stamp_b = json.loads((build.build_dir / "stamp.json").read_text())
    log(f"sim_speed: Verilog {stamp.get('bytes')} bytes generated in {stamp.get('generate_seconds')} s "
        f"(this call {verilog_s:.1f} s); Verilator build {stamp_b.get('seconds')} s (this call {build_s:.1f} s)")

    # Full testbench, both load paths (same case otherwise).
    backdoor = layer_case(cfg, work, "speed", SHAPE, 7, "backdoor", "speed/backdoor")
    protocol = Case.from_dict({**backdoor.to_dict(), "name": "speed/protocol", "load": "protocol"})
    # The testbench's speed on the raw run's (long) layer: the RUN with the monitor waiting.
    long_run = layer_case(cfg, work, "speed_tb", RAW_SHAPE, 8, "backdoor", "speed/long")
    cases = [backdoor, protocol, long_run]
    res = {r["name"].split("/")[1]: r for r in
           regression.run_cases(cases, work / "tb", progress=progress, strict_cycles=False)}
    for r in res.values():
        if r["status"] != "pass":
            raise RuntimeError(f"sim_speed case {r['name']} failed: {r.get('error')}")

    # Raw run, on a larger layer loaded through the backdoor.
    raw = raw_run(build, cfg, work)

    from eie.images import read_images

    imgs = read_images(backdoor.images, cfg)
    mems = contract.memory_table(cfg)
    prot_bytes = 0
    words = 0
    for k in range(cfg.n_pe):
        for mem in contract.PE_IMAGE_MEMS:
            n = len(imgs.pe_memory(mem, k))
            words += n
            prot_bytes += n * mems[mem].nbytes
    bd, pr, lr = res["backdoor"], res["protocol"], res["long"]
    data = {
        "config": config, "config_hash": cfg.hash, "n_pe": cfg.n_pe, "host_bits": cfg.host_bits,
        "layer": list(SHAPE),
        "raw_layer": list(RAW_SHAPE),
        "verilog": {"generated_bytes": stamp.get("bytes"), "simulated_bytes": stamp.get("bytes"),
                    "generate_seconds": stamp.get("generate_seconds")},
        "verilator_build_seconds": stamp_b.get("seconds"),
        "verilator_build_cpu_seconds": stamp_b.get("cpu_seconds"),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "raw_run": raw,
        "testbench_run": {"cycles": lr.get("run_sim_cycles"), "seconds": lr.get("run_seconds"),
                          "cycles_per_second": (lr["run_sim_cycles"] / lr["run_seconds"])
                          if lr.get("run_seconds") else None,
                          "cpu_seconds": lr.get("run_cpu_seconds"),
                          "cycles_per_cpu_second": (lr["run_sim_cycles"] / lr["run_cpu_seconds"])
                          if lr.get("run_cpu_seconds") else None,
                          "whole_case": {"cycles": lr.get("sim_cycles"), "seconds": lr.get("wall_seconds"),
                                         "cycles_per_second": lr["sim_cycles"] / lr["wall_seconds"]
                                         if lr.get("wall_seconds") else None}},
        "load": {
            "protocol": {"seconds": pr["load_seconds"], "cycles": pr["load_cycles"], "payload_bytes": prot_bytes,
                         "bytes_per_second": prot_bytes / pr["load_seconds"] if pr["load_seconds"] else None},
            "backdoor": {"seconds": bd["load_seconds"], "words": words,
                         "words_per_second": words / bd["load_seconds"] if bd["load_seconds"] else None},
        },
    }
    data["load"]["speedup"] = (pr["load_seconds"] / bd["load_seconds"]) if bd["load_seconds"] else None
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "sim_speed.json", json.dumps(data, indent=1) + "\n")
    atomic_write_text(out / "sim_speed.md", markdown(data))
    return data


def markdown(d: dict) -> str:
    raw, tb, lp, lb = d["raw_run"], d["testbench_run"], d["load"]["protocol"], d["load"]["backdoor"]
    i, o, wd, xd = d["layer"]
    ri, ro, rwd, rxd = d["raw_layer"]
    v = d["verilog"]
    whole = tb["whole_case"]
    return "\n".join([
        "# Simulation speed",
        "",
        f"Config `{d['config']}` ({d['n_pe']} PEs, {d['host_bits']}-bit host port, hash {d['config_hash']}) "
        f"in Verilator; loads of a {i}×{o} layer ({100 * wd:g} % weights, {100 * xd:g} % inputs); RUNs of a "
        f"{ri}×{ro} layer ({100 * rwd:g} % weights, {100 * rxd:g} % inputs).",
        "",
        "| measurement | value |",
        "|---|---|",
        f"| Verilator, RUN alone (no Python per cycle; median of {len(raw['runs'])}) | "
        f"{raw['cycles_per_second']:,.0f} cycles/s ({raw['busy_cycles']} cycles in {raw['wall_seconds']:.2f} s; "
        f"{raw['cycles_per_cpu_second']:,.0f} per CPU second) |",
        f"| full testbench, the same RUN (the cocotb monitor waiting on the output stream) | "
        f"{tb['cycles_per_second']:,.0f} cycles/s ({tb['cycles']} cycles in {tb['seconds']:.2f} s"
        + (f"; {tb['cycles_per_cpu_second']:,.0f} per CPU second" if tb.get("cycles_per_cpu_second") else "")
        + ") |",
        f"| full testbench, that whole case (reset, backdoor load, input, RUN, read-backs, counters) | "
        f"{whole['cycles_per_second']:,.0f} cycles/s ({whole['cycles']} cycles in {whole['seconds']:.2f} s) |",
        f"| image load through the protocol | {lp['seconds']:.1f} s, {lp['cycles']:,} cycles, "
        f"{lp['payload_bytes']:,} payload bytes ({lp['bytes_per_second']:,.0f} B/s, "
        f"{lp['payload_bytes'] / lp['cycles']:.2f} B/cycle) |",
        f"| image load through the backdoor | {lb['seconds']:.2f} s, {lb['words']:,} words "
        f"({lb['words_per_second']:,.0f} words/s) |",
        f"| backdoor speed-up | {d['load']['speedup']:.0f}× |" if d["load"]["speedup"] else "| backdoor speed-up | n/a |",
        f"| Verilog (once per hw change) | {v['generated_bytes']:,} bytes, generated in {v['generate_seconds']} s |",
        f"| Verilator build (once per Verilog change) | {d['verilator_build_seconds']} s"
        + (f" ({d['verilator_build_cpu_seconds']} CPU seconds of Verilator, make and g++)"
           if d.get("verilator_build_cpu_seconds") is not None else "") + " |",
        "",
        f"Load average when it finished: {d['load_average']:.1f} (2 cores); wall-clock figures are shares "
        "of a busy machine, CPU-second figures what the simulator itself costs." if d.get("load_average") else "",
    ]) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.sim_speed", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out/bench")
    p.add_argument("--config", default="eie")
    args = p.parse_args(argv)
    print(markdown(run(Path(args.out), config=args.config)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
