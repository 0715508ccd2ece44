"""One processing element: queue, pointer read, sparse-matrix read, arithmetic, act files.

The CCU offers a broadcast (index, value of a non-zero input) to every PE; it is taken by
all PEs in the same cycle (``bcast_commit``) when every PE's queue has room. A PE pops the
head of its activation queue (at most one a cycle) when its column queue will have room,
reads the column's start and end pointers (one cycle) and drops the column if it is empty,
else pushes it into the column queue (``COLUMN_QUEUE_DEPTH``); the sparse-matrix read unit
takes columns from there and issues one entry per cycle into the arithmetic unit. So an
empty column costs a pointer read but no issue cycle, while earlier columns are issued. Write-back is driven row by row by the CCU. The PE's
memories are reached by the host over ``bus`` (memory ids of docs/protocol.md) outside
compute. Performance counters: ``busy_count`` (entries issued) and ``stall_count`` (cycles
the broadcast waited on this PE's full queue), cleared by ``clear``.

Submodules are named so a backdoor finds the memories: ``queue``, ``ptr_read``
(``ptr_even``/``ptr_odd``), ``spmat_read`` (``spmat``), ``arith`` (``codebook``, ``bias``,
``acc``), ``act`` (``act0``, ``act1``).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, Cat
from amaranth.lib import data, wiring
from amaranth.lib.fifo import SyncFIFO

from eie.config import EIEConfig
from eie.contract import Mem
from eie.timing import COLUMN_QUEUE_DEPTH, POINTER_LATENCY
from .layouts import PELink, bcast_layout, ConfigComponent
from .arith import ArithmeticUnit
from .ptr_read import PointerRead
from .spmat_read import SpmatRead
from .actrf import ActRegFiles

__all__ = ["PE"]


class PE(ConfigComponent):
    """One PE; its ports are `hw.layouts.PELink` seen from the PE's side (flipped)."""

    def _ports(self, cfg: EIEConfig):
        return PELink(cfg).flip()

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        lay = bcast_layout(cfg)
        m.submodules.queue = q = SyncFIFO(width=lay.size, depth=cfg.queue_depth)
        m.submodules.ptr_read = ptr = PointerRead(cfg)
        m.submodules.spmat_read = spm = SpmatRead(cfg)
        m.submodules.arith = ar = ArithmeticUnit(cfg)
        m.submodules.act = act = ActRegFiles(cfg)

        # Queue: every PE takes the broadcast in the same cycle.
        m.d.comb += [q.w_data.eq(self.bcast.as_value()), q.w_en.eq(self.bcast_commit),
                     self.room.eq(q.w_rdy)]
        head = data.View(lay, q.r_data)

        # Column queue: (start, end, act) of non-empty columns.
        ptr_bits = cfg.ptr_bits
        C = COLUMN_QUEUE_DEPTH
        m.submodules.columns = cq = SyncFIFO(width=2 * ptr_bits + cfg.act_bits, depth=C)
        acts = [Signal(signed(cfg.act_bits), reset_less=True) for _ in range(POINTER_LATENCY)]
        push, drop = Signal(), Signal()
        m.d.comb += [push.eq(ptr.valid & ptr.nonempty), drop.eq(ptr.valid & ~ptr.nonempty),
                     cq.w_en.eq(push), cq.w_data.eq(Cat(ptr.start, ptr.end, acts[-1]))]
        # Pop when a column-queue entry is free for the column: ``reserved`` counts the pops
        # still in the pointer pipeline and the columns queued; it is a register, so the pop
        # waits on no pointer compare. An entry taken this cycle is free already.
        reserved = Signal(range(C + 1))
        pop = Signal()
        m.d.comb += [pop.eq(q.r_rdy & self.running & ((reserved < C) | cq.r_en)), q.r_en.eq(pop),
                     ptr.en.eq(pop), ptr.addr.eq(self.params.ptr_base + head.index)]
        m.d.sync += reserved.eq(reserved + pop - drop - cq.r_en)
        m.d.sync += acts[0].eq(head.value)
        for a, b in zip(acts, acts[1:]):
            m.d.sync += b.eq(a)
        m.d.comb += [spm.col_valid.eq(cq.r_rdy), spm.col_start.eq(cq.r_data[:ptr_bits]),
                     spm.col_end.eq(cq.r_data[ptr_bits:2 * ptr_bits]),
                     spm.col_act.eq(cq.r_data[2 * ptr_bits:].as_signed()), cq.r_en.eq(spm.col_take)]

        # Entries into the arithmetic unit; write-back into the destination act file.
        m.d.comb += [ar.e_valid.eq(spm.e_valid), ar.e_entry.eq(spm.e_entry),
                     ar.e_first.eq(spm.e_first), ar.e_act.eq(spm.e_act),
                     ar.wb_en.eq(self.wb_en), ar.wb_row.eq(self.wb_row)]
        wiring.connect(m, wiring.flipped(self.params), ar.params)
        m.d.comb += [act.compute.eq(self.running), act.sel.eq(self.sel),
                     act.scan_addr.eq(self.scan_addr), act.scan_en.eq(self.scan_en),
                     self.scan_data.eq(act.scan_data),
                     act.wb_en.eq(ar.wb_valid), act.wb_addr.eq(ar.wb_addr), act.wb_data.eq(ar.wb_data)]

        # Host bus: decode the memory id; read data follows the id of last cycle's read and is
        # zero unless this PE was read last cycle, so the top ORs the PEs' read data together.
        bus = self.bus
        ports = {Mem.PTR: ptr.host, Mem.SPMAT: spm.host, Mem.BIAS: ar.bias_host,
                 Mem.CODEBOOK: ar.cb_host, Mem.ACT0: act.host0, Mem.ACT1: act.host1}
        mem_q = Signal(3)
        read_q = Signal()
        m.d.sync += read_q.eq(bus.re)
        with m.If(bus.re):
            m.d.sync += mem_q.eq(bus.mem)
        for mem, port in ports.items():
            hit = bus.mem == mem
            m.d.comb += [port.addr.eq(bus.addr), port.wdata.eq(bus.wdata),
                         port.we.eq(bus.we & hit), port.re.eq(bus.re & hit)]
        with m.If(read_q):
            with m.Switch(mem_q):
                for mem, port in ports.items():
                    with m.Case(mem):
                        m.d.comb += bus.rdata.eq(port.rdata)

        m.d.comb += [
            self.idle.eq(~q.r_rdy & (reserved == 0) & spm.idle & ar.idle),
            self.ready.eq(ar.ready),
        ]

        # Performance counters.
        with m.If(self.clear):
            m.d.sync += [self.busy_count.eq(0), self.stall_count.eq(0)]
        with m.Else():
            with m.If(spm.issue):
                m.d.sync += self.busy_count.eq(self.busy_count + 1)
            with m.If(self.bcast_valid & ~q.w_rdy):
                m.d.sync += self.stall_count.eq(self.stall_count + 1)
        return m
