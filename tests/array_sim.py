"""Shared by the tests that drive the whole array in Amaranth's simulator through the host
driver: a random quantized layer, and a simulation that runs one async body against `EIETop`."""

import os

import numpy as np
from amaranth.sim import Simulator

from eie import format as fmt
from host.driver import EIEDriver
from hw.top import EIETop
from sim.amaranth_transport import AmaranthTransport

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")


def layer(rng, cfg, out_len, in_len, density, name, relu=True):
    """A random layer: indices at ``density``, a random codebook and biases."""
    idx = np.where(rng.random((out_len, in_len)) < density, rng.integers(1, cfg.codebook_size, (out_len, in_len)), 0)
    return fmt.QuantizedLayer(name, idx, np.r_[0.0, rng.normal(0.0, 0.4, cfg.codebook_size - 1)],
                              rng.normal(0.0, 0.3, out_len), relu)


def simulate(cfg, bench_body):
    """Run ``await bench_body(driver)`` on the array of ``cfg``, after an INFO check."""
    dut = EIETop(cfg)

    async def bench(ctx):
        drv = EIEDriver(AmaranthTransport(ctx, dut, timeout_cycles=50_000), cfg)
        await drv.check_info()
        await bench_body(drv)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
