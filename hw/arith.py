"""Arithmetic unit: codebook lookup, multiply, saturating accumulate, write-back.

Entries arrive from the sparse-matrix read unit one per cycle (stage S). The unit keeps the
running local row of the column (``row = z`` for a column's first entry, ``row + z + 1``
after), looks the weight up in its copy of the codebook, multiplies it by the column's
activation and adds the product into the row's accumulator, saturating at every step as
eie/numerics.py defines. Accumulators live in a memory with a "touched" bit per row: an
untouched row starts from ``bias << shift`` (lazy bias initialisation), and write-back clears
the bit again, so no per-layer initialisation pass is needed (a sweep after reset clears them
once). Rows at or past the layer's ``out_rows`` are ignored (only malformed images have them).

The registered build has four stages (`eie.timing.arith_latency` = 3 cycles from S to the
accumulator write), so that every memory's output goes straight into a register and the
multiplier sits between registers (a DSP block needs no fabric logic on either side):

* S: row, codebook address, bias address (the bias address runs beside the row: ``bias_base
  + row`` without the row's clamp, since a clamped row is ignored anyway), registered;
* M1: codebook data registered; the accumulator read; the bias read (from the registered
  address, so no adder lies in front of the bias memory);
* M2: ``act * weight`` and ``bias << shift`` (from the bias memory's output) registered; the
  accumulator data registered;
* A: ``base + product``, saturated, written back (``base`` is the stored value, the bias of an
  untouched row, or the result of one of the two entries ahead of it on the same row, which
  the memory does not have yet: two forwarding registers).

The compact build has three (S; M: the accumulator read, the product and the shifted bias
from the memories' outputs registered; A, from the accumulator memory's output, with one
forwarding register).

Write-back (``wb_en``/``wb_row``) reads a row's accumulator and bias (registered: and
registers them), and `eie.timing.writeback_latency` cycles later hands out ``round_half_up(acc >> shift)``,
saturated, ReLU'd (``wb_valid``/``wb_data``; registered: from a register, so only wires lie
between it and the act file's write port). An untouched row hands out its bias as it is:
``round_half_up((bias << shift) >> shift)`` is ``bias``, already in the activation range, so
the lazy bias needs no shifter on this path. The rounding is split so that the shifter and
the adder sit in different cycles: ``(acc + 2**(s-1)) >> s == (((acc << 1) >> s) + 1) >> 1``
for every ``s >= 0``, and the ``+ 1`` only needs ``act_bits + 2`` bits once the top bits have
decided saturation. Saturation tests the sum's top bits rather than comparing it with the
limits (no second carry chain).
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Module, Signal, signed, unsigned, Cat, Mux, C, Const
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig
from eie.contract import host_addr_bits
from eie import timing
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
        A = cfg.acc_bits
        m.submodules.codebook = cb = Memory(shape=signed(cfg.weight_bits),
                                            depth=cfg.max_layers * cfg.codebook_size, init=[])
        m.submodules.bias = bias = Memory(shape=signed(cfg.act_bits), depth=cfg.bias_depth, init=[])
        # Accumulator word: value in the low acc_bits, "touched" above.
        m.submodules.acc = acc = Memory(shape=unsigned(A + 1), depth=cfg.act_depth, init=[])
        # One statement per port: Amaranth names a port's signals after the variable it is
        # assigned to (acc_w__en, ...: the formal harness and waveforms read those names).
        cb_r, cb_w = cb.read_port(), cb.write_port()
        b_r, b_w = bias.read_port(), bias.write_port()
        acc_r = acc.read_port()
        acc_w = acc.write_port()
        ports = SimpleNamespace(cb_r=cb_r, cb_w=cb_w, b_r=b_r, b_w=b_w, acc_r=acc_r, acc_w=acc_w)
        st = self._stage_s(m, ports)
        self._stages_m(m, ports, st)
        result, a_we = self._stage_a(m, st)
        self._writeback(m, st)
        self._acc_writes(m, ports, st, result, a_we)
        m.d.comb += self.idle.eq(~st.m1_valid & ~st.m2_valid & ~st.a_valid)
        return m

    def _stage_s(self, m, ports):
        """Stage S: running row, codebook and bias reads; the host ports of both memories."""
        cfg, p = self._cfg, self.params
        rb = row_bits(cfg)
        cb_r, cb_w, b_r, b_w = ports.cb_r, ports.cb_w, ports.b_r, ports.b_w
        row_prev = Signal(rb, reset_less=True)
        z = self.e_entry.z
        step = Mux(self.e_first, z, row_prev + z + 1)
        row_max = (1 << rb) - 1
        row_s = Signal(rb)
        m.d.comb += row_s.eq(Mux(step > row_max, row_max, step))
        bias_prev = Signal.like(p.bias_base, reset_less=True)
        bias_s = Signal.like(p.bias_base)
        m.d.comb += bias_s.eq(Mux(self.e_first, p.bias_base + z, bias_prev + z + 1))
        with m.If(self.e_valid):
            m.d.sync += [row_prev.eq(row_s), bias_prev.eq(bias_s)]
        # Registered: the bias is read in M1 from a register of its address (the entry ->
        # adders -> LUT RAM -> read register path was the PE's longest on both ECP5 boards);
        # its data leaves the memory in M2, as the product does, so no latency changes.
        bias_addr = bias_s
        if timing.registered(cfg.n_pe):
            bias_addr = Signal.like(p.bias_base, name="m1_bias_addr", reset_less=True)
            m.d.sync += bias_addr.eq(bias_s)
        with m.If(self.cb_host.re | self.cb_host.we):
            m.d.comb += cb_r.addr.eq(self.cb_host.addr)
        with m.Else():
            m.d.comb += cb_r.addr.eq(Cat(self.e_entry.v, p.layer))
        m.d.comb += [cb_w.addr.eq(self.cb_host.addr), cb_w.data.eq(self.cb_host.wdata),
                     cb_w.en.eq(self.cb_host.we), self.cb_host.rdata.eq(cb_r.data)]
        with m.If(self.bias_host.re | self.bias_host.we):
            m.d.comb += b_r.addr.eq(self.bias_host.addr)
        with m.Elif(self.wb_en):
            m.d.comb += b_r.addr.eq(p.bias_base + self.wb_row)
        with m.Else():
            m.d.comb += b_r.addr.eq(bias_addr)
        m.d.comb += [b_w.addr.eq(self.bias_host.addr), b_w.data.eq(self.bias_host.wdata),
                     b_w.en.eq(self.bias_host.we), self.bias_host.rdata.eq(b_r.data)]
        st = SimpleNamespace(m1_valid=Signal(), m1_row=Signal(rb, reset_less=True),
                             m1_in=Signal(reset_less=True),
                             m1_act=Signal(signed(cfg.act_bits), reset_less=True))
        m.d.sync += [st.m1_valid.eq(self.e_valid), st.m1_row.eq(row_s), st.m1_act.eq(self.e_act),
                     st.m1_in.eq(row_s < p.out_rows)]
        return st

    def _stages_m(self, m, ports, st):
        """Registered: M1 (memory outputs registered, the accumulator read) and M2 (the
        product and the shifted bias registered, the accumulator data registered). Compact:
        M (the accumulator read; the product and the shifted bias from the memories' outputs
        registered). Also the forwarding decisions for stage A."""
        cfg, p = self._cfg, self.params
        rb, A = row_bits(cfg), cfg.acc_bits
        reg = timing.registered(cfg.n_pe)
        assert (timing.arith_latency(cfg.n_pe), timing.writeback_latency(cfg.n_pe)) == ((3, 4) if reg else (2, 2))
        m.d.comb += ports.acc_r.addr.eq(Mux(self.wb_en, self.wb_row, st.m1_row))
        if reg:
            # M1 -> M2: the codebook data registered as it leaves the memory; the bias data
            # too, for write-back (an entry's bias is read a cycle later, in M1).
            m_valid, m_in = Signal(), Signal(reset_less=True)
            m_row = Signal(rb, reset_less=True)
            m_act = Signal(signed(cfg.act_bits), reset_less=True)
            weight = Signal(signed(cfg.weight_bits), reset_less=True)
            # The bias read last cycle (write-back's).
            st.bias_q = Signal(signed(cfg.act_bits), reset_less=True)
            m.d.sync += [m_valid.eq(st.m1_valid), m_in.eq(st.m1_in), m_row.eq(st.m1_row),
                         m_act.eq(st.m1_act), weight.eq(ports.cb_r.data), st.bias_q.eq(ports.b_r.data)]
            st.acc_q = Signal(A + 1, reset_less=True)                    # accumulator read last cycle
            m.d.sync += st.acc_q.eq(ports.acc_r.data)
        else:
            m_valid, m_in, m_row, m_act = st.m1_valid, st.m1_in, st.m1_row, st.m1_act
            weight, st.bias_q, st.acc_q = ports.cb_r.data, ports.b_r.data, ports.acc_r.data
        st.m2_valid = m_valid if reg else Const(0)
        # M2 (M) -> A
        st.a_valid, st.a_in = Signal(), Signal(reset_less=True)
        st.a_row = Signal(rb, reset_less=True)
        st.a_prod = Signal(signed(cfg.act_bits + cfg.weight_bits), reset_less=True)
        st.a_bias = Signal(signed(A), reset_less=True)
        m.d.sync += [st.a_valid.eq(m_valid), st.a_in.eq(m_in), st.a_row.eq(m_row),
                     st.a_prod.eq(m_act * weight),
                     # bias << shift (exact for the shifts numerics allows), from the memory's
                     # output: the entry's bias arrives in M2 (compact: M)
                     st.a_bias.eq((ports.b_r.data << p.shift)[:A].as_signed())]
        # The entry in A read its accumulator before the entry ahead of it wrote the row
        # (registered: and in the cycle the one two ahead did): those results are forwarded
        # when the row is the same, the nearer one first.
        st.fwd1, st.fwd2 = Signal(reset_less=True), Signal(reset_less=True)
        m.d.sync += st.fwd1.eq(st.a_valid & st.a_in & (st.a_row == m_row))
        if reg:
            b_valid, b_in = Signal(), Signal(reset_less=True)      # the entry in A last cycle
            b_row = Signal(rb, reset_less=True)
            m.d.sync += [b_valid.eq(st.a_valid), b_in.eq(st.a_in), b_row.eq(st.a_row),
                         st.fwd2.eq(b_valid & b_in & (b_row == m_row))]

    def _stage_a(self, m, st):
        """Stage A: accumulate with saturation; returns (result, write enable)."""
        cfg = self._cfg
        A = cfg.acc_bits
        stored = st.acc_q[:A].as_signed()
        touched = st.acc_q[A]
        last = Signal(signed(A), reset_less=True)       # result of the entry one ahead
        last2 = Signal(signed(A), reset_less=True)      # ... and of the one two ahead
        base = Signal(signed(A))
        m.d.comb += base.eq(Mux(st.fwd1, last, Mux(st.fwd2, last2, Mux(touched, stored, st.a_bias))))
        total = Signal(signed(A + 1))    # |base + product| < 2**A: acc_bits >= act + weight bits
        m.d.comb += total.eq(base + st.a_prod)
        result = Signal(signed(A))
        m.d.comb += result.eq(_saturate(total, A, cfg.acc_min, cfg.acc_max))
        m.d.sync += last.eq(result)
        if timing.registered(cfg.n_pe):
            m.d.sync += last2.eq(last)
        return result, st.a_valid & st.a_in

    def _writeback(self, m, st):
        """Requantize one row: read (wb_en), [registered: the data registered], shifted,
        rounded, [registered: the result registered]."""
        cfg, p = self._cfg, self.params
        rb, A, W = row_bits(cfg), cfg.acc_bits, cfg.act_bits
        st.wbs_valid = Signal()
        st.wbs_row = Signal(rb, reset_less=True)
        m.d.sync += [st.wbs_valid.eq(self.wb_en), st.wbs_row.eq(self.wb_row)]
        if timing.registered(cfg.n_pe):
            # wb1: the accumulator and the bias are in acc_q and bias_q (registered as they
            # left the memories).
            shift_valid = Signal()
            shift_row = Signal(rb, reset_less=True)
            m.d.sync += [shift_valid.eq(st.wbs_valid), shift_row.eq(st.wbs_row)]
        else:
            shift_valid, shift_row = st.wbs_valid, st.wbs_row
        # Shift; then (wb2) round, saturate, ReLU.
        stored = st.acc_q[:A].as_signed()
        wb2_valid, wb2_touched = Signal(), Signal(reset_less=True)
        wb2_row = Signal(rb, reset_less=True)
        wb2_half = Signal(signed(A + 1), reset_less=True)                # (acc << 1) >> shift
        wb2_bias = Signal(signed(W), reset_less=True)
        m.d.sync += [wb2_valid.eq(shift_valid), wb2_row.eq(shift_row), wb2_touched.eq(st.acc_q[A]),
                     wb2_half.eq((stored << 1) >> p.shift), wb2_bias.eq(st.bias_q)]
        rounded = Signal(signed(W + 2))
        m.d.comb += rounded.eq((wb2_half[:W + 2].as_signed() + 1) >> 1)
        # If (acc << 1) >> shift fits W + 2 bits, round it narrow; else it saturates either way.
        y_acc = Mux(_fits(wb2_half, W + 2), _saturate(rounded, W, cfg.act_min, cfg.act_max),
                    Mux(wb2_half[-1], cfg.act_min, cfg.act_max))
        y = Signal(signed(W))
        m.d.comb += y.eq(Mux(wb2_touched, y_acc, wb2_bias))
        out = [self.wb_valid.eq(wb2_valid), self.wb_addr.eq(wb2_row),
               self.wb_data.eq(Mux(p.relu & y[-1], 0, y))]
        # Registered: the result registered once more, so the act file's write port is fed
        # by registers alone (its LUT RAM sits wherever the placer puts it).
        if timing.registered(cfg.n_pe):
            m.d.sync += out
        else:
            m.d.comb += out

    def _acc_writes(self, m, ports, st, result, a_we):
        """Accumulator writes: the reset sweep, write-back's clear, stage A."""
        cfg = self._cfg
        acc_w = ports.acc_w
        sweep = Signal(range(cfg.act_depth + 1))
        m.d.comb += self.ready.eq(sweep == cfg.act_depth)
        with m.If(~self.ready):
            m.d.comb += [acc_w.en.eq(1), acc_w.addr.eq(sweep), acc_w.data.eq(0)]
            m.d.sync += sweep.eq(sweep + 1)
        with m.Elif(st.wbs_valid):
            m.d.comb += [acc_w.en.eq(1), acc_w.addr.eq(st.wbs_row), acc_w.data.eq(0)]
        with m.Elif(a_we):
            m.d.comb += [acc_w.en.eq(1), acc_w.addr.eq(st.a_row), acc_w.data.eq(Cat(result, C(1, 1)))]


def _fits(value, bits: int):
    """``value`` fits a signed ``bits``-wide number: every bit from ``bits - 1`` up equals the
    sign (no comparator, no carry chain)."""
    top = value[bits - 1:]
    return (top == 0) | (top == (1 << len(top)) - 1)


def _saturate(value, bits: int, lo: int, hi: int):
    """``value`` clamped to the signed ``bits``-wide range [lo, hi], by its top bits."""
    return Mux(_fits(value, bits), value[:bits].as_signed(), Mux(value[-1], lo, hi))
