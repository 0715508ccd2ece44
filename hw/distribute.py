"""Distribution between the CCU and the PEs. In the registered build (`eie.timing.registered`)
every CCU -> PE signal starts and ends in a register, and so does every PE -> CCU answer; in
the compact build (a few PEs on a small FPGA) the same connections are direct wires.

* **Forward trees.** The `hw.layouts.PECompute` members and the host bus pass through
  `eie.timing.forward_stages` levels of registers, as two words (the 1-bit members, which
  reset, and the wider ones with the bus's address and data, which do not); a register
  feeds at most `eie.timing.FANOUT` registers of the next level, and the last level has one
  register per PE (`tree_copies`), so each PE's inputs start in a register
  of its own, which the placer can put beside it. The host bus's read and write enables are
  decoded per PE in the last level (a bit per PE), and so are the per-PE ``stall`` bits. The
  PEs' resets come out of the same kind of tree (``pe_rst``, a register per PE last), so the
  global reset net drives FANOUT loads, not every flop of every PE.
* **Answers.** A PE's ``pop`` and ``scan_data`` pass two registers
  (`eie.timing.return_stages`); ``idle`` and ``ready`` are ANDed and the PEs' bus read data
  ORed by trees with a register per level (at most FANOUT inputs per node); the performance
  counters are registered once beside the CCU (they are read in I/O mode, long after they
  last changed). Per-PE registers are N-bit registers, a bit per PE: one statement in the
  Verilog instead of N.
* **PE side.** PE k's `hw.layouts.PELink` is two words (`hw.layouts.link_layouts`),
  ``pe_in[k]`` and ``pe_out[k]``, so the Verilog has one port each way, not one per member
  and PE.
* **Host reads.** The command engine expects read data the cycle after its read; the bus
  takes `eie.timing.host_read_latency` cycles. ``hold`` keeps the engine in its read cycle
  (its FETCH state: the beat adapters and everything else run on) until the data is back; ``fetch`` is the engine's read cycle
  (its layer-table read, which it does in exactly that state, ``CommandEngine.table_re``).

Replicated registers would be merged back into one by Yosys (they have the same input): the
FPGA builds mark every register of this module ``keep`` before synthesis (`KEEP_SCRIPT`; by
module, since a register's output wire takes the name of the port it drives).
"""

from __future__ import annotations

from amaranth.hdl import C, Module, Signal, ResetSignal, Cat, Value, Shape
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig
from eie import timing
from .layouts import (BUS_WORDS, ConfigComponent, PECompute, PEBus, is_control, link_layouts,
                      link_name, link_paths, one_net, shared_paths)

__all__ = ["Distributor", "KEEP_SCRIPT", "tree_copies", "forward_words"]

# A Yosys command (run after reading the design, before synthesis) that keeps the replicated
# registers: every flip-flop of the distributor's module (named ``<parent>.distribute``).
KEEP_SCRIPT = "setattr -set keep 1 *.distribute/t:$dff"


