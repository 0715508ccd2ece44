"""Property harnesses of the scanner's lane selection (hw/lanepick.py, hw/scanner.py).

* `LanePickHarness`: a lane picker (`hw.lanepick.LanePicker`, or a stand-in with its ports)
  for every lane count in ``sizes``, against a reference priority encoder written as a
  chain from the last lane down (the lowest set lane wins): ``valid`` is "some lane set",
  ``onehot`` that lane alone (0 if none), ``index`` ``base`` plus its lane number. ``mask``
  and ``base`` are free; ``base`` is assumed to be a multiple of N only where the picker
  relies on it (N a power of two: the index is a concatenation), as the scanner's bases are.
  Combinational: one step with every input free is every input.

* `ScanHarness`: the whole `hw.scanner.Scanner` with every input free (``start``,
  ``in_len``, the rows' data, ``bc_commit``), a layer started only when the last one is
  done (``start`` implies ``done``, as the sequencer does). The harness plays the PEs' act
  files: a row read in cycle a is on ``row_data`` in a + `eie.timing.row_latency` - 1. Its
  shadow model watches one input index, ``watch``: free, and the same in every step, so the
  solver may pick any index and what holds for the watched one holds for every one. When
  the row holding it arrives the shadow keeps whether it is a non-zero input below
  ``in_len`` and its value, and whether it has been offered (committed) in this layer.
  Properties: (a) an offer of the watched index is of a non-zero lane that has arrived,
  with the value it arrived with; (b) the committed offers of a layer have strictly
  increasing indices; (c) ``done`` only when every row below ``in_len`` has arrived and,
  if the watched index is a non-zero lane, it has been offered; (d) an offer waiting for
  its commit holds its index and value. Together: the offers of a layer are exactly its
  non-zero inputs, once each, lowest first (in one row: increasing lane order, none
  skipped), with their values. Bounded (BMC) from reset; a cover job shows what the depth
  reaches. (The shadow tracks one symbolic index, not every row: a shadow of every lane of
  the rows in flight made the BMC's time double with every step.)
"""

from __future__ import annotations

from amaranth.hdl import Assert, Assume, Cat, Const, Cover, Module, Mux, ResetSignal, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In

from eie import timing
from eie.config import EIEConfig
from hw.lanepick import LanePicker
from hw.scanner import Scanner

__all__ = ["LanePickHarness", "ScanHarness"]


