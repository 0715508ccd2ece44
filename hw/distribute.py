"""Distribution between the CCU and the PEs. In the registered build (`eie.timing.registered`)
every CCU -> PE signal starts and ends in a register, and so does every PE -> CCU answer; in
the compact build (a few PEs on a small FPGA) the same connections are direct wires.

* **Forward trees.** Each `hw.layouts.PECompute` member and the host bus pass through
  `eie.timing.forward_stages` levels of registers; a register feeds at most
  `eie.timing.FANOUT` registers of the next level, and one of the last level feeds at most
  FANOUT PEs. The host bus's read and write enables are decoded per PE in the last level (one
  register per PE), and so are the per-PE ``stall`` bits. The PEs' resets come out of the
  same kind of tree (``pe_rst``), so the global reset net drives FANOUT loads, not every
  flop of every PE.
* **Answers.** A PE's ``pop`` and ``scan_data`` pass two registers
  (`eie.timing.return_stages`); ``idle`` and ``ready`` are ANDed and the PEs' bus read data
  ORed by trees with a register per level (at most FANOUT inputs per node); the performance
  counters are registered once beside the CCU (they are read in I/O mode, long after they
  last changed).
* **Host reads.** The command engine expects read data the cycle after its read; the bus
  takes `eie.timing.host_read_latency` cycles. ``hold`` keeps the engine in its read cycle
  (its FETCH state: the beat adapters and everything else run on) until the data is back; ``fetch`` is the engine's read cycle
  (its layer-table read, which it does in exactly that state, ``CommandEngine.table_re``).

Replicated registers would be merged back into one by Yosys (they have the same input): the
FPGA builds mark every register of this module ``keep`` before synthesis (`KEEP_SCRIPT`; by
module, since a register's output wire takes the name of the port it drives).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, ResetSignal, Cat, Value, signed
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig
from eie import timing
from .layouts import COUNTER_BITS, ConfigComponent, PECompute, PEBus, PELink

__all__ = ["Distributor", "KEEP_SCRIPT", "tree_copies"]

# A Yosys command (run after reading the design, before synthesis) that keeps the replicated
# registers: every flip-flop of the distributor's module (named ``<parent>.distribute``).
KEEP_SCRIPT = "setattr -set keep 1 *.distribute/t:$dff"


def tree_copies(n_pe: int) -> list[int]:
    """Registers per level of a forward tree over ``n_pe`` PEs, from the CCU's side (none in
    the compact build)."""
    levels = timing.forward_stages(n_pe)
    return [-(-n_pe // timing.FANOUT ** (levels - j)) for j in range(levels)]


class Distributor(ConfigComponent):
    """Ports (CCU side): ``compute`` (`PECompute`, from the sequencer), ``stall`` (N bits),
    ``bus`` (`PEBus`, from the command engine) with ``bus_pe``/``bus_all``, ``fetch``/``hold``;
    answers ``pop``, ``scan_data``, ``idle`` (all PEs), ``ready`` (all PEs), ``busy_counts``,
    ``stall_counts``. PE side: ``pes`` (one `PELink` each), ``pe_rst`` (N resets)."""

    def _ports(self, cfg: EIEConfig):
        n = cfg.n_pe
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
            "busy_counts": Out(n * COUNTER_BITS),
            "stall_counts": Out(n * COUNTER_BITS),
            "pes": Out(PELink(cfg)).array(n),
            "pe_rst": Out(n),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        n = cfg.n_pe
        # Forward: every PECompute member, the bus's address and data, the reset.
        for path, _, value in self.compute.signature.flatten(self.compute):
            name = "_".join(str(p) for p in path)
            value = Value.cast(value)
            for k, leaf in enumerate(self._tree(m, value, name, reset=len(value) == 1)):
                m.d.comb += _member(self.pes[k], path).eq(leaf)
        bus = self.bus
        re = Signal()
        for name in ("mem", "addr", "wdata"):
            for k, leaf in enumerate(self._tree(m, getattr(bus, name), f"bus_{name}", reset=False)):
                m.d.comb += getattr(self.pes[k].bus, name).eq(leaf)
        for k, leaf in enumerate(self._tree(m, ResetSignal(), "rst", reset=False, init=1)):
            m.d.comb += self.pe_rst[k].eq(leaf)
        # The bus enables, decoded per PE in the last level (the levels above it: one fewer
        # than the tree's, the first one fanning out from here); the stall bits, one chain each.
        sel = Cat(re, bus.we, self.bus_all, self.bus_pe)
        pre = self._tree(m, sel, "bus_sel", reset=True, copies=tree_copies(n)[1:])
        last_level = m.d.sync if timing.registered(n) else m.d.comb
        for k, link in enumerate(self.pes):
            re_k, we_k, all_k, pe_k = pre[k][0], pre[k][1], pre[k][2], pre[k][3:]
            dec_re, dec_we = Signal(name=f"re_pe{k}"), Signal(name=f"we_pe{k}")
            last_level += [dec_re.eq(re_k & (pe_k == k)), dec_we.eq(we_k & (all_k | (pe_k == k)))]
            stall = self.stall[k]
            for j in range(timing.forward_stages(n)):
                r = Signal(name=f"stall_pe{k}_{j}")
                m.d.sync += r.eq(stall)
                stall = r
            m.d.comb += [link.bus.re.eq(dec_re), link.bus.we.eq(dec_we), link.stall.eq(stall)]
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
        """PE -> CCU: pops and scanned slots (two registers), counters (one), idle and ready
        (AND trees), the bus read data (an OR tree)."""
        outs = {"pop": [], "scan_data": [], "busy_counts": [], "stall_counts": []}
        for k, link in enumerate(self.pes):
            for src, name in ((link.pop, "pop"), (link.scan_data, "scan_data")):
                value = src
                for stage in range(timing.return_stages(len(self.pes))):
                    r = Signal(len(src), name=f"ret_{name}{k}_{stage}", reset_less=len(src) > 1)
                    m.d.sync += r.eq(value)
                    value = r
                outs[name].append(value)
            for src, name in ((link.busy_count, "busy_counts"), (link.stall_count, "stall_counts")):
                if timing.registered(len(self.pes)):
                    r = Signal(len(src), name=f"{name}{k}", reset_less=True)
                    m.d.sync += r.eq(src)
                    src = r
                outs[name].append(src)
        m.d.comb += [getattr(self, name).eq(Cat(*values)) for name, values in outs.items()]
        m.d.comb += [self.idle.eq(self._reduce(m, [l.idle for l in self.pes], "idle", "and", leaf=True)),
                     self.ready.eq(self._reduce(m, [l.ready for l in self.pes], "ready", "and", leaf=True)),
                     self.bus.rdata.eq(self._reduce(m, [l.bus.rdata for l in self.pes], "rdata", "or"))]

    def _reduce(self, m, values, name, op, *, leaf=False):
        """AND or OR of the PEs' ``values``: a register per PE (``leaf``), then one per node of
        a tree with at most FANOUT inputs per node (compact build: the AND or OR itself)."""
        if not timing.registered(self._cfg.n_pe):
            acc = values[0]
            for v in values[1:]:
                acc = (acc & v) if op == "and" else (acc | v)
            return acc
        if leaf:
            regs = []
            for k, v in enumerate(values):
                r = Signal.like(v, name=f"{name}_pe{k}")
                m.d.sync += r.eq(v)
                regs.append(r)
            values = regs
        for j in range(timing.tree_levels(self._cfg.n_pe)):
            groups = [values[i:i + timing.FANOUT] for i in range(0, len(values), timing.FANOUT)]
            nxt = []
            for g, group in enumerate(groups):
                r = Signal.like(group[0], name=f"{name}_{j}_{g}", reset_less=len(group[0]) > 1)
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


def _member(interface, path):
    """The value at ``path`` (as `Signature.flatten` gives it) in ``interface``."""
    for part in path:
        interface = getattr(interface, part) if isinstance(part, str) else interface[part]
    return interface
