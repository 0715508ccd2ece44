"""Division by the PE count as a multiply by a constant (`hw.constdiv`): the sequencer's rows
per PE, the command engine's activation index -> (PE, slot).

``reciprocal`` is checked exhaustively in Python for the PE counts a build may use and the
ranges it divides; ``divide_by_constant`` is checked on the hardware it builds, in Amaranth's
simulator, for every value of a small range. The command engine's split of an activation
index by a PE count that is not a power of two is checked through the host protocol
(tests/test_hw_ccu.py, 3 and 6 PEs).
"""

import os

import pytest
from amaranth import Module, Signal
from amaranth.sim import Simulator

from hw.constdiv import divide_by_constant, reciprocal

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6, 7, 12, 24, 48, 96, 100])
@pytest.mark.parametrize("x_max", [0, 1, 31, 1023, 4096 + 95])
def test_reciprocal_is_exact_over_the_range(n, x_max):
    mul, shift = reciprocal(n, x_max)
    wrong = [x for x in range(x_max + 1) if (x * mul) >> shift != x // n]
    assert not wrong, f"n={n}: {len(wrong)} wrong quotients, first x={wrong[0]}"


def test_reciprocal_range_is_tight_enough_to_matter():
    # Past the range it was built for, the multiply is allowed to be wrong: the test above
    # would pass for any shift that is merely large, so check the range is what bounds it.
    n, x_max = 24, 100
    mul, shift = reciprocal(n, x_max)
    assert any((x * mul) >> shift != x // n for x in range(x_max, 1 << 20))


@pytest.mark.parametrize("n, x_max", [(0, 10), (-3, 10), (3, -1)])
def test_reciprocal_rejects_bad_arguments(n, x_max):
    with pytest.raises(ValueError, match="reciprocal needs"):
        reciprocal(n, x_max)


@pytest.mark.parametrize("n", [3, 24])
def test_divide_by_constant_in_hardware(n):
    x_max = 255
    value, quotient = Signal(range(x_max + 1)), Signal(range(x_max + 1))
    m = Module()
    m.d.comb += quotient.eq(divide_by_constant(value, n, x_max))
    sim = Simulator(m)
    seen = []

    async def sweep(ctx):
        for x in range(x_max + 1):
            ctx.set(value, x)
            seen.append((x, ctx.get(quotient)))

    sim.add_testbench(sweep)
    sim.run()
    assert seen == [(x, x // n) for x in range(x_max + 1)]


def test_divide_by_constant_on_ints():
    n, x_max = 24, (1 << 13) - 1
    assert all(divide_by_constant(x, n, x_max) == x // n for x in range(x_max + 1))
