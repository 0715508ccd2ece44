"""What each Verilator setting buys on the 64-PE `eie` preset: build time and raw RUN speed.

`sim.runner` builds the design for speed in four ways the cocotb runner does not; this
benchmark builds the preset's Verilog once per step, adding one setting at a time, and runs
the raw RUN of `bench.sim_speed` (Python out of the loop) on each:

1. the cocotb runner's build: every signal public (``--public-flat-rw``), the PE inlined
   64 times, the C++ at Verilator's default ``-Os``, the clock toggled by a Python coroutine;
2. only the top's ports and the backdoor memories public (a control file);
3. the PE not inlined (one C++ class run 64 times);
4. the C++ at ``-O2``;
5. the clock toggled inside the simulator (cocotb's GPI clock);
6. the PE's Verilog with its resets inside the flops (`hw.netlist`): today's build.

Steps 1-5 build the Verilog without step 6 (``design_verilog(flop_resets=False)``). It also
verilates the design once with ``--report-unoptflat`` and counts UNOPTFLAT warnings
(combinational loops Verilator has to iterate). Steps 4 and 5 share a build.

    python -m bench.verilator_steps --out out/bench
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from eie.atomic import atomic_write_text
from eie.config import PRESETS

__all__ = ["STEPS", "run", "markdown", "main"]

# (what the step adds, every signal public, PE inlined, C++ optimisation, clock, flop resets)
STEPS = [
    ("the cocotb runner's build", True, True, "-Os", "py", False),
    ("only ports and backdoor memories public", False, True, "-Os", "py", False),
    ("the PE not inlined", False, False, "-Os", "py", False),
    ("C++ at -O2", False, False, "-O2", "py", False),
    ("clock in the simulator (GPI)", False, False, "-O2", "gpi", False),
    ("PE resets inside the flops (Verilog)", False, False, "-O2", "gpi", True),
]


def unoptflat_warnings(verilog: Path, top: str, control: Path) -> int:
    """UNOPTFLAT warnings of ``verilator --cc --report-unoptflat`` on the design."""
    from eie.tools import ensure_verilator_path

    ensure_verilator_path()
    with tempfile.TemporaryDirectory(prefix="eie-unoptflat-") as tmp:
        res = subprocess.run(["verilator", "--cc", "-Mdir", tmp, "--top-module", top, "-Wno-fatal", "-Wno-lint",
                              "-Wno-style", "--report-unoptflat", str(control), str(verilog)],
                             capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(f"verilator --report-unoptflat failed: {res.stderr[-2000:]}")
    return len(re.findall(r"%Warning-UNOPTFLAT", res.stdout + res.stderr))


def _build(cfg, verilog: Path, public_all: bool, inline_pe: bool, opt: str, flop_resets: bool):
    from sim import runner

    if flop_resets:
        return runner.get_build(cfg)                    # today's build: the cache is shared
    control = None if public_all else runner.design_control(cfg, verilog.read_text(), inline_pe=inline_pe)
    name = f"steps-{cfg.hash}-{'all' if public_all else 'ports'}-{'inline' if inline_pe else 'pe'}{opt}"
    return runner.build_from_verilog([verilog], runner.toplevel_for(cfg), name, cfg=cfg, control=control,
                                     make_vars={"OPT_FAST": opt, "OPT_GLOBAL": opt})


def _plain_verilog(cfg, work: Path) -> Path:
    """The design's Verilog without the PE's resets in its flops (steps 1-5)."""
    from hw.netlist import design_verilog, top_name

    path = work / "plain" / f"{top_name(cfg)}.v"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = design_verilog(cfg, flop_resets=False)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def run(out: Path, *, config: str = "eie", log=print) -> dict:
    from sim import runner
    from .sim_speed import raw_run

    out = Path(out)
    work = out.resolve() / "verilator_steps"
    cfg = PRESETS[config]
    reason = runner.verilator_missing()
    if reason:
        raise RuntimeError(reason)
    verilog, plain = runner.verilog_for(cfg), _plain_verilog(cfg, work)
    rows, builds = [], {}
    for i, (what, public_all, inline_pe, opt, clock, flop_resets) in enumerate(STEPS, 1):
        key = (public_all, inline_pe, opt, flop_resets)
        if key not in builds:
            build = _build(cfg, verilog if flop_resets else plain, public_all, inline_pe, opt, flop_resets)
            stamp = json.loads((build.build_dir / "stamp.json").read_text())
            builds[key] = (build, stamp["seconds"], _model_size(build.build_dir / "build.log"))
        build, seconds, size = builds[key]
        raw = raw_run(build, cfg, work / f"step{i}", env={"EIE_CLOCK_IMPL": clock})
        rows.append({"step": i, "adds": what, "public": "all" if public_all else "ports + backdoor memories",
                     "pe_inlined": inline_pe, "cxx_opt": opt, "clock": clock, "flop_resets": flop_resets,
                     "verilog_bytes": (verilog if flop_resets else plain).stat().st_size, "build_seconds": seconds,
                     "cxx_mb": size, "cycles_per_second": raw["cycles_per_second"],
                     "cycles_per_cpu_second": raw["cycles_per_cpu_second"], "raw_run": raw})
        log(f"step {i} ({what}): build {seconds} s, {raw['cycles_per_second']:,.0f} cycles/s")
    control = work / "public.vlt"
    control.parent.mkdir(parents=True, exist_ok=True)
    control.write_text(runner.design_control(cfg, verilog.read_text()))
    data = {"config": config, "config_hash": cfg.hash, "n_pe": cfg.n_pe, "steps": rows,
            "unoptflat_warnings": unoptflat_warnings(verilog, runner.toplevel_for(cfg), control)}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "verilator_steps.json", json.dumps(data, indent=1) + "\n")
    atomic_write_text(out / "verilator_steps.md", markdown(data))
    return data


def _model_size(log: Path) -> float | None:
    """MB of C++ Verilator wrote (its report line in the build log)."""
    try:
        mo = re.search(r"into ([\d.]+) MB in \d+ C\+\+ files", log.read_text())
    except OSError:
        return None
    return float(mo.group(1)) if mo else None


def markdown(d: dict) -> str:
    lines = ["# Verilator settings, one at a time", "",
             f"Config `{d['config']}` ({d['n_pe']} PEs, hash {d['config_hash']}); raw RUN of `bench.sim_speed` "
             "(Python out of the loop) on each build. Build times are on the machine as it was (shared cores).", "",
             "| step | adds | public | PE inlined | C++ | clock | Verilog KB | C++ MB | build s | RUN cycles/s | per CPU s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in d["steps"]:
        lines.append(f"| {r['step']} | {r['adds']} | {r['public']} | {'yes' if r['pe_inlined'] else 'no'} | "
                     f"{r['cxx_opt']} | {r['clock']} | {r['verilog_bytes'] / 1000:.0f} | "
                     f"{r['cxx_mb'] if r['cxx_mb'] is not None else 'n/a'} | "
                     f"{r['build_seconds']} | {r['cycles_per_second']:,.0f} | {r['cycles_per_cpu_second']:,.0f} |")
    lines += ["", "RUN cycles/s: simulated cycles over wall seconds (median of the raw run's RUNs); per CPU s: "
                  "over the simulator process's CPU seconds, which other jobs on the machine move less."]
    lines += ["", f"`--report-unoptflat`: {d['unoptflat_warnings']} UNOPTFLAT warning(s)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.verilator_steps", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out/bench")
    p.add_argument("--config", default="eie")
    args = p.parse_args(argv)
    print(markdown(run(Path(args.out), config=args.config)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
