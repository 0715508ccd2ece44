"""The lane picker (hw/lanepick.py) in Amaranth's simulator: every mask of a few small lane
counts (sim/formal's ``lanepick`` job proves it for many more)."""

import os

import pytest
from amaranth.sim import Simulator

from eie.config import PRESETS
from hw.lanepick import LanePicker

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")


@pytest.mark.parametrize("n", [1, 3, 4, 5, 8])
def test_every_mask(n):
    cfg = PRESETS["tiny"].replace(n_pe=n)
    dut = LanePicker(cfg)

    async def bench(ctx):
        for base in (0, n, 5 * n):
            for mask in range(1 << n):
                ctx.set(dut.mask, mask)
                ctx.set(dut.base, base)
                low = next((k for k in range(n) if mask >> k & 1), None)
                assert ctx.get(dut.valid) == (low is not None)
                assert ctx.get(dut.onehot) == (0 if low is None else 1 << low)
                if low is not None:
                    assert ctx.get(dut.index) == base + low

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
