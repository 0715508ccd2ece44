"""hw.netlist: the PE is one module instantiated N times, and all-zero memory contents go
(non-zero contents stay)."""

import re

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from eie.config import PRESETS
from hw import netlist


class TwoMemories(wiring.Component):
    addr: In(2)
    a: Out(8)
    b: Out(8)

    def elaborate(self, platform):
        m = Module()
        m.submodules.zeros = zeros = Memory(shape=8, depth=4, init=[])
        m.submodules.rom = rom = Memory(shape=8, depth=4, init=[0, 5, 0, 7])
        za, ra = zeros.read_port(domain="comb"), rom.read_port(domain="comb")
        m.d.comb += [za.addr.eq(self.addr), ra.addr.eq(self.addr), self.a.eq(za.data), self.b.eq(ra.data)]
        return m


def test_zero_contents_go_and_others_stay():
    text = netlist.to_rtlil(TwoMemories(), "two")
    assert text.count("$meminit_v2") == 1 and "\\\\rom" in text.split("$meminit_v2")[1][:80]
    verilog = netlist.to_verilog(text)
    assert re.search(r"rom\[\d\] = 8'(h|d)0?5;", verilog), verilog
    assert not re.search(r"zeros\[\d\] = ", verilog), verilog


def test_pe_written_once():
    cfg = PRESETS["tiny"]
    text = netlist.design_verilog(cfg)
    pe = netlist.pe_module_name(cfg)
    assert len(re.findall(rf"^module {pe}\(", text, re.M)) == 1
    assert len(re.findall(rf"^\s*{pe} pe\d+ \(", text, re.M)) == cfg.n_pe
    assert not re.search(r"\[\d+\] = \d+'", text), "a memory word is initialised"


def test_attributes_of_a_dropped_cell_go_with_it():
    from amaranth.back import rtlil
    text = rtlil.convert(TwoMemories(), name="two", emit_src=True)
    stripped = netlist.strip_zero_meminit(text)
    assert stripped.count("$meminit_v2") == 1
    # The dropped cell's own `attribute \src` line (it names the line that made the memory,
    # as the memory's declaration does) leaves with it; nothing dangles before an `end`.
    line = TwoMemories.elaborate.__code__.co_firstlineno + 2          # `zeros = Memory(...)`
    tag = f'test_hw_netlist.py:{line}"'
    assert stripped.count(tag) == text.count(tag) - 1, (text.count(tag), stripped.count(tag))
    lines = stripped.splitlines()
    assert not [a for a, b in zip(lines, lines[1:]) if a.strip().startswith("attribute") and b.strip() in ("", "end")]
    netlist.to_verilog(stripped)        # Yosys reads it
