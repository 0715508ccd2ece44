"""Central control unit: the command engine, the layer sequencer, the layer table, the links to the PEs.

The CCU has two modes, each a Component of its own: I/O (`hw.commands.CommandEngine`: the
host's commands, memory reads and writes, replies) and compute (`hw.sequencer.LayerSequencer`:
a RUN's layers, the broadcast of non-zero inputs, write-back). This module holds what they
share: the layer table (``layers``, written by the host, read by the engine for READ_MEM and
by the sequencer in LOAD), the per-layer cycle counts (``layer_cycles``), and the fan-out to
the PEs: PE k's `hw.layouts.PELink` as two words (``pe_in[k]``, ``pe_out[k]``,
`hw.layouts.link_layouts`) and a reset per PE (``pe_rst``), through the registered trees of
`hw.distribute.Distributor` (the host bus's read and write enables decoded per PE, the PEs'
read data ORed together: only the PE that was read drives it). The distributor holds the
engine in its FETCH state (``hold``) while a read of a PE memory is on its way.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value
from amaranth.lib import data, wiring, stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig
from eie import timing
from eie.contract import Mem
from .commands import CommandEngine
from .distribute import Distributor
from .layouts import COUNTER_BITS, ConfigComponent, layer_layout, link_layouts
from .sequencer import LayerSequencer

__all__ = ["CCU"]


class CCU(ConfigComponent):
    def _ports(self, cfg: EIEConfig):
        to_pe, from_pe = link_layouts(cfg)
        return {
            "host_rx": In(stream.Signature(cfg.host_bits)),
            "host_tx": Out(stream.Signature(cfg.host_bits)),
            "host_tx_last": Out(1),
            "busy": Out(1),
            "pe_in": Out(data.ArrayLayout(to_pe, cfg.n_pe)),
            "pe_out": In(data.ArrayLayout(from_pe, cfg.n_pe)),
            "pe_rst": Out(cfg.n_pe),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        m.submodules.commands = cmd = CommandEngine(cfg)
        m.submodules.sequencer = seq = LayerSequencer(cfg)
        wiring.connect(m, wiring.flipped(self.host_rx), cmd.host_rx)
        wiring.connect(m, cmd.host_tx, wiring.flipped(self.host_tx))
        m.d.comb += [
            self.host_tx_last.eq(cmd.host_tx_last),
            self.busy.eq(seq.busy),
            seq.run_start.eq(cmd.run_start), seq.run_layers.eq(cmd.run_layers),
            seq.run_first.eq(cmd.run_first), cmd.last_first.eq(seq.last_first),
            cmd.run_done.eq(seq.run_done),
            cmd.ready.eq(seq.pe_ready), cmd.out_sel.eq(seq.out_sel),
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
            lc_r.addr.eq(cmd.lc_addr), cmd.lc_data.eq(lc_r.data),
            lc_w.addr.eq(seq.lc_addr), lc_w.data.eq(seq.lc_data), lc_w.en.eq(seq.lc_we),
        ]
        # The host's table write; in the registered build from registers, a cycle late (the
        # engine's byte position -> write enable -> the table's flops was a 15.4 ns path on
        # the ULX3S). Nothing reads the table that soon: a read needs a new command.
        addr, wdata = cmd.bus.addr, cmd.bus.wdata
        we = cmd.bus.we & (cmd.bus.mem == Mem.LAYERS)
        if timing.registered(cfg.n_pe):
            addr_q = Signal(len(addr), name="lt_w_addr_q", reset_less=True)
            wdata_q = Signal(len(Value.cast(wdata)), name="lt_w_data_q", reset_less=True)
            we_q = Signal(name="lt_w_en_q")
            m.d.sync += [addr_q.eq(addr), wdata_q.eq(wdata), we_q.eq(we)]
            addr, wdata, we = addr_q, wdata_q, we_q
        m.d.comb += [lt_w.addr.eq(addr), lt_w.data.eq(wdata), lt_w.en.eq(we)]

    def _fan_out(self, m, cmd, seq):
        """The PEs' links through the distributor's registered trees; the engine held in FETCH
        while a PE memory read is on its way."""
        m.submodules.distribute = dist = Distributor(self._cfg)
        wiring.connect(m, seq.pe, dist.compute)
        wiring.connect(m, cmd.bus, dist.bus)
        m.d.comb += [
            dist.stall.eq(seq.stall), dist.bus_pe.eq(cmd.bus_pe), dist.bus_all.eq(cmd.bus_all),
            dist.fetch.eq(cmd.table_re), cmd.hold.eq(dist.hold),
            seq.ret.eq(dist.pop), seq.scan_data.eq(dist.scan_data),
            seq.pe_idle.eq(dist.idle), seq.pe_ready.eq(dist.ready),
            self.pe_rst.eq(dist.pe_rst), self.pe_in.eq(dist.pe_in), dist.pe_out.eq(self.pe_out),
        ]
