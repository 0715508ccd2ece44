"""Central control unit: the command engine, the layer sequencer, the layer table, the links to the PEs.

The CCU has two modes, each a Component of its own: I/O (`hw.commands.CommandEngine`: the
host's commands, memory reads and writes, replies) and compute (`hw.sequencer.LayerSequencer`:
a RUN's layers, the broadcast of non-zero inputs, write-back). This module holds what they
share: the layer table (``layers``, written by the host, read by the engine for READ_MEM and
by the sequencer in LOAD), the per-layer cycle counts (``layer_cycles``), and the fan-out to
the PEs: one `hw.layouts.PELink` per PE (``pes[k]``), with the host bus's read and write
enables decoded per PE and the PEs' read data ORed together (only the PE that was read
drives it), so `hw.top` connects each PE with a single ``wiring.connect``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux
from amaranth.lib import wiring, stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig
from eie.contract import Mem
from .commands import CommandEngine
from .layouts import COUNTER_BITS, PELink, ConfigComponent, layer_layout
from .sequencer import LayerSequencer

__all__ = ["CCU"]


class CCU(ConfigComponent):
    def _ports(self, cfg: EIEConfig):
        return {
            "host_rx": In(stream.Signature(8)),
            "host_tx": Out(stream.Signature(8)),
            "busy": Out(1),
            "pes": Out(PELink(cfg)).array(cfg.n_pe),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        m.submodules.commands = cmd = CommandEngine(cfg)
        m.submodules.sequencer = seq = LayerSequencer(cfg)
        wiring.connect(m, wiring.flipped(self.host_rx), cmd.host_rx)
        wiring.connect(m, cmd.host_tx, wiring.flipped(self.host_tx))
        m.d.comb += [
            self.busy.eq(seq.busy),
            seq.run_start.eq(cmd.run_start), seq.run_layers.eq(cmd.run_layers),
            cmd.run_done.eq(seq.run_done),
            cmd.ready.eq(seq.pe_ready.all()), cmd.out_sel.eq(seq.out_sel),
            cmd.last_layers.eq(seq.last_layers), cmd.cycle.eq(seq.cycle),
            cmd.run_cycles.eq(seq.run_cycles), cmd.broadcasts.eq(seq.broadcasts),
        ]
        self._tables(m, cmd, seq)
        self._fan_out(m, cmd, seq)
        return m

    def _tables(self, m, cmd, seq):
        """The layer table (host writes, engine and sequencer read) and the layer cycles."""
        cfg = self._cfg
        m.submodules.layers = ltab = Memory(shape=layer_layout(cfg), depth=cfg.max_layers, init=[])
        lt_r, lt_w = ltab.read_port(), ltab.write_port()
        m.submodules.layer_cycles = lcm = Memory(shape=COUNTER_BITS, depth=cfg.max_layers, init=[])
        lc_r, lc_w = lcm.read_port(), lcm.write_port()
        m.d.comb += [
            lt_r.addr.eq(Mux(seq.table_re, seq.pe.params.layer, cmd.bus.addr)),
            lt_r.en.eq(cmd.table_re | seq.table_re),
            cmd.table_rdata.eq(lt_r.data), seq.table_rdata.eq(lt_r.data),
            lt_w.addr.eq(cmd.bus.addr), lt_w.data.eq(cmd.bus.wdata),
            lt_w.en.eq(cmd.bus.we & (cmd.bus.mem == Mem.LAYERS)),
            lc_r.addr.eq(cmd.lc_addr), cmd.lc_data.eq(lc_r.data),
            lc_w.addr.eq(seq.lc_addr), lc_w.data.eq(seq.lc_data), lc_w.en.eq(seq.lc_we),
        ]

    def _fan_out(self, m, cmd, seq):
        """One PELink per PE: every `PECompute` member copied, the bus's enables decoded per PE,
        the PEs' answers collected."""
        rdata = 0
        for k, link in enumerate(self.pes):
            for path, _, value in seq.pe.signature.flatten(seq.pe):
                m.d.comb += _member(link, path).eq(value)
            m.d.comb += [
                seq.room[k].eq(link.room), seq.scan_data[k].eq(link.scan_data),
                seq.pe_idle[k].eq(link.idle), seq.pe_ready[k].eq(link.ready),
                cmd.busy_counts[k].eq(link.busy_count), cmd.stall_counts[k].eq(link.stall_count),
                link.bus.mem.eq(cmd.bus.mem), link.bus.addr.eq(cmd.bus.addr),
                link.bus.wdata.eq(cmd.bus.wdata),
                link.bus.re.eq(cmd.bus.re & (cmd.bus_pe == k)),
                link.bus.we.eq(cmd.bus.we & (cmd.bus_all | (cmd.bus_pe == k))),
            ]
            rdata = rdata | link.bus.rdata
        m.d.comb += cmd.bus.rdata.eq(rdata)


def _member(interface, path):
    """The value at ``path`` (as `Signature.flatten` gives it) in ``interface``."""
    for part in path:
        interface = getattr(interface, part) if isinstance(part, str) else interface[part]
    return interface