class LanePickHarness(wiring.Component):
    """Lane pickers built by ``picker(cfg.replace(n_pe=N))`` for every N in ``sizes``, each
    with free ports ``mask<N>``, ``base<N>``, against the reference."""

    def __init__(self, cfg: EIEConfig, sizes, picker=LanePicker):
        self._cfg, self._picker = cfg, picker
        self._sizes = sorted(set(int(n) for n in sizes))
        members = {}
        for n in self._sizes:
            c = cfg.replace(n_pe=n)
            members[f"mask{n}"] = In(n)
            members[f"base{n}"] = In(c.len_bits + 1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        for n in self._sizes:
            c = self._cfg.replace(n_pe=n)
            mask, base = getattr(self, f"mask{n}"), getattr(self, f"base{n}")
            m.submodules[f"pick{n}"] = dut = self._picker(c)
            m.d.comb += [dut.mask.eq(mask), dut.base.eq(base)]
            if n & (n - 1) == 0 and n > 1:
                m.d.comb += Assume(base % n == 0)
            # Reference: a priority chain from the last lane down, so the lowest set lane wins.
            valid, onehot, lane = Const(0, 1), Const(0, n), Const(0, range(n))
            for k in reversed(range(n)):
                valid = Mux(mask[k], 1, valid)
                onehot = Mux(mask[k], 1 << k, onehot)
                lane = Mux(mask[k], k, lane)
            index = Signal(c.len_bits, name=f"ref_index{n}")
            m.d.comb += index.eq(base + lane)
            m.d.comb += [
                Assert(dut.valid == valid, f"pick of {n} lanes: valid is not 'some lane set'"),
                Assert(dut.onehot == onehot, f"pick of {n} lanes: onehot is not the lowest set lane"),
                Assert(~valid | (dut.index == index), f"pick of {n} lanes: index is not base + the lowest set lane"),
            ]
        return m


class ScanHarness(wiring.Component):
    """A `hw.scanner.Scanner` (or ``scanner(cfg)``, a stand-in with its ports) for ``cfg``
    with free inputs, the shadow of the watched index and the properties (``covers``:
    ``Cover`` statements for a cover job)."""

    def __init__(self, cfg: EIEConfig, covers: bool = False, scanner=Scanner):
        self._cfg, self._covers, self._scanner = cfg, covers, scanner
        super().__init__({
            "start": In(1),
            "in_len": In(cfg.len_bits),
            "row_data": In(data.ArrayLayout(signed(cfg.act_bits), cfg.n_pe)),
            "bc_commit": In(1),
            "watch": In(cfg.len_bits),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        n, lb = cfg.n_pe, cfg.len_bits + 1
        m.submodules.scanner = scan = self._scanner(cfg)
        m.d.comb += [scan.start.eq(self.start), scan.in_len.eq(self.in_len),
                     scan.row_data.eq(self.row_data), scan.bc_commit.eq(self.bc_commit)]
        m.d.comb += Assume(~self.start | scan.done)
        started = Signal(reset_less=True)       # not the first step: the registers below hold something
        m.d.sync += started.eq(1)

        # The act files: a row read in cycle a is on row_data in a + row_latency - 1.
        lag = timing.row_latency(n) - 1
        reads = Signal(lag)
        m.d.sync += reads.eq(Cat(scan.row_en, reads[:-1]))
        arrive = reads[-1]

        # The layer: its length, the input index of lane 0 of the next row to arrive.
        len_q = Signal(cfg.len_bits)
        next_base = Signal(lb)
        with m.If(arrive):
            m.d.sync += next_base.eq(next_base + n)

        # The watched index: the same in every step.
        w = self.watch
        last_w = Signal.like(w, reset_less=True)
        m.d.sync += last_w.eq(w)
        m.d.comb += Assume(~started | (w == last_w))
        w_nz = Signal()                  # it arrived in this layer, non-zero and below in_len
        w_value = Signal(signed(cfg.act_bits))
        w_offered = Signal()             # an offer of it was committed in this layer
        for k in range(n):
            with m.If(arrive & (next_base + k == w)):
                m.d.sync += [w_nz.eq((self.row_data[k] != 0) & (w < len_q)), w_value.eq(self.row_data[k])]

        offered, taken = scan.bc_valid, scan.bc_valid & self.bc_commit
        index, value = scan.bc.index, scan.bc.value
        with m.If(taken & (index == w)):
            m.d.sync += w_offered.eq(1)
        # The last committed offer of this layer.
        any_taken = Signal()
        last_index = Signal.like(index)
        with m.If(taken):
            m.d.sync += [any_taken.eq(1), last_index.eq(index)]
        # The offer of the last step, if it waited.
        waited = Signal(reset_less=True)
        held_index, held_value = Signal.like(index, reset_less=True), Signal.like(value, reset_less=True)
        past_rst = Signal(reset_less=True)
        m.d.sync += [waited.eq(offered & ~self.bc_commit), held_index.eq(index), held_value.eq(value),
                     past_rst.eq(ResetSignal())]

        with m.If(self.start):
            m.d.sync += [len_q.eq(self.in_len), next_base.eq(0), w_nz.eq(0), w_offered.eq(0),
                         any_taken.eq(0)]

        m.d.comb += [
            Assert(~offered | (index != w) | w_nz,
                   "an offer of a lane that is zero, past in_len or not read in this layer"),
            Assert(~offered | (index != w) | ~w_nz | (value == w_value),
                   "the offer's value is not the value its lane arrived with"),
            Assert(~offered | (index != w) | ~w_offered, "a lane offered twice in one layer"),
            Assert(~taken | ~any_taken | (index > last_index),
                   "offers out of index order (a row's lanes not lowest first)"),
            Assert(~scan.done | (next_base >= len_q), "done before every row below in_len arrived"),
            Assert(~scan.done | ~w_nz | w_offered, "done with a non-zero lane never offered (skipped)"),
            Assert(~(started & ~past_rst & waited) | (offered & (index == held_index) & (value == held_value)),
                   "an offer waiting for its commit changed or went away"),
        ]

        if self._covers:
            layers = Signal(range(3))        # layers started since reset (saturating)
            arrived, offers = Signal(range(4)), Signal(range(4))     # in this layer, saturating
            read_base = Signal(lb)           # input index of lane 0 of the next row to read
            after_offers = Signal()          # the layer before this one had offers
            with m.If(arrive):
                m.d.sync += arrived.eq(Mux(arrived == 3, 3, arrived + 1))
            with m.If(taken):
                m.d.sync += offers.eq(Mux(offers == 3, 3, offers + 1))
            with m.If(scan.row_en):
                m.d.sync += read_base.eq(read_base + n)
            with m.If(self.start):
                m.d.sync += [layers.eq(Mux(layers == 2, 2, layers + 1)), after_offers.eq(offers != 0), arrived.eq(0), offers.eq(0), read_base.eq(Mux(scan.row_en, n, 0))]
            m.d.comb += [
                Cover(taken & (offers == 2), "a third offer committed in one layer"),
                Cover((layers != 0) & scan.done & (arrived == 3) & (offers >= 2) & ~self.start,
                      "a layer of three rows or more done after two offers or more"),
                Cover((layers != 0) & ~self.start & ~scan.row_en & (read_base < len_q),
                      "a row read held back by a full row buffer"),
                Cover(started & ~past_rst & waited & offered & (offers >= 1), "an offer waiting for its commit"),
                Cover(taken & (index == w) & w_nz & (w_value < 0), "the watched lane offered, a negative value"),
                Cover(taken & (layers == 2) & after_offers & (offers == 1),
                      "a second offer in a second layer, after a layer with offers"),
            ]
        return m
