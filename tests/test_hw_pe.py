"""PE unit tests in Amaranth's simulator against the golden model's number rules.

The testbench plays the CCU: it loads the PE's memories over its host bus, broadcasts the
non-zero inputs (with random gaps), waits for the PE to drain, drives write-back and reads
the destination act file back. Cases: runs longer than max_run (padding), empty columns,
back-to-back hits on one row, saturating sums, queue depth 1.
"""

import os
import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from eie.config import EIEConfig
from eie import format as fmt
from eie.bits import to_signed
from eie.images import program_memories
from eie.contract import Mem
from eie import timing
from hw.layouts import COUNTER_KINDS, COUNTERS_MEM
from hw.pe import PE
from eie.golden import GoldenLayer

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")

# Both builds of the PE (eie.timing.registered): 2 PEs compact, 4 registered.
BUILDS = pytest.mark.parametrize("n_pe", [2, 4], ids=["compact", "registered"])
BASE = EIEConfig(n_pe=4, queue_depth=4, v_bits=4, z_bits=4, entries_per_word=4, act_bits=16,
                 act_frac=8, weight_bits=16, acc_bits=32, ptr_depth=64, spmat_depth=64,
                 act_depth=32, bias_depth=32, max_layers=2)


def base(n_pe):
    """BASE on ``n_pe`` PEs, memories scaled so the tests' layers fit."""
    f = BASE.n_pe // n_pe
    return BASE.replace(n_pe=n_pe, act_depth=BASE.act_depth * f, bias_depth=BASE.bias_depth * f,
                        spmat_depth=BASE.spmat_depth * f)


def make_layer(rng, cfg, out_len, in_len, density, scale=1.0, cb_scale=0.5, relu=True):
    idx = np.where(rng.random((out_len, in_len)) < density,
                   rng.integers(1, cfg.codebook_size, (out_len, in_len)), 0)
    cb = np.r_[0.0, rng.normal(0.0, cb_scale, cfg.codebook_size - 1)]
    bias = rng.normal(0.0, scale, out_len)
    return idx, cb, bias, relu


def encode(cfg, idx, cb, bias, relu=True):
    q = fmt.QuantizedLayer("fc", np.asarray(idx), np.asarray(cb, float), np.asarray(bias, float), relu)
    return fmt.encode_network([q], cfg)


def run_pe(cfg, program, k, x, seed, gap=0.3):
    """Run PE ``k`` on layer 0 of ``program``; return (its outputs, busy, stall). The
    testbench plays the CCU: it commits a broadcast only with a credit left (``queue_depth``
    minus the broadcasts not yet popped), so a queue that could not hold ``queue_depth``
    entries, or a pop that came back early, would lose one and fail the outputs' check."""
    layer = program.layers[0]
    mems = program_memories(program)
    pe_mem = mems.pe[k]
    out_rows = fmt.local_rows(layer.out_len, cfg.n_pe)
    dut = PE(cfg)
    rnd = random.Random(seed)
    result = {}

    async def bus_write(ctx, mem, addr, word):
        ctx.set(dut.bus.mem, mem); ctx.set(dut.bus.addr, addr)
        ctx.set(dut.bus.wdata, int(word)); ctx.set(dut.bus.we, 1)
        await ctx.tick()
        ctx.set(dut.bus.we, 0)

    async def bus_read(ctx, mem, addr):
        ctx.set(dut.bus.mem, mem); ctx.set(dut.bus.addr, addr); ctx.set(dut.bus.re, 1)
        await ctx.tick()
        ctx.set(dut.bus.re, 0)
        if timing.pe_bus_read_latency(cfg.n_pe) > 1:
            await ctx.tick().repeat(timing.pe_bus_read_latency(cfg.n_pe) - 1)
        return ctx.get(dut.bus.rdata)

    async def bench(ctx):
        while not ctx.get(dut.ready):
            await ctx.tick()
        for mem, words in [*pe_mem.items(), (Mem.CODEBOOK, mems.glob[Mem.CODEBOOK])]:
            for a, w in enumerate(words):
                await bus_write(ctx, mem, a, w)
        ctx.set(dut.params.layer, 0); ctx.set(dut.params.ptr_base, layer.ptr_base)
        ctx.set(dut.params.bias_base, layer.bias_base); ctx.set(dut.params.shift, layer.shift)
        ctx.set(dut.params.relu, int(layer.relu)); ctx.set(dut.params.out_rows, out_rows)
        ctx.set(dut.clear, 1); await ctx.tick(); ctx.set(dut.clear, 0)
        ctx.set(dut.running, 1); ctx.set(dut.sel, 0)
        # The CCU's credits, at their tightest: a pop returns its credit the next cycle.
        used = 0
        for j in np.flatnonzero(x):
            while rnd.random() < gap:
                used -= ctx.get(dut.pop)
                await ctx.tick()
            ctx.set(dut.bcast.index, int(j)); ctx.set(dut.bcast.value, int(x[j]))
            while used >= cfg.queue_depth:
                ctx.set(dut.stall, 1)
                used -= ctx.get(dut.pop)
                await ctx.tick()
            ctx.set(dut.stall, 0)
            ctx.set(dut.bcast_we, 1)
            used += 1 - ctx.get(dut.pop)
            await ctx.tick()
            ctx.set(dut.bcast_we, 0)
        for _ in range(20000):
            if ctx.get(dut.idle):
                break
            await ctx.tick()
        assert ctx.get(dut.idle), "PE never drained"
        for r in range(out_rows):
            ctx.set(dut.wb_en, 1); ctx.set(dut.wb_row, r)
            await ctx.tick()
        ctx.set(dut.wb_en, 0)
        await ctx.tick().repeat(timing.writeback_latency(cfg.n_pe))
        ctx.set(dut.running, 0)
        out = []
        for r in range(out_rows):
            out.append(await bus_read(ctx, Mem.ACT1, r) & ((1 << cfg.act_bits) - 1))
        result["out"] = to_signed(out, cfg.act_bits)
        # The counters, over the bus like a memory (address: the kind).
        result["busy"] = await bus_read(ctx, COUNTERS_MEM, COUNTER_KINDS.index("busy"))
        result["stall"] = await bus_read(ctx, COUNTERS_MEM, COUNTER_KINDS.index("stall"))
        # Every touched accumulator is clean again, so the next layer starts from its bias.
        assert ctx.get(dut.idle)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return result


