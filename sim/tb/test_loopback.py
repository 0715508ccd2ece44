"""cocotb self-test of `sim.cocotb_transport` on a small byte loopback (tests/test_sim_transport.py).

The loopback design answers every byte ``b`` with ``b ^ 0x5A`` through a short FIFO and
stalls its own ``ready`` now and then, so the transport's handshakes, idle cycles,
backpressure, missing-byte timeout and extra-byte check are all exercised without the EIE
top. Knobs come from the environment: ``EIE_SEED``, ``EIE_IDLE``, ``EIE_BACKPRESSURE``,
``EIE_NBYTES``.
"""

import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles

from sim.cocotb_transport import CocotbTransport, TransportTimeout


async def _setup(dut, idle, bp, seed):
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    t = CocotbTransport(dut, dut.clk, idle=idle, backpressure=bp, seed=seed, timeout_cycles=500)
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    t.start()
    return t


@cocotb.test()
async def loopback_scoreboard(dut):
    seed = int(os.environ.get("EIE_SEED", "1"))
    idle = float(os.environ.get("EIE_IDLE", "0"))
    bp = float(os.environ.get("EIE_BACKPRESSURE", "0"))
    n = int(os.environ.get("EIE_NBYTES", "500"))
    dut._log.info(f"seed={seed} idle={idle} backpressure={bp}")
    t = await _setup(dut, idle, bp, seed)
    rng = random.Random(seed)
    data = bytes(rng.randrange(256) for _ in range(n))
    # Write and read in uneven chunks, the way a driver does.
    pos = 0
    got = bytearray()
    while pos < n:
        k = min(n - pos, rng.randint(1, 40))
        await t.write(data[pos:pos + k])
        got += await t.read(k)
        pos += k
    expected = bytes(b ^ 0x5A for b in data)
    assert got == expected, f"first difference at byte {next(i for i in range(n) if got[i] != expected[i])}"
    await t.assert_quiet(32)
    cycles = t.cycle
    dut._log.info(f"{n} bytes in {cycles} cycles")
    if idle == 0 and bp == 0:
        assert cycles < 4 * n + 100
    t.stop()


@cocotb.test()
async def missing_and_extra_are_caught(dut):
    t = await _setup(dut, 0.0, 0.0, 0)
    await t.write(b"\x01\x02")
    try:
        await t.read(3)            # only two answers will ever come
    except TransportTimeout as e:
        dut._log.info(f"missing byte detected: {e}")
    else:
        raise AssertionError("a missing byte went unnoticed")
    t._in.clear()
    await t.write(b"\x03")        # an answer nobody reads is extra
    try:
        await t.assert_quiet(32)
    except AssertionError as e:
        dut._log.info(f"extra byte detected: {e}")
    else:
        raise AssertionError("an extra byte went unnoticed")
    t.stop()
