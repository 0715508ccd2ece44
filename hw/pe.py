"""One processing element: queue, pointer read, sparse-matrix read, arithmetic, act files.

Every PE writes each broadcast (index, value of a non-zero input) the CCU commits into its
activation queue (``bcast_we``); the CCU's credits (hw/admission.py) guarantee the room, and
each pop returns one (``pop``). The queue holds the column's pointer address (``ptr_base +
index``, added as the broadcast comes in), in the registered build also the even pointer
bank's word of it (hw/ptr_read.py), and the value. A PE pops the head (at most one a
cycle) when a column-queue entry is free for it, reads the column's start and end pointers
(`eie.timing.pointer_latency` cycles) and drops the column if it is empty, else pushes it
into the column queue (`eie.timing.column_queue_depth`); the sparse-matrix read unit takes columns
from there and issues one entry per cycle into the arithmetic unit. So an empty column costs
a pointer read but no issue cycle, while earlier columns are issued. Write-back is driven row
by row by the CCU. The PE's memories are reached by the host over ``bus`` (memory ids of
docs/protocol.md) outside compute. Performance counters: ``busy_count`` (entries issued) and
``stall_count`` (cycles a broadcast waited on this PE's credits: the CCU's ``stall``),
cleared by ``clear``, read over the same bus (`hw.layouts.COUNTERS_MEM`, address 0 and 1),
so the CCU needs no wire from every PE's counters.

Submodules are named so a backdoor finds the memories: ``queue``, ``ptr_read``
(``ptr_even``/``ptr_odd``), ``spmat_read`` (``spmat``), ``arith`` (``codebook``, ``bias``,
``acc``), ``act`` (``act0``, ``act1``).
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Signal, signed, unsigned, Cat
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.lib.fifo import SyncFIFO

from eie.config import EIEConfig, bits_for
from eie.contract import Mem
from eie import timing
from .layouts import (COUNTER_BITS, COUNTER_KINDS, COUNTERS_MEM, PELink, ConfigComponent, link_layouts,
                      link_name, mem_id_bits)
from .arith import ArithmeticUnit
from .ptr_read import PointerRead, bank_words
from .spmat_read import SpmatRead
from .actrf import ActRegFiles

__all__ = ["PE", "PackedPE", "queue_layout", "column_bits"]



def column_bits(cfg: EIEConfig) -> int:
    """A column-queue entry: start and end pointers, the activation and (registered build)
    ``more`` (hw/ptr_read.py)."""
    return 2 * cfg.ptr_bits + cfg.act_bits + timing.registered(cfg.n_pe)


def queue_layout(cfg: EIEConfig) -> data.StructLayout:
    """An activation-queue entry: the column's pointer address, (registered build) the even
    pointer bank's word of it (`hw.ptr_read.bank_words`, so the pointer read adds nothing
    to the queue's output) and the activation."""
    fields = {"ptr": unsigned(bits_for(cfg.ptr_depth))}
    if timing.registered(cfg.n_pe):
        fields["even"] = unsigned(PointerRead.even_word_bits(cfg))
    return data.StructLayout({**fields, "value": signed(cfg.act_bits)})


