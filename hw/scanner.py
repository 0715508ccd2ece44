"""Activation scanner: finds the non-zero inputs of a layer and offers them for broadcast.

It reads one slot row per read (slot ``s`` of every PE's source act file: input indices
``s*N .. s*N+N-1``) and keeps it on the read port's output while it works on it; lanes at
indices ``>= in_len`` are masked, whatever stale data they hold. Each cycle the LNZD picks
the first remaining non-zero lane and the scanner offers (index, value) for broadcast; when
the broadcast is taken (``bc_commit``) the lane is marked consumed. The read of the next
row is issued in the cycle the row's last non-zero is taken (or at once for an all-zero
row), so a row with ``m`` non-zeros costs ``max(1, m)`` cycles and only all-zero rows cost
a cycle with nothing to broadcast. ``done`` is high once every row has been consumed.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, Cat, Mux
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig
from .layouts import bcast_layout, ConfigComponent, row_bits
from .lnzd import LNZD

__all__ = ["Scanner"]


class Scanner(ConfigComponent):
    def _ports(self, cfg: EIEConfig):
        return {
            "start": In(1),
            "in_len": In(cfg.len_bits),
            "row_addr": Out(row_bits(cfg)),
            "row_en": Out(1),
            "row_data": In(data.ArrayLayout(signed(cfg.act_bits), cfg.n_pe)),
            "bc_valid": Out(1),
            "bc": Out(bcast_layout(cfg)),
            "bc_commit": In(1),
            "done": Out(1),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        n = cfg.n_pe
        m.submodules.lnzd = lnzd = LNZD(cfg)

        live = Signal()                       # row_data holds a row still being scanned
        base = Signal(cfg.len_bits + 1)       # index of lane 0 of that row
        slot = Signal(row_bits(cfg))          # next row to read
        consumed = Signal(n)

        lane_ok = Signal(n)
        nz = Signal(n)
        m.d.comb += [lane_ok[k].eq(base + k < self.in_len) for k in range(n)]
        m.d.comb += [nz[k].eq(self.row_data[k] != 0) for k in range(n)]
        enable = Signal(n)
        m.d.comb += enable.eq(lane_ok & ~consumed & Cat(*[live] * n))
        m.d.comb += [lnzd.values.eq(self.row_data), lnzd.enable.eq(enable)]

        onehot = Signal(n)
        m.d.comb += onehot.eq(1 << lnzd.index)
        last = ((enable & nz & ~onehot) == 0)
        m.d.comb += [
            self.bc_valid.eq(lnzd.valid),
            self.bc.index.eq(base + lnzd.index),
            self.bc.value.eq(lnzd.value),
            self.done.eq(~live),
        ]

        advance = live & (~lnzd.valid | (self.bc_commit & last))
        # The address does not wait for ``advance`` (late: read data -> LNZD -> commit); only
        # the read enable does, and the data holds while it is low.
        m.d.comb += [self.row_addr.eq(Mux(self.start, 0, slot)), self.row_en.eq(self.start | advance)]
        with m.If(self.start):
            m.d.sync += [slot.eq(1), base.eq(0), live.eq(self.in_len != 0), consumed.eq(0)]
        with m.Elif(advance):
            m.d.sync += [slot.eq(slot + 1), base.eq(base + n), live.eq(base + n < self.in_len),
                         consumed.eq(0)]
        with m.Elif(self.bc_commit):
            m.d.sync += consumed.eq(consumed | onehot)
        return m
