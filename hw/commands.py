"""Command engine: parses host frames, validates them, moves words, answers (I/O mode).

It reads command frames from ``host_rx`` (docs/protocol.md), validates them in the
documented order, consumes every body in full (so a malformed command can neither hang the
design nor desynchronise the stream), writes and reads the memories over ``bus`` (the CCU
fans it out to the PEs and the layer table; the PEs' performance counters are read over it
too), and answers each command with one frame on ``host_tx`` (``host_tx_last`` with a
response's last beat). A RUN is handed to the layer sequencer (``run_start``, with its layer
count and first layer); its reply goes out when the sequencer reports ``run_done``.

The host streams are ``host_bits`` wide (`hw.hoststream` packs and unpacks the beats): the
header and arguments are read a byte a cycle, a write body up to a beat a cycle (at most
one memory word completes a cycle: one memory write), a rejected body a beat a cycle;
replies go out a byte a cycle.

Every offset, length, id and reply layout comes from `eie.contract`; nothing about the
protocol is written here twice.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Module, Signal, Cat, Mux, C
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from eie import contract
from eie.bits import nbytes
from eie.config import EIEConfig
from eie.contract import Mem, Op, Status
from eie import format as fmt
from .constdiv import divide_by_constant
from .hoststream import BeatReader, BeatWriter
from .layouts import (PEBus, COUNTER_BITS, COUNTER_KINDS, COUNTERS_MEM, ConfigComponent, cat_fields,
                      struct_from_fields)

__all__ = ["CommandEngine"]

# The receive states below read the command header byte by byte: op, then len.
assert contract.CMD_HEADER == [("op", 8), ("len", 16)], "hw/commands.py reads op, len lo, len hi"

# READ_COUNTERS is picked in this group order (`CommandEngine._pick_counter`), the PEs'
# counters last, kind by kind (`hw.layouts.COUNTER_KINDS`).
assert [name for name, _ in contract.counter_groups(EIEConfig())] == \
    ["cycle", "run_cycles", "broadcasts", "layer_cycles", *COUNTER_KINDS]

# What a reply body holds (FETCH picks from it).
SRC_INFO, SRC_STATUS, SRC_COUNTERS, SRC_MEM, SRC_RUN = range(5)
# Where LATCH takes a reply word from: the word FETCH picked, the layer table, the bus, the
# layer-cycle memory.
LSEL_PRE, LSEL_TABLE, LSEL_BUS, LSEL_LC = range(4)


class CommandEngine(ConfigComponent):
    """Ports: ``host_rx``/``host_tx`` streams of ``host_bits`` (``host_tx_last``: the last
    beat of a response); ``bus`` (+ ``bus_pe``, ``bus_all``) to the memories;
    ``table_re``/``table_rdata`` (the layer table's read port, which the bus writes);
    ``run_start``/``run_layers``/``run_first``/``run_done`` to the sequencer; and what STATUS
    and READ_COUNTERS report."""

    def _ports(self, cfg: EIEConfig):
        return {
            "host_rx": In(stream.Signature(cfg.host_bits)),
            "host_tx": Out(stream.Signature(cfg.host_bits)),
            "host_tx_last": Out(1),
            "bus": Out(PEBus(cfg)),
            "bus_pe": Out(cfg.pe_bits),
            "bus_all": Out(1),
            "table_re": Out(1),
            "table_rdata": In(fmt.layer_word_bits(cfg)),
            # The read issued in FETCH is on its way back from the PEs (hw.distribute): stay.
            "hold": In(1),
            "run_start": Out(1),
            "run_layers": Out(8),
            "run_first": Out(8),
            "run_done": In(1),
            "ready": In(1),
            "out_sel": In(1),
            "last_layers": In(8),
            "last_first": In(8),
            "cycle": In(COUNTER_BITS),
            "run_cycles": In(COUNTER_BITS),
            "broadcasts": In(COUNTER_BITS),
            "lc_addr": Out(cfg.layer_bits),
            "lc_data": In(COUNTER_BITS),
        }

    def elaborate(self, platform):
        m = Module()
        r = self._registers()
        self._ports_in_bytes(m, r)
        self._decode(m, r)
        self._validate(m, r)
        self._bus(m, r)
        with m.FSM(name="commands"):
            self._receive_states(m, r)
            self._check_state(m, r)
            self._write_states(m, r)
            self._reply_states(m, r)
            with m.State("RUN"):
                with m.If(self.run_done):
                    m.d.sync += r.hpos.eq(0)
                    m.next = "HDR"
        return m

    # ---- state -------------------------------------------------------------------------------

    def _registers(self) -> SimpleNamespace:
        cfg = self._cfg
        mems = contract.memory_table(cfg)
        max_args = max(contract.arg_bytes(op) for op in contract.ARGS)
        replies = [contract.reply_bytes(cfg, op) for op in (Op.INFO, Op.STATUS, Op.RUN)]
        max_nb = max([info.nbytes for info in mems.values()] + replies + [COUNTER_BITS // 8])
        r = SimpleNamespace(mems=mems, max_args=max_args, max_nb=max_nb,
                            n_counters=contract.n_counters(cfg))
        _add(r, op=8, length=16, rem=16, args=8 * max_args, argpos=range(max_args + 1),
             status=8, resp_len=16, hpos=2)
        # The argument register seen as each command's argument fields.
        view = lambda fields: data.View(struct_from_fields(fields),
                                        r.args[:contract.header_bytes(fields) * 8])
        r.mem_args, r.act_args, r.run_args = (view(contract.MEM_ARGS), view(contract.ACT_ARGS),
                                              view(contract.RUN_ARGS))
        # Word movement: memory address (or act slot; READ_COUNTERS: the counter kind), the
        # act ops' PE of the current index, the memory, PE and broadcast flag of the words.
        _add(r, waddr=contract.host_addr_bits(cfg), pe_cnt=cfg.pe_bits,
             wmem=self.bus.mem.shape(), wpe=cfg.pe_bits, wall=1)
        # Bytes per word of this transfer, words left to send, reply bytes sent of the word.
        _add(r, wnb=8, words=17, bpos=8, obuf=8 * max_nb)
        # Write words: ``wbuf`` fills (``wpos`` bytes in, ``wneed`` more to go; ``wroom``:
        # the most bytes a cycle may take and complete one word), ``wword`` goes to the
        # memories (``wr_go``).
        wr_nb = max(info.nbytes for info in mems.values())
        _add(r, wbuf=8 * wr_nb, wword=8 * wr_nb, wpos=range(wr_nb), wneed=8, wroom=8, wr_go=1)
        # Reply words: the counter index, the word's source, whether its read goes over the
        # bus (memories; the PEs' counters), whether it comes from the layer table, and the
        # word picked in FETCH for LATCH: ``pre``, or the layer table, the bus or the
        # layer-cycle memory (``lsel``).
        _add(r, widx=range(max(r.n_counters, 2)), src=3, bus_read=1, pre=8 * max_nb, lsel=2,
             table_word=1)
        return r

    def _ports_in_bytes(self, m, r):
        """The beat adapters: ``r.rx`` (a window of the incoming beat: ``want``, ``take``,
        ``data``) and ``r.tx`` (reply bytes with ``last``)."""
        B = self._cfg.host_bits // 8
        m.submodules.rx = rx = BeatReader(B)
        m.submodules.tx = tx = BeatWriter(B)
        wiring.connect(m, wiring.flipped(self.host_rx), rx.i)
        wiring.connect(m, tx.o, wiring.flipped(self.host_tx))
        m.d.comb += self.host_tx_last.eq(tx.o_last)
        r.rx, r.tx, r.beat = rx, tx.i, B
        r.byte = rx.data[:8]                  # the next byte, when ``take`` is not 0
        r.got = rx.take != 0

    def _decode(self, m, r):
        """Argument bytes and fixed-length flag of the opcode, facts of the addressed memory."""
        # Registered from ``op`` (set in OP, first needed in ARGS two cycles later), so the
        # decode stays off rx.ready.
        _add(r, need=range(r.max_args + 1), fixed=1, known=1)
        m.d.sync += [r.need.eq(0), r.fixed.eq(0), r.known.eq(0)]
        with m.Switch(r.op):
            for op in contract.ARGS:
                with m.Case(op):
                    m.d.sync += [r.need.eq(contract.arg_bytes(op)), r.known.eq(1),
                                 r.fixed.eq(op not in contract.DATA_OPS)]
        _add(r, mem_known=1, per_pe=1, nb_mem=8, depth_mem=33,
             mem_count_bytes=32)              # count x the memory's bytes per word
        with m.Switch(r.mem_args.mem):
            for mem, info in r.mems.items():
                with m.Case(mem):
                    m.d.comb += [r.mem_known.eq(1), r.per_pe.eq(info.per_pe), r.nb_mem.eq(info.nbytes),
                                 r.depth_mem.eq(info.depth),
                                 r.mem_count_bytes.eq(_times(r.mem_args.count, info.nbytes))]
        r.is_write_mem, r.is_read_mem = r.op == Op.WRITE_MEM, r.op == Op.READ_MEM
        r.is_write_act, r.is_read_act = r.op == Op.WRITE_ACT, r.op == Op.READ_ACT
        r.act_op = Signal()      # the current command moves activations (global index)
        m.d.comb += r.act_op.eq(r.is_write_act | r.is_read_act)
        r.nb_act = nbytes(self._cfg.act_bits)

    def _validate(self, m, r):
        """docs/protocol.md's checks, in order. Two register stages, filled while the FSM
        passes ARGS -> VALIDATE -> CHECK (the arguments do not change after ARGS): products,
        address ends and the RUN's layer range first, then the verdict, so multiply -> compare
        -> priority chain is not one cycle."""
        cfg = self._cfg
        ma, aa = r.mem_args, r.act_args
        _add(r, check=8, check_q=8, mem_bytes=32, act_bytes=32)
        addr_over, act_over, run_bad = Signal(), Signal(), Signal()
        mem_bytes, act_bytes = r.mem_bytes, r.act_bytes
        n, first = r.run_args.n_layers, r.run_args.first
        m.d.sync += [mem_bytes.eq(r.mem_count_bytes), act_bytes.eq(_times(aa.count, r.nb_act)),
                     addr_over.eq(ma.addr + ma.count > r.depth_mem),
                     act_over.eq(aa.addr + aa.count > cfg.max_len),
                     run_bad.eq((n == 0) | (n > cfg.max_layers) | (first + n > cfg.max_layers)),
                     r.check_q.eq(r.check)]
        ok_pe = (ma.pe < cfg.n_pe) | (r.is_write_mem & (ma.pe == contract.BROADCAST))
        mem_rules = [(~r.mem_known, Status.ERR_MEM), (r.per_pe & ~ok_pe, Status.ERR_PE)] + _transfer_rules(
            r, Op.WRITE_MEM, ma.count, r.is_write_mem, r.is_read_mem, mem_bytes, addr_over)
        act_rules = _transfer_rules(r, Op.WRITE_ACT, aa.count, r.is_write_act, r.is_read_act, act_bytes,
                                    act_over)
        with m.If(~r.known):
            m.d.comb += r.check.eq(Status.ERR_OPCODE)
        with m.Elif((r.length < r.need) | (r.fixed & (r.length != r.need))):
            m.d.comb += r.check.eq(Status.ERR_LENGTH)
        with m.Elif(r.op == Op.RUN):
            _first_failing(m, r.check, [(run_bad, Status.ERR_VALUE)])
        with m.Elif(r.is_write_mem | r.is_read_mem):
            _first_failing(m, r.check, mem_rules)
        with m.Elif(r.act_op):
            _first_failing(m, r.check, act_rules)

    def _bus(self, m, r):
        """The bus to the memories, the flat activation index split into (PE, slot), and the
        address step after each word."""
        cfg = self._cfg
        N = cfg.n_pe
        if N & (N - 1) == 0:
            lg = (N - 1).bit_length()
            r.act_pe0, r.act_slot0 = (r.act_args.addr[:lg] if lg else C(0, 1)), r.act_args.addr[lg:]
        else:
            # A divider here was the 24-PE OrangeCrab's critical path after the sequencer's
            # (args -> waddr, 15.05 ns): the quotient and remainder by multiplies instead,
            # and the quotient registered, since the two multiplies in one cycle were the
            # next path (args -> pe_cnt, 12.63 ns). The arguments are final from VALIDATE
            # on, so CHECK reads the quotient of the final arguments.
            idx = r.act_args.addr[:cfg.len_bits]
            quotient = Signal(cfg.len_bits, name="act_slot_q")
            m.d.sync += quotient.eq(divide_by_constant(idx, N, (1 << cfg.len_bits) - 1))
            r.act_slot0, r.act_pe0 = quotient, idx - quotient * N
        m.d.comb += [
            self.bus.mem.eq(r.wmem), self.bus.addr.eq(r.waddr), self.bus.wdata.eq(r.wword),
            self.bus_pe.eq(Mux(r.act_op, r.pe_cnt, r.wpe)), self.bus_all.eq(r.wall),
            self.bus.we.eq(r.wr_go),
            self.run_layers.eq(r.run_args.n_layers), self.run_first.eq(r.run_args.first),
            self.lc_addr.eq(r.widx - contract.counter_offset(cfg, "layer_cycles")),
        ]
        m.d.sync += r.wr_go.eq(0)
        with m.If(r.wr_go):
            self._advance_addr(m, r)

    def _advance_addr(self, m, r):
        with m.If(r.act_op):
            with m.If(r.pe_cnt == self._cfg.n_pe - 1):
                m.d.sync += [r.pe_cnt.eq(0), r.waddr.eq(r.waddr + 1)]
            with m.Else():
                m.d.sync += r.pe_cnt.eq(r.pe_cnt + 1)
        with m.Else():
            m.d.sync += r.waddr.eq(r.waddr + 1)

    # ---- states ------------------------------------------------------------------------------

    def _receive_states(self, m, r):
        """OP, LEN0, LEN1, ARGS, VALIDATE: the header and the arguments."""
        rx, byte, got = r.rx, r.byte, r.got
        with m.State("OP"):
            m.d.comb += rx.want.eq(1)
            with m.If(got & (byte != Op.NOP)):
                m.d.sync += r.op.eq(byte)
                m.next = "LEN0"
        with m.State("LEN0"):
            m.d.comb += rx.want.eq(1)
            with m.If(got):
                m.d.sync += r.length[:8].eq(byte)
                m.next = "LEN1"
        with m.State("LEN1"):
            m.d.comb += rx.want.eq(1)
            with m.If(got):
                m.d.sync += [r.length[8:].eq(byte), r.rem.eq(Cat(r.length[:8], byte)),
                             r.argpos.eq(0), r.args.eq(0)]
                m.next = "ARGS"
        with m.State("ARGS"):
            with m.If((r.argpos == r.need) | (r.rem == 0)):
                m.next = "VALIDATE"
            with m.Else():
                m.d.comb += rx.want.eq(1)
                with m.If(got):
                    _store_byte(m, r.args, r.argpos, byte)
                    m.d.sync += [r.argpos.eq(r.argpos + 1), r.rem.eq(r.rem - 1)]
        with m.State("VALIDATE"):
            m.next = "CHECK"

    def _check_state(self, m, r):
        """CHECK: the verdict; set up the transfer and the reply of a valid command."""
        cfg = self._cfg
        ma, aa = r.mem_args, r.act_args
        with m.State("CHECK"):
            m.d.sync += [r.status.eq(r.check_q), r.resp_len.eq(0), r.hpos.eq(0), r.bpos.eq(0), r.wpos.eq(0),
                         r.words.eq(1), r.widx.eq(0), r.bus_read.eq(0), r.table_word.eq(0)]
            with m.If(r.check_q != Status.OK):
                m.next = "DISCARD"
            with m.Else():
                with m.If(r.act_op):
                    m.d.sync += [r.waddr.eq(r.act_slot0), r.pe_cnt.eq(r.act_pe0), r.wnb.eq(r.nb_act),
                                 r.wneed.eq(r.nb_act), r.wroom.eq(2 * r.nb_act - 1),
                                 r.wall.eq(0), r.words.eq(aa.count),
                                 r.wmem.eq(Mux(r.is_write_act, Mem.ACT0, Mem.ACT0 + self.out_sel))]
                with m.Else():
                    broadcast = ma.pe == contract.BROADCAST
                    m.d.sync += [r.waddr.eq(ma.addr), r.wmem.eq(ma.mem), r.wnb.eq(r.nb_mem),
                                 r.wneed.eq(r.nb_mem), r.wroom.eq((r.nb_mem << 1) - 1),
                                 r.words.eq(ma.count), r.table_word.eq(ma.mem == Mem.LAYERS),
                                 r.wpe.eq(Mux(r.per_pe & ~broadcast, ma.pe, 0)),
                                 r.wall.eq(~r.per_pe | broadcast)]
                fixed_reply = {Op.INFO: SRC_INFO, Op.STATUS: SRC_STATUS, Op.RUN: SRC_RUN}
                with m.Switch(r.op):
                    for op, src in fixed_reply.items():
                        with m.Case(op):
                            n = contract.reply_bytes(cfg, op)
                            m.d.sync += [r.resp_len.eq(n), r.wnb.eq(n), r.words.eq(1), r.src.eq(src)]
                            if op == Op.RUN:
                                m.d.comb += self.run_start.eq(1)
                                m.next = "RUN"
                            else:
                                m.next = "HDR"
                    with m.Case(Op.READ_COUNTERS):
                        # The PEs' counters are read over the bus: PE ``wpe``'s counter kind
                        # ``waddr`` (`hw.layouts.COUNTERS_MEM`), from the first busy count on.
                        m.d.sync += [r.resp_len.eq(contract.counters_bytes(cfg)), r.wnb.eq(COUNTER_BITS // 8),
                                     r.words.eq(r.n_counters), r.src.eq(SRC_COUNTERS),
                                     r.wmem.eq(COUNTERS_MEM), r.waddr.eq(0), r.wpe.eq(0), r.wall.eq(0)]
                        m.next = "HDR"
                    with m.Case(Op.READ_MEM):
                        m.d.sync += [r.resp_len.eq(r.mem_bytes), r.src.eq(SRC_MEM), r.bus_read.eq(1)]
                        m.next = "HDR"
                    with m.Case(Op.READ_ACT):
                        m.d.sync += [r.resp_len.eq(r.act_bytes), r.src.eq(SRC_MEM), r.bus_read.eq(1)]
                        m.next = "HDR"
                    with m.Case(*contract.DATA_OPS):
                        m.next = "WDATA"

    def _write_states(self, m, r):
        """DISCARD (the body of a rejected command) and WDATA (words to write)."""
        rx, take = r.rx, r.rx.take
        with m.State("DISCARD"):
            with m.If(r.rem == 0):
                m.next = "HDR"
            with m.Else():
                m.d.comb += rx.want.eq(_rem_cap(r))
                m.d.sync += r.rem.eq(r.rem - take)
        with m.State("WDATA"):
            self._write_body(m, r)

    def _write_body(self, m, r):
        """A write body, up to a beat a cycle: the bytes that complete the word in ``wbuf`` go
        with it to ``wword`` (written next cycle), those after it start the next word; at most
        one word completes a cycle (``want`` stops short of a second)."""
        rx, take, need = r.rx, r.rx.take, r.wneed
        # wbuf's bytes below wpos (the top byte is never kept: wpos stops below it).
        keep = Cat(*[(r.wpos > i).replicate(8) for i in range(len(r.wbuf) // 8 - 1)], C(0, 8))
        merged = (r.wbuf & keep) | (rx.data << (r.wpos * 8))[:len(r.wbuf)]
        with m.If(r.rem == 0):
            m.next = "HDR"
        with m.Else():
            # ``wneed`` and ``wroom`` are registers (updated with ``wpos``), so the cycle's
            # byte count is not rem -> compare -> subtract -> compare -> ``wpos`` (a 15.5 ns
            # path on the ULX3S); with 1-byte beats ``want`` is 1 (``wroom`` >= 1).
            m.d.comb += rx.want.eq(_rem_cap(r) if r.beat == 1 else _at_most(_rem_cap(r), r.wroom))
            m.d.sync += r.rem.eq(r.rem - take)
            with m.If(r.got & (take >= need)):
                left = r.wnb + need - take    # the next word's bytes still to come
                m.d.sync += [r.wword.eq(merged), r.wbuf.eq(rx.data >> (need * 8)),
                             r.wpos.eq(take - need), r.wr_go.eq(1),
                             r.wneed.eq(left), r.wroom.eq(left + r.wnb - 1)]
            with m.Elif(r.got):
                m.d.sync += [r.wbuf.eq(merged), r.wpos.eq(r.wpos + take),
                             r.wneed.eq(need - take), r.wroom.eq(r.wroom - take)]

    def _reply_states(self, m, r):
        """HDR (the response header), then FETCH, LATCH, SEND per word of the body."""
        tx = r.tx
        hdr = Signal(struct_from_fields(contract.RSP_HEADER))
        m.d.comb += [hdr.status.eq(r.status), hdr.op.eq(r.op), hdr.len.eq(r.resp_len)]
        hdr_end = r.hpos == contract.header_bytes(contract.RSP_HEADER) - 1
        with m.State("HDR"):
            m.d.comb += [tx.valid.eq(1), tx.payload.byte.eq(hdr.as_value().word_select(r.hpos, 8)),
                         tx.payload.last.eq(hdr_end & (r.resp_len == 0))]
            with m.If(tx.ready):
                m.d.sync += r.hpos.eq(r.hpos + 1)
                with m.If(hdr_end):
                    with m.If(r.resp_len == 0):
                        m.next = "OP"
                    with m.Else():
                        m.next = "FETCH"
        with m.State("FETCH"):
            # Issue the read of the next word (memories and PE counters over the bus, layer
            # table, layer-cycle memory) and pick the rest now, so LATCH is a four-way choice
            # of registers and memory outputs.
            m.d.comb += [self.bus.re.eq(r.bus_read), self.table_re.eq(1)]
            self._pick(m, r)
            # ``hold``: a PE memory's read data is `eie.timing.host_read_latency` cycles away;
            # the distributor sends the read once and holds the engine here until it is back.
            with m.If(~self.hold):
                m.next = "LATCH"
        with m.State("LATCH"):
            m.d.sync += r.bpos.eq(0)
            with m.Switch(r.lsel):
                with m.Case(LSEL_PRE):
                    m.d.sync += r.obuf.eq(r.pre)
                with m.Case(LSEL_TABLE):
                    m.d.sync += r.obuf.eq(self.table_rdata)
                with m.Case(LSEL_BUS):
                    m.d.sync += r.obuf.eq(self.bus.rdata)
                with m.Case(LSEL_LC):
                    m.d.sync += r.obuf.eq(self.lc_data)
            m.next = "SEND"
        with m.State("SEND"):
            m.d.comb += [tx.valid.eq(1), tx.payload.byte.eq(r.obuf[:8]),
                         tx.payload.last.eq((r.bpos == r.wnb - 1) & (r.words == 1))]
            with m.If(tx.ready):
                m.d.sync += [r.obuf.eq(r.obuf >> 8), r.bpos.eq(r.bpos + 1)]
                with m.If(r.bpos == r.wnb - 1):
                    m.d.sync += [r.words.eq(r.words - 1), r.widx.eq(r.widx + 1)]
                    with m.If(r.src == SRC_COUNTERS):
                        self._next_counter(m, r)
                    with m.Else():
                        self._advance_addr(m, r)
                    with m.If(r.words == 1):
                        m.next = "OP"
                    with m.Else():
                        m.next = "FETCH"

    def _pick(self, m, r):
        """FETCH: where LATCH takes the word from (``lsel``), and ``pre``, the word itself
        when it comes from neither a memory nor the bus."""
        cfg = self._cfg
        status = cat_fields(contract.STATUS_FIELDS, ready=self.ready, out_sel=self.out_sel,
                            last_layers=self.last_layers)
        m.d.sync += [r.pre.eq(0), r.lsel.eq(LSEL_PRE)]
        with m.Switch(r.src):
            with m.Case(SRC_INFO):
                m.d.sync += r.pre.eq(contract.info_word(cfg))
            with m.Case(SRC_STATUS):
                m.d.sync += r.pre.eq(status)
            with m.Case(SRC_RUN):
                m.d.sync += r.pre.eq(self.run_cycles)
            with m.Case(SRC_MEM):
                m.d.sync += r.lsel.eq(Mux(r.table_word, LSEL_TABLE, LSEL_BUS))
            with m.Case(SRC_COUNTERS):
                self._pick_counter(m, r)

    def _pick_counter(self, m, r):
        """READ_COUNTERS: counter ``widx`` of `eie.contract.counter_groups`; the PEs' come
        over the bus (``bus_read``)."""
        cfg = self._cfg
        off = {name: contract.counter_offset(cfg, name) for name, _ in contract.counter_groups(cfg)}
        with m.If(r.bus_read):
            m.d.sync += r.lsel.eq(LSEL_BUS)
        with m.Elif(r.widx == off["cycle"]):
            m.d.sync += r.pre.eq(self.cycle)
        with m.Elif(r.widx == off["run_cycles"]):
            m.d.sync += r.pre.eq(self.run_cycles)
        with m.Elif(r.widx == off["broadcasts"]):
            m.d.sync += r.pre.eq(self.broadcasts)
        with m.Else():
            # Entries the last RUN did not run report 0 (the memory keeps older counts).
            entry = r.widx - off["layer_cycles"]
            with m.If((entry >= self.last_first) & (entry < self.last_first + self.last_layers)):
                m.d.sync += r.lsel.eq(LSEL_LC)

    def _next_counter(self, m, r):
        """After a READ_COUNTERS word: the next PE's counter of the same kind, or the first
        PE's of the next kind; the words after the layer cycles come over the bus."""
        cfg = self._cfg
        with m.If(r.bus_read):
            with m.If(r.wpe == cfg.n_pe - 1):
                m.d.sync += [r.wpe.eq(0), r.waddr.eq(r.waddr + 1)]
            with m.Else():
                m.d.sync += r.wpe.eq(r.wpe + 1)
        with m.If(r.widx == contract.counter_offset(cfg, "busy") - 1):
            m.d.sync += r.bus_read.eq(1)


def _times(value, k: int):
    """``value * k`` for a constant ``k``, as shifted adds: a multiplier here would be a DSP
    block whose routing was the critical path of the 90 MHz ECP5 builds."""
    return sum((value << i for i in range(k.bit_length()) if k >> i & 1), C(0, 1))


def _add(r, **shapes):
    """Signals of the engine, ``r.<name>`` named ``<name>`` (a tuple assignment would leave
    them ``$signal$NN`` in timing reports and waveforms)."""
    for name, shape in shapes.items():
        setattr(r, name, Signal(shape, name=name))


def _at_most(value, limit):
    return Mux(value < limit, value, limit)


def _rem_cap(r):
    """The body bytes a cycle may take, ``min(rem, beat)``, where ``rem`` is not 0 (with
    1-byte beats: 1, so no compare of ``rem`` sits in front of the stream's ready)."""
    return C(1, 1) if r.beat == 1 else _at_most(r.rem, r.beat)


def _store_byte(m, register, pos, byte):
    """``register``'s byte ``pos`` takes ``byte`` (one case per byte of the register)."""
    with m.Switch(pos):
        for i in range(len(register) // 8):
            with m.Case(i):
                m.d.sync += register[8 * i:8 * i + 8].eq(byte)


def _transfer_rules(r, write_op, count, is_write, is_read, total_bytes, past_end):
    """The checks of a word transfer, in order: a count of 0, a write body that is not
    arguments plus words, a reply too long (ERR_LENGTH); the end past the memory (ERR_ADDR)."""
    bad_length = ((count == 0) | (is_write & (r.length != contract.arg_bytes(write_op) + total_bytes))
                  | (is_read & (total_bytes > contract.MAX_BODY)))
    return [(bad_length, Status.ERR_LENGTH), (past_end, Status.ERR_ADDR)]


def _first_failing(m, target, rules):
    """``target`` takes the status of the first (condition, status) rule whose condition holds."""
    for i, (cond, status) in enumerate(rules):
        with (m.If if i == 0 else m.Elif)(cond):
            m.d.comb += target.eq(status)