class PE(ConfigComponent):
    """One PE; its ports are `hw.layouts.PELink` seen from the PE's side (flipped)."""

    def _ports(self, cfg: EIEConfig):
        return PELink(cfg).flip()

    def _link(self):
        """The `PELink` members the logic below reads and drives: the PE's own ports."""
        return self

    def elaborate(self, platform):
        m = Module()
        io = self._link()
        cfg = self._cfg
        lay = queue_layout(cfg)
        m.submodules.queue = q = SyncFIFO(width=lay.size, depth=cfg.queue_depth)
        m.submodules.ptr_read = ptr = PointerRead(cfg)
        m.submodules.spmat_read = spm = SpmatRead(cfg)
        m.submodules.arith = ar = ArithmeticUnit(cfg)
        m.submodules.act = act = ActRegFiles(cfg)

        # Queue: every PE writes every committed broadcast.
        entry = Signal(lay)
        ptr_addr = Signal.like(entry.ptr)   # its own signal: ``entry.even`` is made from it
        m.d.comb += [ptr_addr.eq(io.params.ptr_base + io.bcast.index),
                     entry.ptr.eq(ptr_addr), entry.value.eq(io.bcast.value),
                     q.w_data.eq(entry.as_value()), q.w_en.eq(io.bcast_we)]
        if timing.registered(cfg.n_pe):
            m.d.comb += entry.even.eq(bank_words(ptr_addr)[0])
        head = data.View(lay, q.r_data)
        reserved = self._columns(m, io, q, head, ptr, spm)

        # Entries into the arithmetic unit; write-back into the destination act file.
        m.d.comb += [ar.e_valid.eq(spm.e_valid), ar.e_entry.eq(spm.e_entry),
                     ar.e_first.eq(spm.e_first), ar.e_act.eq(spm.e_act),
                     ar.wb_en.eq(io.wb_en), ar.wb_row.eq(io.wb_row)]
        wiring.connect(m, wiring.flipped(io.params), ar.params)
        m.d.comb += [act.compute.eq(io.running), act.sel.eq(io.sel),
                     act.scan_addr.eq(io.scan_addr), act.scan_en.eq(io.scan_en),
                     io.scan_data.eq(act.scan_data),
                     act.wb_en.eq(ar.wb_valid), act.wb_addr.eq(ar.wb_addr), act.wb_data.eq(ar.wb_data)]
        counts = self._counters(m, io, spm)
        self._bus(m, io, {Mem.PTR: ptr.host, Mem.SPMAT: spm.host, Mem.BIAS: ar.bias_host,
                          Mem.CODEBOOK: ar.cb_host, Mem.ACT0: act.host0, Mem.ACT1: act.host1},
                  counts)
        m.d.comb += [
            io.idle.eq(~io.bcast_we & ~q.r_rdy & (reserved == 0) & spm.idle & ar.idle),
            io.ready.eq(ar.ready),
        ]
        return m

    def _counters(self, m, io, spm):
        """The performance counters, in `COUNTER_KINDS` order. Registered build: the issue
        bit registered first, so the counter does not pull the issue logic away from the PE;
        the count is complete a cycle after the last issue, long before the run ends."""
        busy_count = Signal(COUNTER_BITS)
        stall_count = Signal(COUNTER_BITS)
        issued = spm.issue
        if timing.registered(self._cfg.n_pe):
            issued = Signal()
            m.d.sync += issued.eq(spm.issue)
        with m.If(io.clear):
            m.d.sync += [busy_count.eq(0), stall_count.eq(0)]
        with m.Else():
            with m.If(issued):
                m.d.sync += busy_count.eq(busy_count + 1)
            with m.If(io.stall):
                m.d.sync += stall_count.eq(stall_count + 1)
        assert COUNTER_KINDS == ("busy", "stall")
        return [busy_count, stall_count]

    def _columns(self, m, io, q, head, ptr, spm):
        """Pop, pointer read, column queue; returns the count of reserved column entries."""
        cfg = self._cfg
        ptr_bits = cfg.ptr_bits
        C = timing.column_queue_depth(cfg.n_pe)
        more = [ptr.more] if timing.registered(cfg.n_pe) else []
        m.submodules.columns = cq = SyncFIFO(width=column_bits(cfg), depth=C)
        acts = [Signal(signed(cfg.act_bits), reset_less=True) for _ in range(timing.pointer_latency(cfg.n_pe))]
        push, drop = Signal(), Signal()
        m.d.comb += [push.eq(ptr.valid & ptr.nonempty), drop.eq(ptr.valid & ~ptr.nonempty),
                     cq.w_en.eq(push), cq.w_data.eq(Cat(ptr.start, ptr.end, acts[-1], *more))]
        # Pop when a column-queue entry is free for the column: ``reserved`` counts the pops
        # still in the pointer pipeline and the columns queued; it is a register, so the pop
        # waits on no pointer compare. An entry taken this cycle is free already.
        reserved = Signal(range(C + 1))
        pop = Signal()
        m.d.comb += [pop.eq(q.r_rdy & io.running & ((reserved < C) | cq.r_en)), q.r_en.eq(pop),
                     io.pop.eq(pop), ptr.en.eq(pop), ptr.addr.eq(head.ptr)]
        if timing.registered(cfg.n_pe):
            m.d.comb += ptr.even_word.eq(head.even)
        m.d.sync += reserved.eq(reserved + pop - drop - cq.r_en)
        m.d.sync += acts[0].eq(head.value)
        for a, b in zip(acts, acts[1:]):
            m.d.sync += b.eq(a)
        m.d.comb += [spm.col_valid.eq(cq.r_rdy), spm.col_start.eq(cq.r_data[:ptr_bits]),
                     spm.col_end.eq(cq.r_data[ptr_bits:2 * ptr_bits]),
                     spm.col_act.eq(cq.r_data[2 * ptr_bits:2 * ptr_bits + cfg.act_bits].as_signed()),
                     cq.r_en.eq(spm.col_take)]
        if more:
            m.d.comb += spm.col_more.eq(cq.r_data[-1])
        return reserved

    def _bus(self, m, io, ports, counts):
        """Host bus: decode the memory id; the read data of the memory (or the counter,
        ``counts[addr]``) read last cycle (registered build: registered) is zero unless this
        PE was read, so the CCU ORs the PEs' read data. The counters do not move outside a
        RUN, so the one read is its value when ``re`` came, as a memory's would be."""
        bus = io.bus
        mem_q = Signal(mem_id_bits())
        kind_q = Signal(range(len(counts)))
        read_q = Signal()
        m.d.sync += read_q.eq(bus.re)
        with m.If(bus.re):
            m.d.sync += [mem_q.eq(bus.mem), kind_q.eq(bus.addr)]
        for mem, port in ports.items():
            hit = bus.mem == mem
            m.d.comb += [port.addr.eq(bus.addr), port.wdata.eq(bus.wdata),
                         port.we.eq(bus.we & hit), port.re.eq(bus.re & hit)]
        reg = timing.registered(self._cfg.n_pe)
        assert timing.pe_bus_read_latency(self._cfg.n_pe) == (2 if reg else 1)
        domain = m.d.sync if reg else m.d.comb
        if reg:
            domain += bus.rdata.eq(0)
        with m.If(read_q):
            with m.Switch(mem_q):
                for mem, port in ports.items():
                    with m.Case(mem):
                        domain += bus.rdata.eq(port.rdata)
                with m.Case(COUNTERS_MEM):
                    domain += bus.rdata.eq(Array(counts)[kind_q])


class PackedPE(PE):
    """The PE with its `PELink` packed into two ports, ``to_pe`` and ``from_pe``
    (`hw.layouts.link_layouts`): the PE's module in the Verilog (`hw.netlist.pe_rtlil`), so
    each of its N instances connects two words instead of one port per member. The logic
    and the submodules (the memories' names) are the PE's."""

    def _ports(self, cfg: EIEConfig):
        to_pe, from_pe = link_layouts(cfg)
        return {"to_pe": In(to_pe), "from_pe": Out(from_pe)}

    def _link(self):
        if not hasattr(self, "_io"):
            self._io = PELink(self._cfg).flip().create(path=())
        return self._io

    def elaborate(self, platform):
        m = super().elaborate(platform)
        io = self._link()
        for path, member, value in io.signature.flatten(io):
            name = link_name(path)
            if member.flow == In:
                m.d.comb += value.eq(self.to_pe[name])
            else:
                m.d.comb += self.from_pe[name].eq(value)
        return m