def tree_copies(n_pe: int) -> list[int]:
    """Registers per level of a forward tree over ``n_pe`` PEs, from the CCU's side (none in
    the compact build): one per PE in the last level, each level above it a FANOUT-th of
    the one below (rounded up)."""
    levels = timing.forward_stages(n_pe)
    return [-(-n_pe // timing.FANOUT ** (levels - 1 - j)) for j in range(levels)]


def forward_words(cfg: EIEConfig) -> list[tuple[str, bool, list[tuple[tuple, int]]]]:
    """The forward trees' words as the distributor builds them: ``(name, reset, [(member
    path, width), ...])`` in bit order, the registers named ``dup_<name>_<level>_<copy>``
    (`tree_copies`): the 1-bit `PECompute` members (``ctl``, which reset) and
    the wider ones with the bus's ``mem``, ``addr`` and ``wdata`` (``data``, which do not),
    in the order of `to_pe`.

    Every word's last level has a register per PE. With one register for up to FANOUT PEs,
    Yosys merged the logic of PEs that see the same register (the act-file address
    multiplexers), and the one register drove loads across the chip: the act files' address,
    then the bias memory's (docs/fpga.md)."""
    to_pe, _ = link_paths(cfg)
    shared = set(shared_paths(cfg))
    members = [(p, Shape.cast(s).width) for p, s in to_pe if p in shared]
    words = []
    for name, reset in (("ctl", True), ("data", False)):
        group = [(p, w) for p, w in members if is_control(p, w) == reset]
        if group:
            words.append((name, reset, group))
    return words


class Distributor(ConfigComponent):
    """Ports (CCU side): ``compute`` (`PECompute`, from the sequencer), ``stall`` (N bits),
    ``bus`` (`PEBus`, from the command engine) with ``bus_pe``/``bus_all``, ``fetch``/``hold``;
    answers ``pop``, ``scan_data``, ``idle`` (all PEs), ``ready`` (all PEs). PE side: ``pe_in[k]`` and ``pe_out[k]`` (PE k's `PELink` as the two
    words of `hw.layouts.link_layouts`), ``pe_rst`` (N resets)."""

    def _ports(self, cfg: EIEConfig):
        n = cfg.n_pe
        to_pe, from_pe = link_layouts(cfg)
        return {
            "compute": In(PECompute(cfg)),
            "stall": In(n),
            "bus": In(PEBus(cfg)),
            "bus_pe": In(cfg.pe_bits),
            "bus_all": In(1),
            "fetch": In(1),
            "hold": Out(1),
            # Flat vectors, PE 0 in the low bits: the YoWASP Yosys's ABC9 crashes on a module
            # whose array-typed output port a register drives (docs/fpga.md).
            "pop": Out(n),
            "scan_data": Out(n * cfg.act_bits),
            "idle": Out(1),
            "ready": Out(1),
            "pe_in": Out(data.ArrayLayout(to_pe, n)),
            "pe_out": In(data.ArrayLayout(from_pe, n)),
            "pe_rst": Out(n),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        n = cfg.n_pe
        to_pe, _ = link_layouts(cfg)
        ins = [Signal(to_pe, name=f"to_pe{k}") for k in range(n)]
        m.d.comb += self.pe_in.eq(one_net(Cat(*ins)))
        # Forward: what every PE sees alike, as words (`forward_words`), each word's members
        # in the order of `to_pe`; the reset.
        values = {tuple(p): Value.cast(v) for p, _, v in self.compute.signature.flatten(self.compute)}
        values.update({("bus", name): getattr(self.bus, name) for name in BUS_WORDS})
        for name, reset, group in forward_words(cfg):
            leaves = self._tree(m, Cat(*[values[p] for p, _ in group]), name, reset=reset)
            for k, leaf in enumerate(leaves):
                pos = 0
                for p, width in group:
                    m.d.comb += ins[k][link_name(p)].eq(leaf[pos:pos + width])
                    pos += width
        re = Signal()
        rst = self._tree(m, ResetSignal(), "rst", reset=False, init=1)
        m.d.comb += self.pe_rst.eq(one_net(Cat(*rst)))
        # The bus enables, decoded per PE in the last level (the levels above it: one fewer
        # than the tree's, the first one fanning out from here), for the PEs sharing a copy
        # at once; the stall bits, one chain each (a register of N bits per stage).
        bus = self.bus
        sel = Cat(re, bus.we, self.bus_all, self.bus_pe)
        pre = self._tree(m, sel, "bus_sel", reset=True, copies=tree_copies(n)[:-1])
        last_level = m.d.sync if timing.registered(n) else m.d.comb
        dec_re, dec_we = Signal(n, name="re_pes"), Signal(n, name="we_pes")
        k = 0
        while k < n:
            end = k
            while end < n and pre[end] is pre[k]:
                end += 1
            src, width = pre[k], end - k
            hit = (C(1, 1) << src[3:])[k:end]         # bit j: PE k + j is the one addressed
            last_level += [dec_re[k:end].eq(src[0].replicate(width) & hit),
                           dec_we[k:end].eq(src[1].replicate(width) & (src[2].replicate(width) | hit))]
            k = end
        stall = self.stall
        for j in range(timing.forward_stages(n)):
            r = Signal(n, name=f"stall_{j}")
            m.d.sync += r.eq(stall)
            stall = r
        for k in range(n):
            m.d.comb += [ins[k].bus__re.eq(dec_re[k]), ins[k].bus__we.eq(dec_we[k]), ins[k].stall.eq(stall[k])]
        self._answers(m)
        self._read_wait(m, re)
        return m

    def _tree(self, m, value, name, *, reset, init=0, copies=None):
        """``value`` through the register levels of a forward tree (``copies`` per level,
        default `tree_copies`); returns, per PE, what feeds it: a register of the last level,
        or ``value`` itself if there are no levels."""
        n = self._cfg.n_pe
        level = [value]
        for j, count in enumerate(tree_copies(n) if copies is None else copies):
            regs = []
            for c in range(count):
                r = Signal(len(value), name=f"dup_{name}_{j}_{c}", reset_less=not reset, init=init)
                m.d.sync += r.eq(level[c * len(level) // count])
                regs.append(r)
            level = regs
        span = -(-n // len(level))
        return [level[k // span] for k in range(n)]

    def _answers(self, m):
        """PE -> CCU: pops and scanned slots (two registers), idle and ready (AND trees), the
        bus read data (an OR tree; the PEs' counters come this way too); a register of all N
        PEs per stage."""
        n = self._cfg.n_pe
        outs = self.pe_out
        for name, field, reset in (("pop", "pop", True), ("scan_data", "scan_data", False)):
            value = Cat(*[outs[k][field] for k in range(n)])
            for stage in range(timing.return_stages(n)):
                r = Signal(len(value), name=f"ret_{name}_{stage}", reset_less=not reset)
                m.d.sync += r.eq(value)
                value = r
            m.d.comb += getattr(self, name).eq(value)
        m.d.comb += [self.idle.eq(self._reduce(m, [outs[k].idle for k in range(n)], "idle", "and", leaf=True)),
                     self.ready.eq(self._reduce(m, [outs[k].ready for k in range(n)], "ready", "and", leaf=True)),
                     self.bus.rdata.eq(self._reduce(m, [outs[k].bus__rdata for k in range(n)], "rdata", "or"))]

    def _reduce(self, m, values, name, op, *, leaf=False):
        """AND or OR of the PEs' ``values``: a register per PE (``leaf``: one of N bits), then
        one per node of a tree with at most FANOUT inputs per node (compact build: the AND or
        OR itself)."""
        if not timing.registered(self._cfg.n_pe):
            acc = values[0]
            for v in values[1:]:
                acc = (acc & v) if op == "and" else (acc | v)
            return acc
        if leaf:
            r = Signal(len(values), name=f"{name}_pes")
            m.d.sync += r.eq(Cat(*values))
            values = [r[k] for k in range(len(values))]
        for j in range(timing.tree_levels(self._cfg.n_pe)):
            groups = [values[i:i + timing.FANOUT] for i in range(0, len(values), timing.FANOUT)]
            nxt = []
            for g, group in enumerate(groups):
                width = len(Value.cast(group[0]))
                r = Signal(width, name=f"{name}_{j}_{g}", reset_less=width > 1)
                acc = group[0]
                for v in group[1:]:
                    acc = (acc & v) if op == "and" else (acc | v)
                m.d.sync += r.eq(acc)
                nxt.append(r)
            values = nxt
        return values[0]

    def _read_wait(self, m, re):
        """``hold`` the engine in its read cycle until the data is back; the read goes out
        once (``re``), in the first of those cycles."""
        lat = timing.host_read_latency(self._cfg.n_pe)
        wait = Signal(range(lat))
        m.d.comb += [self.hold.eq(self.fetch & (wait != lat - 1)), re.eq(self.bus.re & (wait == 0))]
        with m.If(self.hold):
            m.d.sync += wait.eq(wait + 1)
        with m.Else():
            m.d.sync += wait.eq(0)
