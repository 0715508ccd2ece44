"""The whole array (hw.top.EIETop) in Amaranth's simulator, driven through the host protocol.

Each test loads a compressed network with host/driver.py over the Amaranth transport, runs
it, and checks the outputs bit for bit against the golden model (eie.golden) and every
layer's cycle count, the broadcasts and the per-PE busy/stall counters against
eie/cycle_model.py.
"""

import os

import numpy as np
import pytest
from amaranth.sim import Simulator

from eie.config import PRESETS
from eie import format as fmt
from hw.top import EIETop
from sim.amaranth_transport import AmaranthTransport
from host.driver import EIEDriver
from eie.golden import GoldenModel
from eie.cycle_model import network_timing

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")

TINY = PRESETS["tiny"]


def random_layer(rng, cfg, out_len, in_len, density, name="fc", relu=True):
    idx = np.where(rng.random((out_len, in_len)) < density,
                   rng.integers(1, cfg.codebook_size, (out_len, in_len)), 0)
    cb = np.r_[0.0, rng.normal(0.0, 0.4, cfg.codebook_size - 1)]
    return fmt.QuantizedLayer(name, idx, cb, rng.normal(0.0, 0.5, out_len), relu)


def random_input(rng, cfg, n, density):
    return np.where(rng.random(n) < density, rng.integers(-600, 600, n), 0).astype(np.int64)


def run_array(cfg, program, xs):
    """Load ``program`` through the protocol, run it on each input; return per input
    (outputs, counters)."""
    dut = EIETop(cfg)
    results = []

    async def bench(ctx):
        drv = EIEDriver(AmaranthTransport(ctx, dut, timeout_cycles=50_000), cfg)
        await drv.check_info()
        await drv.load(program)
        for x in xs:
            await drv.write_input(x)
            await drv.run()
            out = await drv.read_output(program.layers[-1].out_len)
            results.append((out, await drv.counters()))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return results


def check_against_models(cfg, program, xs):
    results = run_array(cfg, program, xs)
    golden = GoldenModel(program)
    for x, (out, cnt) in zip(xs, results):
        np.testing.assert_array_equal(out, golden.run(x))
        timing = network_timing(program, x)
        n = len(program.layers)
        assert cnt.layer_cycles[:n] == [t.cycles for t in timing], "layer cycles differ from the cycle model"
        assert cnt.run_cycles == sum(t.cycles for t in timing)
        assert cnt.broadcasts == sum(t.broadcasts for t in timing)
        assert cnt.busy == list(sum(t.busy for t in timing))
        assert cnt.stall == list(sum(t.stall for t in timing))
    return results


def paper_example(cfg):
    """EIE Figs. 2-3: a 16x8 matrix on 4 PEs. PE 0's rows are the paper's; the other rows
    and the input vector are ours."""
    idx = np.zeros((16, 8), dtype=np.int64)
    pe0 = [(0, 0), (8, 0), (12, 0), (4, 1), (0, 2), (12, 2), (0, 4), (4, 4), (0, 5), (12, 5),
           (0, 6), (8, 7), (12, 7)]
    for n, (r, c) in enumerate(pe0):
        idx[r, c] = 1 + n % 15
    rng = np.random.default_rng(23)
    others = np.array([r for r in range(16) if r % 4])
    mask = rng.random((len(others), 8)) < 0.35
    idx[others] = np.where(mask, rng.integers(1, 16, (len(others), 8)), 0)
    cb = np.r_[0.0, np.linspace(-1.0, 1.0, 15)]
    q = fmt.QuantizedLayer("fig2", idx, cb, np.linspace(-0.5, 0.5, 16), relu=True)
    return fmt.encode_network([q], cfg)


def test_paper_example_fig2():
    cfg = TINY
    program = paper_example(cfg)
    e = program.layers[0]
    # The paper's PE 0 encoding.
    assert list(e.z[0]) == [0, 1, 0, 1, 0, 2, 0, 0, 0, 2, 0, 2, 0]
    assert list(e.ptr[0]) == [0, 3, 4, 6, 6, 8, 10, 11, 13]
    x = np.array([0, 200, 0, 300, 0, 0, 100, -250], dtype=np.int64)   # a = (0, a1, 0, a3, ...)
    check_against_models(cfg, program, [x])


@pytest.mark.parametrize("seed", [3])
def test_random_two_layer_network(seed):
    print("seed", seed)
    rng = np.random.default_rng(seed)
    cfg = TINY
    layers = [random_layer(rng, cfg, 40, 30, 0.25, "fc1"), random_layer(rng, cfg, 10, 40, 0.3, "fc2", relu=False)]
    program = fmt.encode_network(layers, cfg)
    xs = [random_input(rng, cfg, 30, 0.5), random_input(rng, cfg, 30, 0.9)]
    check_against_models(cfg, program, xs)


def test_queue_stalls_depth_two():
    """Dense columns and a shallow queue: the broadcast stalls, counters count it."""
    rng = np.random.default_rng(9)
    cfg = TINY.replace(queue_depth=2)
    # ~13 entries per column and PE: the column queue fills, then the activation queue.
    layers = [random_layer(rng, cfg, 64, 32, 0.8)]
    program = fmt.encode_network(layers, cfg)
    results = check_against_models(cfg, program, [random_input(rng, cfg, 32, 0.8)])
    assert sum(results[0][1].stall) > 0


def test_one_pe_queue_depth_one():
    rng = np.random.default_rng(4)
    cfg = TINY.replace(n_pe=1, queue_depth=1)
    layers = [random_layer(rng, cfg, 9, 7, 0.4), random_layer(rng, cfg, 5, 9, 0.4)]
    program = fmt.encode_network(layers, cfg)
    check_against_models(cfg, program, [random_input(rng, cfg, 7, 0.7)])


def test_one_column_layer_three_pes():
    """A layer of one column, on a PE count that is not a power of two."""
    rng = np.random.default_rng(6)
    cfg = TINY.replace(n_pe=3)
    layers = [random_layer(rng, cfg, 7, 1, 0.6), random_layer(rng, cfg, 4, 7, 0.5)]
    program = fmt.encode_network(layers, cfg)
    check_against_models(cfg, program, [np.array([321]), np.array([0])])
