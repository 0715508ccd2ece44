"""Sparse-matrix read unit (hw/spmat_read.py) alone, in Amaranth's simulator.

The testbench plays the PE's column queue (the head offered with random gaps, taken on
``col_take``) over a memory of random words written through the host port, and checks
every entry handed on: its (v, z), the column's activation, ``e_first`` on each column's
first entry, each entry `eie.timing.spmat_latency` cycles after its ``issue``, and no bubble
between columns when the queue keeps up. Both builds: compact (1 PE, where empty columns
reach the unit) and registered (16 PEs, where they never do and ``more`` comes with the
column).
"""

import os
import random

import pytest
from amaranth.sim import Simulator

from eie.config import EIEConfig
from eie import timing
from hw.spmat_read import SpmatRead

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")

BUILDS = pytest.mark.parametrize("n_pe", [1, 16], ids=["compact", "registered"])


def config(n_pe):
    return EIEConfig(n_pe=n_pe, v_bits=4, z_bits=4, entries_per_word=4, act_bits=16,
                     act_frac=8, weight_bits=8, acc_bits=32, ptr_depth=64, spmat_depth=32,
                     act_depth=64, bias_depth=64, max_layers=2)


def random_columns(rnd, cfg, count, allow_empty):
    """(start, end, act) columns over the memory's entries, back to back or not."""
    n_entries = cfg.spmat_depth * cfg.entries_per_word
    cols = []
    for _ in range(count):
        length = rnd.choice([1, 1, 2, 3, 4, 5, 9]) if not allow_empty else rnd.randrange(0, 6)
        start = rnd.randrange(0, n_entries - length)
        cols.append((start, start + length, rnd.randrange(-2**15, 2**15)))
    return cols


def run(cfg, words, cols, rnd, gap):
    """Run ``cols`` through the unit; returns (handed-on entries, issue cycles, entry cycles)."""
    dut = SpmatRead(cfg)
    E = cfg.entries_per_word
    eb = cfg.v_bits + cfg.z_bits
    got, issues, arrivals = [], [], []

    async def bench(ctx):
        for a, w in enumerate(words):
            ctx.set(dut.host.addr, a); ctx.set(dut.host.wdata, w); ctx.set(dut.host.we, 1)
            await ctx.tick()
        ctx.set(dut.host.we, 0)
        pending, cycle = list(cols), 0
        while pending or not ctx.get(dut.idle):
            offer = bool(pending) and rnd.random() >= gap
            ctx.set(dut.col_valid, offer)
            if offer:
                start, end, act = pending[0]
                ctx.set(dut.col_start, start); ctx.set(dut.col_end, end)
                ctx.set(dut.col_act, act); ctx.set(dut.col_more, start + 1 < end)
            if ctx.get(dut.issue):
                issues.append(cycle)
            if ctx.get(dut.e_valid):
                arrivals.append(cycle)
                got.append((ctx.get(dut.e_entry.v), ctx.get(dut.e_entry.z),
                            ctx.get(dut.e_act), ctx.get(dut.e_first)))
            if offer and ctx.get(dut.col_take):
                pending.pop(0)
            await ctx.tick()
            cycle += 1
            assert cycle < 20 * (len(cols) + 10) * E, "the unit never drained"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return got, issues, arrivals, eb


def expected(cfg, words, cols):
    E, vb, eb = cfg.entries_per_word, cfg.v_bits, cfg.v_bits + cfg.z_bits
    out = []
    for start, end, act in cols:
        for a in range(start, end):
            e = (words[a // E] >> (eb * (a % E))) & ((1 << eb) - 1)
            out.append((e & ((1 << vb) - 1), e >> vb, act, int(a == start)))
    return out


@BUILDS
@pytest.mark.parametrize("gap", [0.0, 0.5])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_spmat_read_entries_in_order(n_pe, gap, seed):
    print("seed", seed)
    rnd = random.Random(seed)
    cfg = config(n_pe)
    wbits = cfg.entries_per_word * (cfg.v_bits + cfg.z_bits)
    words = [rnd.getrandbits(wbits) for _ in range(cfg.spmat_depth)]
    cols = random_columns(rnd, cfg, 40, allow_empty=not timing.registered(n_pe))
    got, issues, arrivals, _ = run(cfg, words, cols, rnd, gap)
    assert got == expected(cfg, words, cols)
    # Every entry leaves spmat_latency cycles after its issue.
    assert [t - timing.spmat_latency(n_pe) for t in arrivals] == issues
    if gap == 0.0:
        # The queue keeps up: one entry a cycle, no bubble between columns (the compact
        # build's empty columns each cost a cycle, those between two issues count).
        lengths = [e - s for s, e, _ in cols]
        filled = [i for i, n in enumerate(lengths) if n]
        empties = lengths[filled[0]:filled[-1]].count(0)
        assert issues[-1] - issues[0] + 1 == len(issues) + empties
