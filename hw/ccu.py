"""Central control unit: the host command engine (I/O mode) and the layer sequencer (compute).

I/O mode: the CCU parses command frames from ``host_rx`` (docs/protocol.md), validates them
in the documented order, consumes every body in full (so a malformed command can neither
hang the design nor desynchronise the stream), writes and reads the PEs' memories over the
PE bus, keeps the layer table itself, and answers each command with one frame on
``host_tx``.

Compute mode (RUN n): for each layer ``l < n`` it reads the layer table entry (LOAD), starts
the scanner (START), broadcasts every non-zero input to all PEs in the same cycle whenever
every PE's queue has room, waits until the scanner is done and every PE is idle (SCAN),
drives write-back one local row per cycle (WB), then records the layer's cycle count and
flips the act files (FINISH). docs/hw.md gives the cycle-exact rules that
sim/cycle_model.py implements.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned, Cat, Mux, C
from amaranth.lib import data, wiring, stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig, bits_for
from eie import format as fmt
from . import protocol as proto
from .layouts import (PEBus, LayerParams, bcast_layout, layer_layout, check_hw_config, MEM_IDS,
                      host_addr_bits, host_data_bits)
from .scanner import Scanner
from .arith import row_bits
from .pe import COUNTER_BITS

__all__ = ["CCU"]


class CCU(wiring.Component):
    def __init__(self, cfg: EIEConfig):
        check_hw_config(cfg)
        self._cfg = cfg
        n = cfg.n_pe
        rb = row_bits(cfg)
        super().__init__({
            "host_rx": In(stream.Signature(8)),
            "host_tx": Out(stream.Signature(8)),
            "busy": Out(1),
            "bus": Out(PEBus(cfg)),
            "bus_pe": Out(cfg.pe_bits),
            "bus_all": Out(1),
            "params": Out(LayerParams(cfg)),
            "running": Out(1),
            "sel": Out(1),
            "clear": Out(1),
            "scan_addr": Out(rb),
            "scan_en": Out(1),
            "scan_data": In(data.ArrayLayout(signed(cfg.act_bits), n)),
            "bcast_valid": Out(1),
            "bcast": Out(bcast_layout(cfg)),
            "bcast_commit": Out(1),
            "room": In(n),
            "wb_en": Out(1),
            "wb_row": Out(rb),
            "pe_idle": In(n),
            "pe_ready": In(n),
            "busy_counts": In(data.ArrayLayout(COUNTER_BITS, n)),
            "stall_counts": In(data.ArrayLayout(COUNTER_BITS, n)),
        })

    @property
    def cfg(self) -> EIEConfig:
        return self._cfg

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        N, L = cfg.n_pe, cfg.max_layers
        rx, tx = self.host_rx, self.host_tx
        mems = proto.memory_table(cfg)
        nb_act = (cfg.act_bits + 7) // 8
        max_nb = max(max(i.nbytes for i in mems.values()), proto.INFO_BYTES, 4)
        n_counters = 3 + L + 2 * N

        # ---- layer table and per-layer cycle counts ----
        m.submodules.layers = ltab = Memory(shape=layer_layout(cfg), depth=L, init=[])
        lt_r, lt_w = ltab.read_port(), ltab.write_port()
        m.submodules.layer_cycles = lcm = Memory(shape=32, depth=L, init=[])
        lc_r, lc_w = lcm.read_port(), lcm.write_port()

        m.submodules.scanner = scan = Scanner(cfg)

        # ---- command registers ----
        op = Signal(8)
        length = Signal(16)
        rem = Signal(16)
        args = Signal(8 * 9)
        argpos = Signal(range(10))
        status = Signal(8)
        resp_len = Signal(16)
        hpos = Signal(2)
        arg_b = lambda i: args[8 * i:8 * i + 8]
        a_mem = arg_b(0)
        a_pe = Cat(arg_b(1), arg_b(2))
        a_addr = Cat(arg_b(3), arg_b(4), arg_b(5), arg_b(6))
        a_count = Cat(arg_b(7), arg_b(8))
        act_addr = Cat(arg_b(0), arg_b(1), arg_b(2), arg_b(3))
        act_count = Cat(arg_b(4), arg_b(5))
        run_n = arg_b(0)

        # Argument bytes and fixed-length flag of each opcode: registered from ``op`` (set in
        # OP, first needed in ARGS two cycles later), so the decode stays off rx.ready.
        need = Signal(4)
        fixed = Signal()
        known = Signal()
        m.d.sync += [need.eq(0), fixed.eq(0), known.eq(0)]
        with m.Switch(op):
            for o, nbytes in proto.ARG_BYTES.items():
                with m.Case(int(o)):
                    m.d.sync += [need.eq(nbytes), known.eq(1),
                                 fixed.eq(o not in (proto.Op.WRITE_MEM, proto.Op.WRITE_ACT))]

        # Per-memory facts for the memory in the arguments.
        mem_known, per_pe, nb_mem, depth_mem = Signal(), Signal(), Signal(8), Signal(33)
        with m.Switch(a_mem):
            for mem, info in mems.items():
                with m.Case(int(mem)):
                    m.d.comb += [mem_known.eq(1), per_pe.eq(info.per_pe), nb_mem.eq(info.nbytes),
                                 depth_mem.eq(info.depth)]

        is_write_mem = op == proto.Op.WRITE_MEM
        is_read_mem = op == proto.Op.READ_MEM
        is_write_act = op == proto.Op.WRITE_ACT
        is_read_act = op == proto.Op.READ_ACT
        act_op = Signal()      # the current command moves activations (global index)
        m.d.comb += act_op.eq(is_write_act | is_read_act)

        # ---- validation (docs/protocol.md order) ----
        # Two register stages, filled while the FSM passes ARGS -> VALIDATE -> CHECK (the
        # arguments do not change after ARGS): products and address ends first, then the
        # verdict. Keeps multiply -> compare -> priority chain out of a single cycle.
        check = Signal(8)
        check_q = Signal(8)
        mem_bytes = Signal(32)
        act_bytes = Signal(32)
        addr_over = Signal()
        act_over = Signal()
        m.d.sync += [mem_bytes.eq(a_count * nb_mem), act_bytes.eq(act_count * nb_act),
                     addr_over.eq(a_addr + a_count > depth_mem),
                     act_over.eq(act_addr + act_count > cfg.max_len),
                     check_q.eq(check)]
        with m.If(~known):
            m.d.comb += check.eq(proto.Status.ERR_OPCODE)
        with m.Elif((length < need) | (fixed & (length != need))):
            m.d.comb += check.eq(proto.Status.ERR_LENGTH)
        with m.Elif(op == proto.Op.RUN):
            with m.If((run_n == 0) | (run_n > L)):
                m.d.comb += check.eq(proto.Status.ERR_VALUE)
        with m.Elif(is_write_mem | is_read_mem):
            with m.If(~mem_known):
                m.d.comb += check.eq(proto.Status.ERR_MEM)
            with m.Elif(per_pe & ~((a_pe < N) | (is_write_mem & (a_pe == proto.BROADCAST)))):
                m.d.comb += check.eq(proto.Status.ERR_PE)
            with m.Elif((a_count == 0) | (is_write_mem & (length != 9 + mem_bytes))
                        | (is_read_mem & (mem_bytes > proto.MAX_BODY))):
                m.d.comb += check.eq(proto.Status.ERR_LENGTH)
            with m.Elif(addr_over):
                m.d.comb += check.eq(proto.Status.ERR_ADDR)
        with m.Elif(act_op):
            with m.If((act_count == 0) | (is_write_act & (length != 6 + act_bytes))
                      | (is_read_act & (act_bytes > proto.MAX_BODY))):
                m.d.comb += check.eq(proto.Status.ERR_LENGTH)
            with m.Elif(act_over):
                m.d.comb += check.eq(proto.Status.ERR_ADDR)

        # ---- word movement state ----
        abits = host_addr_bits(cfg)
        waddr = Signal(abits)                 # memory address (or act slot)
        pe_cnt = Signal(cfg.pe_bits)          # act ops: PE of the current index
        wmem = Signal(3)
        wpe = Signal(cfg.pe_bits)
        wall = Signal()
        wnb = Signal(8)                       # bytes per word of the current transfer
        words = Signal(17)                    # words left to send
        bpos = Signal(8)
        wbuf = Signal(8 * max_nb)
        wr_go = Signal()
        obuf = Signal(8 * max_nb)
        widx = Signal(range(max(n_counters, 2)))
        src = Signal(3)                       # what the response body holds
        cnt_val = Signal(32)                  # READ_COUNTERS: the counter picked in FETCH
        cnt_from_mem = Signal()               # ... or the layer-cycle memory's read data
        SRC_INFO, SRC_STATUS, SRC_COUNTERS, SRC_MEM, SRC_RUN = range(5)

        # Flat activation index -> (PE, slot).
        if N & (N - 1) == 0:
            lg = (N - 1).bit_length()
            act_pe0, act_slot0 = act_addr[:lg] if lg else C(0, 1), act_addr[lg:]
        else:
            idx = act_addr[:cfg.len_bits]
            act_pe0, act_slot0 = idx % N, idx // N

        def advance_addr():
            with m.If(act_op):
                with m.If(pe_cnt == N - 1):
                    m.d.sync += [pe_cnt.eq(0), waddr.eq(waddr + 1)]
                with m.Else():
                    m.d.sync += pe_cnt.eq(pe_cnt + 1)
            with m.Else():
                m.d.sync += waddr.eq(waddr + 1)

        # ---- compute state ----
        n_layers = Signal(8)
        layer = Signal(range(max(L, 2)))
        last_layers = Signal(8)
        sel = Signal()
        out_sel = Signal()
        cycle = Signal(32)
        run_cycles = Signal(32)
        broadcasts = Signal(32)
        lcyc = Signal(32)
        wb_base = Signal(cfg.len_bits + 1)
        wb_row = Signal(row_bits(cfg))
        out_rows = Signal(bits_for(cfg.act_depth))
        m.d.sync += cycle.eq(cycle + 1)

        tbl = data.View(layer_layout(cfg), lt_r.data)
        in_len = Signal(cfg.len_bits)
        out_len = Signal(cfg.len_bits)
        m.d.comb += [in_len.eq(Mux(tbl.in_len > cfg.max_len, cfg.max_len, tbl.in_len)),
                     out_len.eq(Mux(tbl.out_len > cfg.max_len, cfg.max_len, tbl.out_len))]
        if N & (N - 1) == 0:
            rows_now = (out_len + N - 1) >> ((N - 1).bit_length())
        else:
            rows_now = (out_len + N - 1) // N
        m.d.comb += [
            self.params.layer.eq(layer),
            self.params.out_rows.eq(out_rows),
            self.sel.eq(sel),
            scan.in_len.eq(in_len),
            self.scan_addr.eq(scan.row_addr),
            self.scan_en.eq(scan.row_en),
            scan.row_data.eq(self.scan_data),
            self.bcast_valid.eq(scan.bc_valid),
            self.bcast.eq(scan.bc),
            self.wb_row.eq(wb_row),
        ]
        commit = Signal()
        m.d.comb += [commit.eq(scan.bc_valid & self.room.all()),
                     self.bcast_commit.eq(commit), scan.bc_commit.eq(commit)]
        with m.If(commit):
            m.d.sync += broadcasts.eq(broadcasts + 1)
        m.d.sync += lcyc.eq(lcyc + 1)

        # Layer table / cycle memories: host side when not computing.
        # The layer table's read data holds the running layer's entry: read only in LOAD/FETCH.
        m.d.comb += [lt_r.addr.eq(self.bus.addr), lt_r.en.eq(0), lc_r.addr.eq(widx - 3)]

        # ---- the bus to the PEs ----
        m.d.comb += [
            self.bus.mem.eq(wmem), self.bus.addr.eq(waddr), self.bus.wdata.eq(wbuf),
            self.bus_pe.eq(Mux(act_op, pe_cnt, wpe)), self.bus_all.eq(wall),
            self.bus.we.eq(wr_go),
            lt_w.addr.eq(waddr), lt_w.data.eq(wbuf), lt_w.en.eq(wr_go & (wmem == MEM_IDS["layers"])),
        ]
        m.d.sync += wr_go.eq(0)
        with m.If(wr_go):
            advance_addr()

        hdr = Cat(status, op, resp_len)
        info = int.from_bytes(proto.info_body(cfg), "little")

        with m.FSM(name="ccu"):
            with m.State("OP"):
                m.d.comb += rx.ready.eq(1)
                with m.If(rx.valid & (rx.payload != proto.Op.NOP)):
                    m.d.sync += op.eq(rx.payload)
                    m.next = "LEN0"
            with m.State("LEN0"):
                m.d.comb += rx.ready.eq(1)
                with m.If(rx.valid):
                    m.d.sync += length[:8].eq(rx.payload)
                    m.next = "LEN1"
            with m.State("LEN1"):
                m.d.comb += rx.ready.eq(1)
                with m.If(rx.valid):
                    m.d.sync += [length[8:].eq(rx.payload), rem.eq(Cat(length[:8], rx.payload)),
                                 argpos.eq(0), args.eq(0)]
                    m.next = "ARGS"
            with m.State("ARGS"):
                with m.If((argpos == need) | (rem == 0)):
                    m.next = "VALIDATE"
                with m.Else():
                    m.d.comb += rx.ready.eq(1)
                    with m.If(rx.valid):
                        with m.Switch(argpos):
                            for i in range(9):
                                with m.Case(i):
                                    m.d.sync += arg_b(i).eq(rx.payload)
                        m.d.sync += [argpos.eq(argpos + 1), rem.eq(rem - 1)]
            with m.State("VALIDATE"):
                m.next = "CHECK"
            with m.State("CHECK"):
                m.d.sync += [status.eq(check_q), resp_len.eq(0), hpos.eq(0), bpos.eq(0),
                             words.eq(1), widx.eq(0)]
                with m.If(check_q != proto.Status.OK):
                    m.next = "DISCARD"
                with m.Else():
                    # Transfers: memory, PE, address and word size.
                    with m.If(act_op):
                        m.d.sync += [waddr.eq(act_slot0), pe_cnt.eq(act_pe0), wnb.eq(nb_act),
                                     wall.eq(0), words.eq(act_count),
                                     wmem.eq(Mux(is_write_act, MEM_IDS["act0"],
                                                 MEM_IDS["act0"] + out_sel))]
                    with m.Else():
                        m.d.sync += [waddr.eq(a_addr), wmem.eq(a_mem), wnb.eq(nb_mem),
                                     words.eq(a_count),
                                     wpe.eq(Mux(per_pe & (a_pe != proto.BROADCAST), a_pe, 0)),
                                     wall.eq(~per_pe | (a_pe == proto.BROADCAST))]
                    with m.Switch(op):
                        with m.Case(proto.Op.INFO):
                            m.d.sync += [resp_len.eq(proto.INFO_BYTES), wnb.eq(proto.INFO_BYTES),
                                         words.eq(1), src.eq(SRC_INFO)]
                            m.next = "HDR"
                        with m.Case(proto.Op.STATUS):
                            m.d.sync += [resp_len.eq(2), wnb.eq(2), words.eq(1), src.eq(SRC_STATUS)]
                            m.next = "HDR"
                        with m.Case(proto.Op.READ_COUNTERS):
                            m.d.sync += [resp_len.eq(proto.counters_len(cfg)), wnb.eq(4),
                                         words.eq(n_counters), src.eq(SRC_COUNTERS)]
                            m.next = "HDR"
                        with m.Case(proto.Op.READ_MEM):
                            m.d.sync += [resp_len.eq(mem_bytes), src.eq(SRC_MEM)]
                            m.next = "HDR"
                        with m.Case(proto.Op.READ_ACT):
                            m.d.sync += [resp_len.eq(act_bytes), src.eq(SRC_MEM)]
                            m.next = "HDR"
                        with m.Case(proto.Op.WRITE_MEM, proto.Op.WRITE_ACT):
                            m.next = "WDATA"
                        with m.Case(proto.Op.RUN):
                            m.d.sync += [n_layers.eq(run_n), resp_len.eq(4), wnb.eq(4), words.eq(1),
                                         src.eq(SRC_RUN)]
                            m.next = "RUN_WAIT"
            with m.State("DISCARD"):
                with m.If(rem == 0):
                    m.next = "HDR"
                with m.Else():
                    m.d.comb += rx.ready.eq(1)
                    with m.If(rx.valid):
                        m.d.sync += rem.eq(rem - 1)
            with m.State("WDATA"):
                with m.If(rem == 0):
                    m.next = "HDR"
                with m.Else():
                    m.d.comb += rx.ready.eq(1)
                    with m.If(rx.valid):
                        with m.Switch(bpos):
                            for i in range(max_nb):
                                with m.Case(i):
                                    m.d.sync += wbuf[8 * i:8 * i + 8].eq(rx.payload)
                        m.d.sync += rem.eq(rem - 1)
                        with m.If(bpos == wnb - 1):
                            m.d.sync += [bpos.eq(0), wr_go.eq(1)]
                        with m.Else():
                            m.d.sync += bpos.eq(bpos + 1)
            with m.State("HDR"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(hdr.word_select(hpos, 8))]
                with m.If(tx.ready):
                    m.d.sync += hpos.eq(hpos + 1)
                    with m.If(hpos == 3):
                        with m.If(resp_len == 0):
                            m.next = "OP"
                        with m.Else():
                            m.next = "FETCH"
            with m.State("FETCH"):
                # Issue the read of the next word (PE bus, layer table, cycle memory), and pick
                # the counter now, so LATCH is a two-way choice (the layer cycles come from a
                # memory whose data arrives in LATCH).
                m.d.comb += [self.bus.re.eq(src == SRC_MEM), lt_r.en.eq(1)]
                m.d.sync += [cnt_val.eq(0), cnt_from_mem.eq(0)]
                with m.If(widx == 0):
                    m.d.sync += cnt_val.eq(cycle)
                with m.Elif(widx == 1):
                    m.d.sync += cnt_val.eq(run_cycles)
                with m.Elif(widx == 2):
                    m.d.sync += cnt_val.eq(broadcasts)
                with m.Elif(widx < 3 + L):
                    m.d.sync += cnt_from_mem.eq(widx - 3 < last_layers)
                with m.Elif(widx < 3 + L + N):
                    m.d.sync += cnt_val.eq(self.busy_counts[(widx - (3 + L)).as_unsigned()])
                with m.Else():
                    m.d.sync += cnt_val.eq(self.stall_counts[(widx - (3 + L + N)).as_unsigned()])
                m.next = "LATCH"
            with m.State("LATCH"):
                m.d.sync += bpos.eq(0)
                with m.Switch(src):
                    with m.Case(SRC_INFO):
                        m.d.sync += obuf.eq(info)
                    with m.Case(SRC_STATUS):
                        m.d.sync += obuf.eq(Cat(self.pe_ready.all(), out_sel, C(0, 6), last_layers))
                    with m.Case(SRC_RUN):
                        m.d.sync += obuf.eq(run_cycles)
                    with m.Case(SRC_MEM):
                        with m.If(~act_op & (wmem == MEM_IDS["layers"])):
                            m.d.sync += obuf.eq(lt_r.data.as_value())
                        with m.Else():
                            m.d.sync += obuf.eq(self.bus.rdata)
                    with m.Case(SRC_COUNTERS):
                        m.d.sync += obuf.eq(Mux(cnt_from_mem, lc_r.data, cnt_val))
                m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(obuf[:8])]
                with m.If(tx.ready):
                    m.d.sync += [obuf.eq(obuf >> 8), bpos.eq(bpos + 1)]
                    with m.If(bpos == wnb - 1):
                        m.d.sync += [words.eq(words - 1), widx.eq(widx + 1)]
                        advance_addr()
                        with m.If(words == 1):
                            m.next = "OP"
                        with m.Else():
                            m.next = "FETCH"

            # ---- compute mode ----
            with m.State("RUN_WAIT"):
                m.d.comb += self.busy.eq(1)
                with m.If(self.pe_ready.all()):
                    m.d.comb += self.clear.eq(1)
                    m.d.sync += [run_cycles.eq(0), broadcasts.eq(0), layer.eq(0), sel.eq(0),
                                 last_layers.eq(n_layers)]
                    m.next = "LOAD"
            with m.State("LOAD"):
                m.d.comb += [self.busy.eq(1), self.running.eq(1), lt_r.addr.eq(layer), lt_r.en.eq(1)]
                m.d.sync += lcyc.eq(1)
                m.next = "START"
            with m.State("START"):
                m.d.comb += [self.busy.eq(1), self.running.eq(1), scan.start.eq(1)]
                # The PEs' layer parameters come from flops, not the table's read port (they
                # fan out to every PE); the first broadcast reaches a PE two cycles later.
                m.d.sync += [out_rows.eq(rows_now), self.params.ptr_base.eq(tbl.ptr_base),
                             self.params.bias_base.eq(tbl.bias_base),
                             self.params.shift.eq(tbl.shift), self.params.relu.eq(tbl.relu)]
                m.next = "SCAN"
            with m.State("SCAN"):
                m.d.comb += [self.busy.eq(1), self.running.eq(1)]
                with m.If(scan.done & self.pe_idle.all()):
                    m.d.sync += [wb_base.eq(0), wb_row.eq(0)]
                    m.next = "WB"
            with m.State("WB"):
                m.d.comb += [self.busy.eq(1), self.running.eq(1), self.wb_en.eq(wb_base < out_len)]
                m.d.sync += [wb_base.eq(wb_base + N), wb_row.eq(wb_row + 1)]
                with m.If(wb_base + N >= out_len):
                    m.next = "WB_FLUSH"
            with m.State("WB_FLUSH"):
                # The arithmetic units hand out a row two cycles after wb_en: the last one is
                # written in FINISH, before sel flips.
                m.d.comb += [self.busy.eq(1), self.running.eq(1)]
                m.next = "FINISH"
            with m.State("FINISH"):
                m.d.comb += [self.busy.eq(1), self.running.eq(1),
                             lc_w.addr.eq(layer), lc_w.data.eq(lcyc + 1), lc_w.en.eq(1)]
                m.d.sync += [run_cycles.eq(run_cycles + lcyc + 1), sel.eq(~sel), layer.eq(layer + 1)]
                with m.If(layer + 1 == n_layers):
                    m.d.sync += [out_sel.eq(~sel), hpos.eq(0)]
                    m.next = "HDR"
                with m.Else():
                    m.next = "LOAD"
        return m
