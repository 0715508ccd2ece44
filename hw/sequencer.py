"""Layer sequencer: runs layers ``first .. first+n-1`` of the layer table without the host (compute mode).

Started by the command engine (``run_start``, with ``run_layers`` and ``run_first``; the first
layer run reads act file 0 whatever its table entry), it waits until every PE
has finished its reset sweep (RUN_WAIT), then for each layer reads its layer-table entry
(LOAD), starts the scanner and latches the layer parameters the PEs read (START),
broadcasts every non-zero input to all PEs in the same cycle whenever every PE has a credit
(hw/admission.py), waits until the scanner is done and every PE is idle (SCAN), drives
write-back one local row per cycle (WB), lets the last row reach the act file (WB_FLUSH,
`eie.timing.wb_flush_cycles`), then records the layer's cycle count and flips the act
files (FINISH). After the last layer it raises ``run_done`` for one cycle. Everything it
drives reaches the PEs through the CCU's distributor, all of it equally late, and their
answers (``ret``, ``scan_data``, ``pe_idle``, ``pe_ready``) come back registered.
docs/hw.md gives the cycle-exact rules that `eie.cycle_model` implements.

It also keeps the counters READ_COUNTERS reports: the free-running ``cycle``, the last
run's ``run_cycles`` and ``broadcasts``, and each layer's cycles (written into the CCU's
layer-cycle memory over ``lc_*``).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Mux, signed
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig, bits_for
from eie import format as fmt
from eie import timing
from .admission import Admission
from .constdiv import divide_by_constant
from .layouts import COUNTER_BITS, ConfigComponent, PECompute, layer_layout
from .scanner import Scanner

__all__ = ["LayerSequencer"]


class LayerSequencer(ConfigComponent):
    def _ports(self, cfg: EIEConfig):
        n = cfg.n_pe
        return {
            "run_start": In(1),
            "run_layers": In(8),
            "run_first": In(8),
            "run_done": Out(1),
            "busy": Out(1),
            "table_re": Out(1),
            "table_rdata": In(fmt.layer_word_bits(cfg)),
            "lc_we": Out(1),
            "lc_addr": Out(cfg.layer_bits),
            "lc_data": Out(COUNTER_BITS),
            "cycle": Out(COUNTER_BITS),
            "run_cycles": Out(COUNTER_BITS),
            "broadcasts": Out(COUNTER_BITS),
            "out_sel": Out(1),
            "last_layers": Out(8),
            "last_first": Out(8),
            # To every PE (the CCU fans it out), to each PE, and the PEs' answers.
            "pe": Out(PECompute(cfg)),
            "stall": Out(n),
            "scan_data": In(data.ArrayLayout(signed(cfg.act_bits), n)),
            "ret": In(n),
            "pe_idle": In(1),
            "pe_ready": In(1),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        pe = self.pe
        N, L = cfg.n_pe, cfg.max_layers
        m.submodules.scanner = scan = Scanner(cfg)

        n_layers, first, end = Signal(8), Signal(8), Signal(9)   # end = first + n_layers
        layer = Signal(range(max(L, 2)))
        lcyc = Signal(COUNTER_BITS)
        wb_base = Signal(cfg.len_bits + 1)
        out_rows = Signal(bits_for(cfg.act_depth))
        flush_cycles = timing.wb_flush_cycles(N)
        flush = Signal(range(max(flush_cycles, 2)))
        m.d.sync += [self.cycle.eq(self.cycle + 1), lcyc.eq(lcyc + 1)]

        # The table's read data holds the running layer's entry: read only in LOAD (and by
        # the command engine outside compute).
        tbl = data.View(layer_layout(cfg), self.table_rdata)
        in_len, out_len = Signal(cfg.len_bits), Signal(cfg.len_bits)
        m.d.comb += [in_len.eq(Mux(tbl.in_len > cfg.max_len, cfg.max_len, tbl.in_len)),
                     out_len.eq(Mux(tbl.out_len > cfg.max_len, cfg.max_len, tbl.out_len))]
        # START latches the layer's local row count ceil(out_len / N) for the PEs.
        if N & (N - 1) == 0:
            latch_rows, latch_value = out_rows, (out_len + N - 1) >> ((N - 1).bit_length())
        else:
            # A divider from the table's read data to the latch was the 24-PE OrangeCrab's
            # critical path (17.5 ns): START latches out_len + N - 1 and the next cycle
            # registers its quotient, a multiply by a constant. The arithmetic units compare
            # against it first when a broadcast's product arrives, several cycles later.
            latch_rows = Signal(cfg.len_bits + (N - 1).bit_length() + 1, name="out_rows_padded")
            latch_value = out_len + N - 1
            m.d.sync += out_rows.eq(divide_by_constant(latch_rows, N, cfg.max_len + N - 1))
        m.d.comb += [
            pe.params.layer.eq(layer),
            pe.params.out_rows.eq(out_rows),
            scan.in_len.eq(in_len),
            pe.scan_addr.eq(scan.row_addr),
            pe.scan_en.eq(scan.row_en),
            scan.row_data.eq(self.scan_data),
            pe.bcast.eq(scan.bc),
        ]
        m.submodules.admission = adm = Admission(cfg)
        commit = adm.commit
        m.d.comb += [adm.valid.eq(scan.bc_valid), adm.ret.eq(self.ret), self.stall.eq(adm.stall),
                     pe.bcast_we.eq(commit), scan.bc_commit.eq(commit)]
        # The counter counts the commit two registers late in the registered build: it sits by
        # the command engine, which reads it, and commit -> counter across the chip was the
        # 32-PE OrangeCrab's critical path (11.58 ns). The host reads it commands later.
        counted = commit
        for j in range(2 if timing.registered(N) else 0):
            late = Signal(name=f"commit_late{j}")
            m.d.sync += late.eq(counted)
            counted = late
        with m.If(counted):
            m.d.sync += self.broadcasts.eq(self.broadcasts + 1)
        # The PEs' idle bit is reduce_stages old and a broadcast reaches them forward_stages
        # after its commit: the drain check waits until the bit has seen the last one
        # (``since`` counts the cycles after the commit).
        settle = max(0, timing.forward_stages(N) + timing.reduce_stages(N) - 1)
        since = Signal(range(settle + 1), init=settle)
        with m.If(commit):
            m.d.sync += since.eq(0)
        with m.Elif(since != settle):
            m.d.sync += since.eq(since + 1)

        with m.FSM(name="sequencer"):
            with m.State("IDLE"):
                with m.If(self.run_start):
                    # The command engine checked first + n_layers <= max_layers.
                    m.d.sync += [n_layers.eq(self.run_layers), first.eq(self.run_first),
                                 end.eq(self.run_first + self.run_layers)]
                    m.next = "RUN_WAIT"
            with m.State("RUN_WAIT"):
                m.d.comb += self.busy.eq(1)
                with m.If(self.pe_ready):
                    m.d.comb += pe.clear.eq(1)
                    m.d.sync += [self.run_cycles.eq(0), self.broadcasts.eq(0), layer.eq(first),
                                 pe.sel.eq(0), self.last_layers.eq(n_layers), self.last_first.eq(first)]
                    m.next = "LOAD"
            with m.State("LOAD"):
                m.d.comb += [self.busy.eq(1), pe.running.eq(1), self.table_re.eq(1)]
                m.d.sync += lcyc.eq(1)
                m.next = "START"
            with m.State("START"):
                m.d.comb += [self.busy.eq(1), pe.running.eq(1), scan.start.eq(1)]
                # The PEs' layer parameters come from flops, not the table's read port (they
                # fan out to every PE); the first broadcast reaches a PE two cycles later.
                m.d.sync += [latch_rows.eq(latch_value), pe.params.ptr_base.eq(tbl.ptr_base),
                             pe.params.bias_base.eq(tbl.bias_base),
                             pe.params.shift.eq(tbl.shift), pe.params.relu.eq(tbl.relu)]
                m.next = "SCAN"
            with m.State("SCAN"):
                m.d.comb += [self.busy.eq(1), pe.running.eq(1)]
                with m.If(scan.done & self.pe_idle & (since == settle)):
                    m.d.sync += [wb_base.eq(0), pe.wb_row.eq(0)]
                    m.next = "WB"
            with m.State("WB"):
                m.d.comb += [self.busy.eq(1), pe.running.eq(1), pe.wb_en.eq(wb_base < out_len)]
                m.d.sync += [wb_base.eq(wb_base + N), pe.wb_row.eq(pe.wb_row + 1)]
                with m.If(wb_base + N >= out_len):
                    m.d.sync += flush.eq(0)
                    m.next = "WB_FLUSH"
            with m.State("WB_FLUSH"):
                # The arithmetic units write a row writeback_latency cycles after wb_en: the
                # last one is written in FINISH, before sel flips.
                m.d.comb += [self.busy.eq(1), pe.running.eq(1)]
                m.d.sync += flush.eq(flush + 1)
                with m.If(flush == flush_cycles - 1):
                    m.next = "FINISH"
            with m.State("FINISH"):
                m.d.comb += [self.busy.eq(1), pe.running.eq(1),
                             self.lc_addr.eq(layer), self.lc_data.eq(lcyc + 1), self.lc_we.eq(1)]
                m.d.sync += [self.run_cycles.eq(self.run_cycles + lcyc + 1), pe.sel.eq(~pe.sel),
                             layer.eq(layer + 1)]
                with m.If(layer + 1 == end):
                    m.d.comb += self.run_done.eq(1)
                    m.d.sync += self.out_sel.eq(~pe.sel)
                    m.next = "IDLE"
                with m.Else():
                    m.next = "LOAD"
        return m