def expected(cfg, program, x, k):
    e = program.layers[0]
    y = GoldenLayer.from_encoded(e, cfg).forward(np.asarray(x, np.int64)[None, :], cfg)[0]
    rows = fmt.rows_of_pe(e.out_len, k, cfg.n_pe)
    nz = np.flatnonzero(x)
    busy = int(sum(e.ptr[k][j + 1] - e.ptr[k][j] for j in nz))
    return y[k::cfg.n_pe][:rows], busy


def check(cfg, idx, cb, bias, x, k, seed, relu=True, gap=0.3):
    program = encode(cfg, idx, cb, bias, relu)
    res = run_pe(cfg, program, k, x, seed, gap)
    want, busy = expected(cfg, program, x, k)
    np.testing.assert_array_equal(res["out"][:len(want)], want)
    assert res["busy"] == busy
    return program, res


@BUILDS
@pytest.mark.parametrize("seed", [1, 2])
def test_pe_random_sparse(seed, n_pe):
    print("seed", seed)
    rng = np.random.default_rng(seed)
    cfg = base(n_pe)
    # 96 rows / 4 PEs = 24 local rows at 5%: runs over 15 zeros need padding entries.
    idx, cb, bias, relu = make_layer(rng, cfg, 96, 24, 0.05)
    idx[:, 3] = 0                                   # empty columns
    idx[:, 7] = 0
    idx[1::4, 5] = 0
    idx[1 + 4 * 20, 5] = 9                          # PE 1, local row 20 alone: one padding entry
    idx[1 + 4 * 23, 6] = 2
    x = np.where(rng.random(24) < 0.6, rng.integers(-3000, 3000, 24), 0)
    x[3] = 1234                                     # broadcast an empty column
    program, _ = check(cfg, idx, cb, bias, x, k=1 % n_pe, seed=seed)
    assert program.layers[0].padding_per_pe.sum() > 0


@BUILDS
def test_pe_back_to_back_same_row(n_pe):
    rng = np.random.default_rng(7)
    cfg = base(n_pe)
    idx = np.zeros((8, 20), dtype=np.int64)
    idx[2, :] = rng.integers(1, 16, 20)             # row 2 = PE 2's local row 0, every column
    idx[6, ::2] = 3                                 # and local row 1 in every other column
    cb = np.r_[0.0, rng.normal(0, 0.5, 15)]
    x = rng.integers(-2000, 2000, 20)
    check(cfg, idx, cb, rng.normal(0, 1, 8), x, k=2 % n_pe, seed=7, relu=False, gap=0.0)


@BUILDS
def test_pe_saturation_and_relu_off(n_pe):
    cfg = base(n_pe)
    idx = np.zeros((8, 12), dtype=np.int64)
    idx[0, :] = 15                                  # large positive weight: saturates high
    idx[4, :] = 1                                   # large negative weight: saturates low
    cb = np.r_[0.0, -100.0, np.linspace(-1, 1, 13), 100.0]
    x = np.full(12, 32000)
    program, res = check(cfg, idx, cb, np.zeros(8), x, k=0, seed=11, relu=False, gap=0.0)
    # Row 4 is PE 0's local row 4 // n_pe.
    assert res["out"][0] == cfg.act_max and res["out"][4 // n_pe] == cfg.act_min


@BUILDS
def test_pe_queue_depth_one_and_one_column(n_pe):
    rng = np.random.default_rng(5)
    cfg = base(n_pe).replace(queue_depth=1)
    idx, cb, bias, relu = make_layer(rng, cfg, 12, 1, 0.7)
    check(cfg, idx, cb, bias, np.array([517]), k=0, seed=5)
    idx, cb, bias, relu = make_layer(rng, cfg, 40, 10, 0.3)
    check(cfg, idx, cb, bias, rng.integers(-500, 500, 10), k=3 % n_pe, seed=5, gap=0.0)
