"""Activation scanner: finds the non-zero inputs of a layer and offers them for broadcast.

Decoupled from the PEs' act files by a row buffer: the scanner reads slot rows (slot ``s``
of every PE's source act file: input indices ``s*N .. s*N+N-1``) ahead, one per cycle while
the buffer has room (`eie.timing.row_buffer_depth` rows in flight or buffered); each row
arrives `eie.timing.row_latency` cycles after its read (the distribution tree, the act file,
the return registers) with its non-zero mask computed (lanes at indices ``>= in_len``
masked). Broadcasts are picked from the buffer's head row by mask arithmetic (the lowest set
bit, `hw.lanepick.LanePicker`), one per cycle, into the offer register ``bc``; when an offer is committed the next is
the head row's next bit, or the first bit of the row behind it. An all-zero row costs one
cycle. The offer register holds a one-hot lane and the buffer slot of its row: the value is
selected from the buffered row after the register, on its way into the distribution tree
(``bc.value`` is combinational from registers). ``done`` is high once every row has been
consumed. docs/hw.md ("Timing") has the cycle rules.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Module, Signal, signed, unsigned, Cat, Const, Mux
from amaranth.lib import data
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig
from eie import timing
from .lanepick import LanePicker
from .layouts import bcast_layout, ConfigComponent, row_bits

__all__ = ["Scanner"]


class Scanner(ConfigComponent):
    """Ports: ``start``/``in_len`` (START: a layer begins), ``row_addr``/``row_en`` (reads of
    the PEs' act files), ``row_data`` (their slots, `eie.timing.row_latency` - 1 cycles after
    ``row_en``), ``bc_valid``/``bc`` (the offer), ``bc_commit``, ``done``."""

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
        depth = timing.row_buffer_depth(n)
        lb = cfg.len_bits + 1
        slot_shape = unsigned(max(1, (depth - 1).bit_length()))
        entry_layout = data.StructLayout({"mask": unsigned(n), "base": unsigned(lb), "slot": slot_shape})
        # The buffer: rows in arrival order (entry 0 is the head), their data in a memory.
        # Rows 0 .. count-1 are valid: the entries themselves need no reset.
        entries = [Signal(entry_layout, name=f"entry{j}", reset_less=True) for j in range(depth)]
        count = Signal(range(depth + 1))
        m.submodules.rows = rows = Memory(shape=data.ArrayLayout(signed(cfg.act_bits), n), depth=depth, init=[])
        rows_w = rows.write_port()
        rows_r = rows.read_port(domain="comb")

        rd = self._reader(m, depth, entry_layout, rows_w)
        pk = self._picker(m, entries, count, rows_r)
        m.d.comb += self.done.eq(~rd.live & (rd.reserved == 0) & ~pk.o_valid)
        pop, arrive = pk.pop, rd.arrive

        # Buffer update: shift on a pop, the arriving row behind the last one kept, the head's
        # mask losing the bit just offered.
        wpos = Signal.like(count)
        m.d.comb += wpos.eq(count - pop)
        m.d.sync += count.eq(count - pop + arrive)
        for j, e in enumerate(entries):
            src = Signal(entry_layout, name=f"src{j}")
            nxt = entries[j + 1] if j + 1 < depth else entries[j]
            m.d.comb += src.eq(entries[j])
            with m.If(pop):
                m.d.comb += src.eq(nxt)
            with m.If(arrive & (wpos == j)):
                m.d.sync += e.eq(rd.new)
            with m.Else():
                m.d.sync += e.eq(src)
                if j == 0:
                    with m.If(pk.take_h):
                        m.d.sync += e.mask.eq(src.mask & ~pk.low_h)
                    with m.Elif(pk.take_n):
                        m.d.sync += e.mask.eq(src.mask & ~pk.low_n)
        m.d.sync += rd.reserved.eq(rd.reserved + self.row_en - pop)
        with m.If(self.start):
            m.d.sync += [count.eq(0), rd.reserved.eq(self.row_en)]
        return m

    def _reader(self, m, depth, entry_layout, rows_w):
        """Row reads ahead, and the arriving rows (``reserved``, ``live``, ``arrive``, the
        ``new`` entry)."""
        cfg = self._cfg
        n = cfg.n_pe
        lb = cfg.len_bits + 1
        len_q = Signal(cfg.len_bits)
        rd_base = Signal(lb)
        rd_addr = Signal(row_bits(cfg))
        rd_live = Signal()
        reserved = Signal(range(depth + 1))      # rows read and not yet consumed
        with m.If(self.start):
            m.d.comb += [self.row_en.eq(self.in_len != 0), self.row_addr.eq(0)]
            m.d.sync += [len_q.eq(self.in_len), rd_base.eq(n), rd_addr.eq(1), rd_live.eq(n < self.in_len)]
        with m.Else():
            m.d.comb += [self.row_en.eq(rd_live & (reserved < depth)), self.row_addr.eq(rd_addr)]
            with m.If(self.row_en):
                m.d.sync += [rd_base.eq(rd_base + n), rd_addr.eq(rd_addr + 1),
                             rd_live.eq(rd_base + n < len_q)]
        # A row read in cycle a is here in a + row_latency - 1 (written into the buffer then).
        arrive_in = timing.row_latency(n) - 1
        delay = Signal(arrive_in)
        m.d.sync += delay.eq(Cat(self.row_en, delay[:-1]))
        arrive = delay[-1]
        ar_base = Signal(lb)         # index of lane 0 of the next row to arrive
        ar_left = Signal(lb)         # in_len - ar_base: lanes past it are masked
        wslot = Signal(entry_layout["slot"].shape)
        with m.If(self.start):
            m.d.sync += [ar_base.eq(0), ar_left.eq(self.in_len), wslot.eq(0)]
        with m.Elif(arrive):
            m.d.sync += [ar_base.eq(ar_base + n), ar_left.eq(ar_left - n),
                         wslot.eq(Mux(wslot == depth - 1, 0, wslot + 1))]
        new = Signal(entry_layout)
        m.d.comb += [new.base.eq(ar_base), new.slot.eq(wslot),
                     new.mask.eq(Cat(*[(self.row_data[k] != 0) & (ar_left > k) for k in range(n)])),
                     rows_w.addr.eq(wslot), rows_w.data.eq(self.row_data), rows_w.en.eq(arrive)]
        return SimpleNamespace(reserved=reserved, live=rd_live, arrive=arrive, new=new)

    def _picker(self, m, entries, count, rows_r):
        """The offer register from the buffer's two head rows (``o_valid``; ``pop``: the head
        row is done; ``take_h``/``take_n``: the offer comes from the head / the next row;
        ``low_h``/``low_n``: the lowest set bits of their masks, from a `LanePicker` each)."""
        cfg = self._cfg
        n = cfg.n_pe
        h, nx = entries[0], entries[1] if len(entries) > 1 else entries[0]
        o_valid = Signal()
        o_onehot = Signal(n, reset_less=True)
        o_slot = Signal.like(h.slot, reset_less=True)
        o_index = Signal(cfg.len_bits, reset_less=True)
        o_free = Signal()
        h_v, n_v = count != 0, count > 1
        m.submodules.pick_h = pick_h = LanePicker(cfg)
        m.submodules.pick_n = pick_n = LanePicker(cfg)
        m.d.comb += [pick_h.mask.eq(h.mask), pick_h.base.eq(h.base),
                     pick_n.mask.eq(nx.mask), pick_n.base.eq(nx.base),
                     o_free.eq(~o_valid | self.bc_commit)]
        low_h, low_n = pick_h.onehot, pick_n.onehot
        take_h, pop, take_n = Signal(), Signal(), Signal()
        m.d.comb += [take_h.eq(h_v & pick_h.valid & o_free),
                     pop.eq(h_v & ~pick_h.valid & o_free),
                     take_n.eq(pop & n_v & pick_n.valid)]
        with m.If(take_h):
            m.d.sync += [o_valid.eq(1), o_onehot.eq(low_h), o_slot.eq(h.slot), o_index.eq(pick_h.index)]
        with m.Elif(take_n):
            m.d.sync += [o_valid.eq(1), o_onehot.eq(low_n), o_slot.eq(nx.slot), o_index.eq(pick_n.index)]
        with m.Elif(o_free):
            m.d.sync += o_valid.eq(0)
        # The value: the offered lane of its buffered row (one-hot AND-OR, after the registers).
        m.d.comb += rows_r.addr.eq(o_slot)
        value = Const(0, cfg.act_bits)
        for k in range(n):
            value = value | (rows_r.data[k].as_unsigned() & o_onehot[k].replicate(cfg.act_bits))
        m.d.comb += [self.bc_valid.eq(o_valid), self.bc.index.eq(o_index),
                     self.bc.value.eq(value.as_signed())]
        return SimpleNamespace(o_valid=o_valid, pop=pop, take_h=take_h, take_n=take_n,
                               low_h=low_h, low_n=low_n)

