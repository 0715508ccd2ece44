"""The decoupled scanner (hw/scanner.py) alone in Amaranth's simulator.

The testbench plays the PEs' act files (a row read in cycle a arrives
`eie.timing.row_latency` - 1 cycles later) and the admission (commits an offer after a
random wait). Checked: the offers are exactly the non-zero inputs below ``in_len``, in
index order, with their values; each is first offered in the cycle docs/hw.md's scanner
rule gives (from the commits seen: a row is read when the row buffer has room, is ready
`row_latency` after its read, an all-zero row costs one cycle, the next offer follows a
commit by one cycle, rows are read ahead at most `row_buffer_depth`); ``done`` rises the
cycle after the last row is consumed. Replay with ``EIE_SEED=<seed>``.
"""

import os
import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from eie import timing
from eie.config import PRESETS
from hw.scanner import Scanner

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")


def expected_offers(n_pe, in_len, x, commits):
    """First-offer cycles of the non-zero inputs by the scanner rule, given the commit
    cycles ``commits`` (the testbench's), and the cycle the last row is consumed; START is
    cycle 0 here (the model's local cycle FIRST_ROW_READ)."""
    S = -(-in_len // n_pe)
    lat, depth = timing.row_latency(n_pe), timing.row_buffer_depth(n_pe)
    nz = [i for i in range(in_len) if x[i]]
    per_row = [sum(1 for i in nz if i // n_pe == r) for r in range(S)]
    done, offers = [], []
    read, prev_done, i = -1, 0, 0
    for r in range(S):
        read = max(read + 1, done[r - depth] + 1 if r >= depth else 0)
        ready = read + lat
        if per_row[r] == 0:
            prev_done = max(prev_done + 1, ready)
        else:
            prev_b = max(prev_done, ready)
            for _ in range(per_row[r]):
                offers.append(prev_b + 1)
                prev_b = commits[i]
                i += 1
            prev_done = prev_b
        done.append(prev_done)
    return offers, (done[-1] if S else 0)


@pytest.mark.parametrize("n_pe, in_len, density, wait", [
    (1, 9, 0.5, 0.0), (4, 37, 0.3, 0.5), (4, 40, 0.0, 0.0), (3, 25, 0.9, 0.3),
    (16, 130, 0.05, 0.0), (16, 130, 0.6, 0.7), (2, 1, 1.0, 0.0)])
def test_offers_and_timing(n_pe, in_len, density, wait):
    seed = int(os.environ.get("EIE_SEED", n_pe * 1000 + in_len))
    print(f"seed {seed}")
    rnd = random.Random(seed)
    cfg = PRESETS["tiny"].replace(n_pe=n_pe, act_depth=-(-in_len // n_pe) + 2)
    rows = -(-in_len // n_pe) + 2                        # stale data past in_len too
    x = [rnd.randint(-500, 500) if rnd.random() < density else 0 for _ in range(rows * n_pe)]
    dut = Scanner(cfg)
    arrive = timing.row_latency(n_pe) - 1
    seen = {"offers": [], "first": [], "commits": [], "done": None}

    async def bench(ctx):
        ctx.set(dut.in_len, in_len)
        ctx.set(dut.start, 1)
        reads = {}
        for t in range(4000):
            if t == 1:
                ctx.set(dut.start, 0)
            if ctx.get(dut.row_en):
                reads[t + arrive] = ctx.get(dut.row_addr)
            r = reads.pop(t, None)
            ctx.set(dut.row_data, [x[r * n_pe + k] if r is not None else rnd.randint(-9, 9)
                                   for k in range(n_pe)])
            valid = ctx.get(dut.bc_valid)
            commit = 0
            if valid:
                index, value = ctx.get(dut.bc.index), ctx.get(dut.bc.value)
                if not seen["offers"] or seen["offers"][-1][2] != len(seen["commits"]):
                    seen["offers"].append((index, value, len(seen["commits"])))
                    seen["first"].append(t)
                commit = int(rnd.random() >= wait)
            ctx.set(dut.bc_commit, commit)
            if commit:
                seen["commits"].append(t)
            if t > 0 and ctx.get(dut.done) and seen["done"] is None:
                seen["done"] = t
                break
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    want = [(i, x[i]) for i in range(in_len) if x[i]]
    assert [(i, v) for i, v, _ in seen["offers"]] == want
    first, last = expected_offers(n_pe, in_len, x, seen["commits"])
    assert seen["first"] == first
    assert seen["done"] == last + 1
