"""Sparse-matrix read unit: wide words in, one (v, z) entry per cycle out.

It takes a column as (start, end) entry addresses from the PE's column queue (registered
build: with ``more``, ``start + 1 < end``, computed before the column was queued) and issues the
column's entries one per cycle: for each issued entry it reads the memory word holding it and
hands the entry on `eie.timing.spmat_latency` cycles after the issue (the registered build
registers the issue first, so the memory's address comes from a register, and registers the
entry, picked from the word as it leaves the memory), so entries that cross a word boundary,
and consecutive columns, follow each other with no bubble. A new column is taken
(``col_take``) in the cycle after the previous one's last issue, and its first entry issues
in that same cycle. Empty
columns never get here: the PE drops them after the pointer read, so the registered build
takes a column with no compare on the column queue's output (the compact build compares
start and end there, and would spend one cycle on an empty column).
Padding entries (v = 0) are issued like any other: they advance the row and add zero.

The memory has one address for its read and write ports and does not read while writing,
so on the iCE40UP5K it becomes a 256 Kbit SPRAM (`docs/fpga.md`).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig
from eie.contract import host_addr_bits
from eie import timing
from .layouts import HostPort, ConfigComponent, entry_layout, word_layout

__all__ = ["SpmatRead"]


class SpmatRead(ConfigComponent):
    def _ports(self, cfg: EIEConfig):
        return {
            "col_valid": In(1),
            "col_start": In(cfg.ptr_bits),
            "col_end": In(cfg.ptr_bits),
            "col_act": In(signed(cfg.act_bits)),
            "col_more": In(1),
            "col_take": Out(1),
            "issue": Out(1),
            "idle": Out(1),
            "e_valid": Out(1),
            "e_entry": Out(entry_layout(cfg)),
            "e_first": Out(1),
            "e_act": Out(signed(cfg.act_bits)),
            "host": In(HostPort(host_addr_bits(cfg), cfg.word_bits)),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        lane_bits = (cfg.entries_per_word - 1).bit_length()   # power of two: checked
        m.submodules.spmat = mem = Memory(shape=word_layout(cfg), depth=cfg.spmat_depth, init=[])
        rp, wp = mem.read_port(), mem.write_port()

        active = Signal()                     # current column has entries left to issue
        addr = Signal(cfg.ptr_bits)           # next entry address of the current column
        end = Signal(cfg.ptr_bits)
        act = Signal(signed(cfg.act_bits))

        issue_addr = Signal(cfg.ptr_bits)
        first = Signal()
        act_i = Signal(signed(cfg.act_bits))
        reg = timing.registered(cfg.n_pe)
        with m.If(active):
            nxt = addr + 1
            m.d.comb += [self.issue.eq(1), issue_addr.eq(addr), act_i.eq(act)]
            m.d.sync += [addr.eq(nxt), active.eq(nxt < end)]
        if reg:
            with m.Else():
                self._take_head(m, addr, end, act, active, issue_addr, first, act_i)
        else:
            with m.Elif(self.col_valid):
                nonempty = self.col_start < self.col_end
                more = nonempty & (self.col_start + 1 < self.col_end)
                m.d.comb += [self.issue.eq(nonempty), issue_addr.eq(self.col_start),
                             first.eq(1), act_i.eq(self.col_act), self.col_take.eq(1)]
                m.d.sync += [addr.eq(self.col_start + 1), end.eq(self.col_end),
                             act.eq(self.col_act), active.eq(more)]

        # Registered, stage 0: the issue registered, so the memory's address comes from a
        # register (the memory's own address register is inside the block RAM).
        if reg:
            s0_issue, s0_first = Signal(), Signal()
            s0_addr = Signal.like(issue_addr, reset_less=True)
            s0_act = Signal(signed(cfg.act_bits), reset_less=True)
            m.d.sync += [s0_issue.eq(self.issue), s0_first.eq(first), s0_addr.eq(issue_addr),
                         s0_act.eq(act_i)]
        else:
            s0_issue, s0_first, s0_addr, s0_act = self.issue, first, issue_addr, act_i
        # Stage 1: the word leaves the memory and the entry is picked from it (registered: on
        # its way into the stage-2 register, so stage S starts from the entry itself: its row
        # and bias-address adders, which feed the bias LUT RAM, were the ULX3S's critical
        # path behind the lane multiplexer).
        s1_valid, s1_first = Signal(), Signal()
        s1_lane = Signal(max(lane_bits, 1), reset_less=True)
        s1_act = Signal(signed(cfg.act_bits), reset_less=True)
        m.d.sync += [s1_valid.eq(s0_issue), s1_first.eq(s0_first), s1_act.eq(s0_act)]
        if lane_bits:
            m.d.sync += s1_lane.eq(s0_addr[:lane_bits])
        picked = rp.data[s1_lane] if lane_bits else rp.data[0]
        if reg:
            s_valid, s_first = Signal(), Signal()
            s_act = Signal(signed(cfg.act_bits), reset_less=True)
            s_entry = Signal(entry_layout(cfg), reset_less=True)
            m.d.sync += [s_valid.eq(s1_valid), s_first.eq(s1_first), s_act.eq(s1_act),
                         s_entry.eq(picked)]
            m.d.comb += self.idle.eq(~active & ~s0_issue & ~s1_valid & ~s_valid)
        else:
            s_valid, s_first, s_act, s_entry = s1_valid, s1_first, s1_act, picked
            m.d.comb += self.idle.eq(~active & ~s1_valid)
        assert timing.spmat_latency(cfg.n_pe) == (3 if reg else 1)
        # One address for both ports, and no read while writing: the shape of a single-port
        # RAM, which is what Yosys maps to the iCE40UP5K's SPRAM. The host writes only in
        # I/O mode, when nothing issues.
        word_addr = Signal.like(rp.addr)
        with m.If(s0_issue):
            m.d.comb += word_addr.eq(s0_addr >> lane_bits)
        with m.Else():
            m.d.comb += word_addr.eq(self.host.addr)

        m.d.comb += [
            self.e_valid.eq(s_valid),
            self.e_entry.eq(s_entry),
            self.e_first.eq(s_first),
            self.e_act.eq(s_act),
            self.host.rdata.eq(rp.data.as_value()),
            rp.addr.eq(word_addr), rp.en.eq(~self.host.we),
            wp.addr.eq(word_addr), wp.data.eq(self.host.wdata), wp.en.eq(self.host.we),
        ]
        return m

    def _take_head(self, m, addr, end, act, active, issue_addr, first, act_i):
        """Registered build, no column active: take the column queue's head if there is one
        (never empty; ``more`` came with it). The column's registers load the head whether or
        not there is one (``active`` stays clear without): loaded on the take alone, they made
        the take, a function of the column queue's level, the enable of about fifty flops
        placed by the sparse-matrix block RAM, and the placer pulled its LUT there, across
        the chip from the queue and ``reserved`` that it also feeds."""
        m.d.comb += [self.issue.eq(self.col_valid), issue_addr.eq(self.col_start),
                     first.eq(self.col_valid), act_i.eq(self.col_act),
                     self.col_take.eq(self.col_valid)]
        m.d.sync += [addr.eq(self.col_start + 1), end.eq(self.col_end), act.eq(self.col_act),
                     active.eq(self.col_valid & self.col_more)]
