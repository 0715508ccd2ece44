"""Arithmetic unit alone, in Amaranth's simulator, against eie/numerics.py.

Each case piles products onto a few rows (saturating at every step from ``bias << shift``),
then writes every row back and compares with ``numerics.requantize``. The shifts cover 0 to
``max_shift``; the values are drawn to hit the accumulator's limits, the activation range's
limits and rounding ties, and some rows are left untouched (they write back their bias).
Replay a case with ``EIE_SEED=<seed>``.
"""

import os
import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from eie import numerics
from eie.config import EIEConfig
from eie import timing
from hw.arith import ArithmeticUnit

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")

CFG = EIEConfig(n_pe=1, queue_depth=2, v_bits=4, z_bits=4, entries_per_word=2, act_bits=16,
                act_frac=8, weight_bits=16, acc_bits=32, ptr_depth=16, spmat_depth=16,
                act_depth=8, bias_depth=16, max_layers=1)
ROWS = CFG.act_depth


def draw_values(rnd, bits, n):
    """Signed ``bits``-wide values: extremes, small numbers and uniform ones."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    pool = [lo, hi, lo + 1, hi - 1, 0, 1, -1]
    return [rnd.choice(pool) if rnd.random() < 0.3 else
            rnd.randint(-64, 64) if rnd.random() < 0.3 else rnd.randint(lo, hi) for _ in range(n)]


def reference(entries, bias, shift, relu):
    """Outputs of rows 0 .. ROWS-1: ``entries`` are (row, act, weight) in order."""
    acc = {}
    for row, a, w in entries:
        start = acc.get(row, int(numerics.accumulator_init([bias[row]], shift)[0]))
        acc[row] = int(np.clip(start + a * w, CFG.acc_min, CFG.acc_max))
    return [int(numerics.requantize([acc[r]], shift, relu, CFG)[0]) if r in acc
            else int(numerics.requantize(numerics.accumulator_init([bias[r]], shift), shift, relu, CFG)[0])
            for r in range(ROWS)]


def run(codebook, bias, entries, shift, relu, cfg=CFG):
    dut = ArithmeticUnit(cfg)
    out = {}

    async def bench(ctx):
        while not ctx.get(dut.ready):
            await ctx.tick()
        for port, words in ((dut.cb_host, codebook), (dut.bias_host, bias)):
            for a, w in enumerate(words):
                ctx.set(port.addr, a); ctx.set(port.wdata, w); ctx.set(port.we, 1)
                await ctx.tick()
            ctx.set(port.we, 0)
        ctx.set(dut.params.shift, shift); ctx.set(dut.params.relu, int(relu))
        ctx.set(dut.params.out_rows, ROWS); ctx.set(dut.params.bias_base, 0)
        # Every entry is the first of its own column, so its row is its z.
        for row, a, v in entries:
            ctx.set(dut.e_valid, 1); ctx.set(dut.e_first, 1)
            ctx.set(dut.e_entry.v, v); ctx.set(dut.e_entry.z, row); ctx.set(dut.e_act, a)
            await ctx.tick()
        ctx.set(dut.e_valid, 0)
        while not ctx.get(dut.idle):
            await ctx.tick()
        for r in range(ROWS + timing.writeback_latency(cfg.n_pe)):
            ctx.set(dut.wb_en, int(r < ROWS)); ctx.set(dut.wb_row, r % ROWS)
            await ctx.tick()
            if ctx.get(dut.wb_valid):
                out[ctx.get(dut.wb_addr)] = ctx.get(dut.wb_data)
        ctx.set(dut.wb_en, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return [out.get(r) for r in range(ROWS)]


@pytest.mark.parametrize("n_pe", [1, 4], ids=["compact", "registered"])
@pytest.mark.parametrize("shift", sorted({0, 1, 2, 7, 8, 15, numerics.max_shift(CFG)}))
@pytest.mark.parametrize("relu", [False, True])
def test_accumulate_and_write_back(shift, relu, n_pe):
    seed = int(os.environ.get("EIE_SEED", 1000 + 2 * shift + relu))
    print(f"seed {seed}")
    rnd = random.Random(seed)
    codebook = [0] + draw_values(rnd, CFG.weight_bits, CFG.codebook_size - 1)
    bias = draw_values(rnd, CFG.act_bits, ROWS)
    # Rows 0 .. ROWS-2 get products (back-to-back hits included); the last row stays untouched.
    entries = []
    for _ in range(40):
        row = rnd.randrange(ROWS - 1)
        for _ in range(rnd.choice([1, 1, 2, 3])):
            entries.append((row, draw_values(rnd, CFG.act_bits, 1)[0], rnd.randrange(CFG.codebook_size)))
    got = run(codebook, bias, entries, shift, relu, cfg=CFG.replace(n_pe=n_pe))
    want = reference([(r, a, codebook[v]) for r, a, v in entries], bias, shift, relu)
    assert got == want


def test_rounding_ties_and_limits():
    """Single products chosen so ``acc`` sits on .5 ties and just past the output limits."""
    shift = 4
    codebook = [0, 1, -1, 1 << 4, -(1 << 4)]
    codebook += [0] * (CFG.codebook_size - len(codebook))
    bias = [0] * ROWS
    amax = CFG.act_max
    # acc = a * w: 8 (tie: 0.5 -> 1), -8 (tie: -0.5 -> 0), 24 (1.5 -> 2), -24 (-1.5 -> -1),
    # (act_max << 4) + 8 (rounds past act_max: saturates), act_min << 4 (exactly act_min).
    entries = [(0, 8, 1), (1, 8, 2), (2, 24, 1), (3, -24, 1),
               (4, amax, 3), (4, 8, 1), (5, CFG.act_min, 3), (6, amax, 3)]
    got = run(codebook, bias, entries, shift, relu=False, cfg=CFG.replace(n_pe=4))
    assert got == run(codebook, bias, entries, shift, relu=False)
    want = reference([(r, a, codebook[v]) for r, a, v in entries], bias, shift, relu=False)
    assert want[:4] == [1, 0, 2, -1] and want[4] == amax and want[5] == CFG.act_min
    assert got == want


@pytest.mark.parametrize("n_pe", [1, 4], ids=["compact", "registered"])
@pytest.mark.parametrize("pattern", ["aab", "aba", "abba", "abab", "aaab", "abca", "abcab"])
def test_forwarding(pattern, n_pe):
    """Back-to-back entries that hit a row one, two and three entries after the last hit: the
    accumulator memory is read two cycles before the result ahead is written, so the unit
    forwards from the two entries ahead (a row three ahead comes from the memory)."""
    seed = int(os.environ.get("EIE_SEED", sum(map(ord, pattern))))
    print(f"seed {seed}")
    rnd = random.Random(seed)
    codebook = [0] + draw_values(rnd, CFG.weight_bits, CFG.codebook_size - 1)
    bias = draw_values(rnd, CFG.act_bits, ROWS)
    entries = [(ord(c) - ord("a"), rnd.randint(-3000, 3000), rnd.randrange(1, CFG.codebook_size))
               for c in pattern * 3]
    got = run(codebook, bias, entries, 3, relu=False, cfg=CFG.replace(n_pe=n_pe))
    assert got == reference([(r, a, codebook[v]) for r, a, v in entries], bias, 3, relu=False)
