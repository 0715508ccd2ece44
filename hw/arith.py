"""Arithmetic unit: codebook lookup, multiply, saturating accumulate, write-back.

Entries arrive from the sparse-matrix read unit one per cycle (stage S). The unit keeps the
running local row of the column (``row = z`` for a column's first entry, ``row + z + 1``
after), looks the weight up in its copy of the codebook, multiplies it by the column's
activation (stage M) and adds the product into the row's accumulator (stage A), saturating
at every step as eie/numerics.py defines. Accumulators live in a memory with a "touched" bit
per row: an untouched row starts from ``bias << shift`` (lazy bias initialisation), and
write-back clears the bit again, so no per-layer initialisation pass is needed (a sweep after
reset clears them once). When two consecutive entries hit the same row, the second takes
the first's result from a bypass register instead of the memory, which has not been written
yet. Rows at or past the layer's ``out_rows`` are ignored (only malformed images have them).

Write-back (``wb_en``/``wb_row``) reads a row's accumulator and bias, and two cycles later
hands out ``round_half_up(acc >> shift)``, saturated, ReLU'd (``wb_valid``/``wb_data``). An
untouched row hands out its bias as it is: ``round_half_up((bias << shift) >> shift)`` is
``bias``, already in the activation range, so the lazy bias needs no shifter on this path.
The rounding is split so that the shifter and the adder sit in different cycles:
``(acc + 2**(s-1)) >> s == (((acc << 1) >> s) + 1) >> 1`` for every ``s >= 0``, and the
``+ 1`` only needs ``act_bits + 2`` bits once the top bits have decided saturation.

Timing: the bias is read one stage early (its address follows the entry's row in stage S) and
``bias << shift`` is registered before stage A, so the accumulate loop is only
forward/stored/bias mux -> add -> saturate. Saturation tests the sum's top bits rather than
comparing it with the limits (no second carry chain).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned, Cat, Mux, C
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig
from eie.contract import host_addr_bits
from .layouts import HostPort, LayerParams, ConfigComponent, entry_layout, row_bits

__all__ = ["ArithmeticUnit"]


class ArithmeticUnit(ConfigComponent):
    def _ports(self, cfg: EIEConfig):
        rb = row_bits(cfg)
        return {
            "e_valid": In(1),
            "e_entry": In(entry_layout(cfg)),
            "e_first": In(1),
            "e_act": In(signed(cfg.act_bits)),
            "params": In(LayerParams(cfg)),
            "wb_en": In(1),
            "wb_row": In(rb),
            "wb_valid": Out(1),
            "wb_addr": Out(rb),
            "wb_data": Out(signed(cfg.act_bits)),
            "idle": Out(1),
            "ready": Out(1),
            "cb_host": In(HostPort(host_addr_bits(cfg), cfg.weight_bits)),
            "bias_host": In(HostPort(host_addr_bits(cfg), cfg.act_bits)),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        rb = row_bits(cfg)
        A = cfg.acc_bits
        m.submodules.codebook = cb = Memory(shape=signed(cfg.weight_bits),
                                            depth=cfg.max_layers * cfg.codebook_size, init=[])
        m.submodules.bias = bias = Memory(shape=signed(cfg.act_bits), depth=cfg.bias_depth, init=[])
        # Accumulator word: value in the low acc_bits, "touched" above.
        m.submodules.acc = acc = Memory(shape=unsigned(A + 1), depth=cfg.act_depth, init=[])
        cb_r, cb_w = cb.read_port(), cb.write_port()
        b_r, b_w = bias.read_port(), bias.write_port()
        acc_r, acc_w = acc.read_port(), acc.write_port()
        p = self.params

        # ---- stage S: running row, codebook read ----
        row_prev = Signal(rb)
        z = self.e_entry.z
        step = Mux(self.e_first, z, row_prev + z + 1)
        row_max = (1 << rb) - 1
        row_s = Signal(rb)
        m.d.comb += row_s.eq(Mux(step > row_max, row_max, step))
        # The bias address runs beside the row (bias_base + row, without the row's clamp:
        # a row that is clamped is out of range and ignored), so the bias is read in stage S.
        bias_prev = Signal.like(p.bias_base)
        bias_s = Signal.like(p.bias_base)
        m.d.comb += bias_s.eq(Mux(self.e_first, p.bias_base + z, bias_prev + z + 1))
        with m.If(self.e_valid):
            m.d.sync += [row_prev.eq(row_s), bias_prev.eq(bias_s)]
        with m.If(self.cb_host.re | self.cb_host.we):
            m.d.comb += cb_r.addr.eq(self.cb_host.addr)
        with m.Else():
            m.d.comb += cb_r.addr.eq(Cat(self.e_entry.v, p.layer))
        m.d.comb += [cb_w.addr.eq(self.cb_host.addr), cb_w.data.eq(self.cb_host.wdata),
                     cb_w.en.eq(self.cb_host.we), self.cb_host.rdata.eq(cb_r.data)]

        m_valid, m_row, m_in = Signal(), Signal(rb), Signal()
        m_act = Signal(signed(cfg.act_bits))
        m.d.sync += [m_valid.eq(self.e_valid), m_row.eq(row_s), m_act.eq(self.e_act),
                     m_in.eq(row_s < p.out_rows)]

        # ---- stage M: multiply, read the accumulator and bias ----
        a_valid, a_row, a_in, a_fwd = Signal(), Signal(rb), Signal(), Signal()
        a_prod = Signal(signed(cfg.act_bits + cfg.weight_bits))
        a_we = a_valid & a_in
        m.d.sync += [a_valid.eq(m_valid), a_row.eq(m_row), a_in.eq(m_in),
                     a_prod.eq(m_act * cb_r.data),
                     a_fwd.eq(a_we & (a_row == m_row))]

        wbs_valid, wbs_row = Signal(), Signal(rb)
        m.d.sync += [wbs_valid.eq(self.wb_en), wbs_row.eq(self.wb_row)]
        m.d.comb += acc_r.addr.eq(Mux(self.wb_en, self.wb_row, m_row))
        with m.If(self.bias_host.re | self.bias_host.we):
            m.d.comb += b_r.addr.eq(self.bias_host.addr)
        with m.Elif(self.wb_en):
            m.d.comb += b_r.addr.eq(p.bias_base + self.wb_row)
        with m.Else():
            m.d.comb += b_r.addr.eq(bias_s)
        # bias << shift for stage A (exact for the shifts numerics allows).
        a_bias = Signal(signed(A))
        m.d.sync += a_bias.eq((b_r.data << p.shift)[:A].as_signed())
        m.d.comb += [b_w.addr.eq(self.bias_host.addr), b_w.data.eq(self.bias_host.wdata),
                     b_w.en.eq(self.bias_host.we), self.bias_host.rdata.eq(b_r.data)]

        # ---- stage A: accumulate with saturation ----
        acc_min, acc_max = cfg.acc_min, cfg.acc_max
        stored = acc_r.data[:A].as_signed()
        touched = acc_r.data[A]
        last = Signal(signed(A))
        base = Signal(signed(A))
        m.d.comb += base.eq(Mux(a_fwd, last, Mux(touched, stored, a_bias)))
        total = Signal(signed(A + 1))    # |base + product| < 2**A: acc_bits >= act + weight bits
        m.d.comb += total.eq(base + a_prod)
        result = Signal(signed(A))
        m.d.comb += result.eq(_saturate(total, A, acc_min, acc_max))
        with m.If(a_valid):
            m.d.sync += last.eq(result)

        # ---- write-back: requantize one row, two cycles after wb_en ----
        # Stage 1 (wbs): shift.  Stage 2 (wb2): round, saturate, ReLU.
        W = cfg.act_bits
        wb2_valid, wb2_row, wb2_touched = Signal(), Signal(rb), Signal()
        wb2_half = Signal(signed(A + 1))                # (acc << 1) >> shift
        wb2_bias = Signal(signed(W))
        m.d.sync += [wb2_valid.eq(wbs_valid), wb2_row.eq(wbs_row), wb2_touched.eq(touched),
                     wb2_half.eq((stored << 1) >> p.shift), wb2_bias.eq(b_r.data)]
        rounded = Signal(signed(W + 2))
        m.d.comb += rounded.eq((wb2_half[:W + 2].as_signed() + 1) >> 1)
        # If (acc << 1) >> shift fits W + 2 bits, round it narrow; else it saturates either way.
        y_acc = Mux(_fits(wb2_half, W + 2), _saturate(rounded, W, cfg.act_min, cfg.act_max),
                    Mux(wb2_half[-1], cfg.act_min, cfg.act_max))
        y = Signal(signed(W))
        m.d.comb += y.eq(Mux(wb2_touched, y_acc, wb2_bias))
        m.d.comb += [self.wb_valid.eq(wb2_valid), self.wb_addr.eq(wb2_row),
                     self.wb_data.eq(Mux(p.relu & y[-1], 0, y))]

        # ---- accumulator writes: reset sweep, write-back clear, stage A ----
        sweep = Signal(range(cfg.act_depth + 1))
        m.d.comb += self.ready.eq(sweep == cfg.act_depth)
        with m.If(~self.ready):
            m.d.comb += [acc_w.en.eq(1), acc_w.addr.eq(sweep), acc_w.data.eq(0)]
            m.d.sync += sweep.eq(sweep + 1)
        with m.Elif(wbs_valid):
            m.d.comb += [acc_w.en.eq(1), acc_w.addr.eq(wbs_row), acc_w.data.eq(0)]
        with m.Elif(a_we):
            m.d.comb += [acc_w.en.eq(1), acc_w.addr.eq(a_row), acc_w.data.eq(Cat(result, C(1, 1)))]

        m.d.comb += self.idle.eq(~m_valid & ~a_valid)
        return m


def _fits(value, bits: int):
    """``value`` fits a signed ``bits``-wide number: every bit from ``bits - 1`` up equals the
    sign (no comparator, no carry chain)."""
    top = value[bits - 1:]
    return (top == 0) | (top == (1 << len(top)) - 1)


def _saturate(value, bits: int, lo: int, hi: int):
    """``value`` clamped to the signed ``bits``-wide range [lo, hi], by its top bits."""
    return Mux(_fits(value, bits), value[:bits].as_signed(), Mux(value[-1], lo, hi))
