"""UART receiver, transmitter and bridge in Amaranth's simulator.

The line side is modelled in Python, independently of the RTL (`fpga.tb.uart_model`): a
sender that bit-bangs frames with its own (possibly slightly wrong) bit period and random
gaps, and a line monitor that decodes frames and checks every bit's length.
Random tests print their seed.
"""

import random

import pytest
from amaranth.sim import Simulator

from fpga.uart import UARTRx, UARTTx, baud_divisor, MIN_DIVISOR
from fpga.bridge import UARTBridge
from fpga.tb.uart_model import frame, send_line, LineMonitor, run_with_line_monitor


def run_sim(dut, *testbenches, processes=(), deadline=None):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for tb in testbenches:
        sim.add_testbench(tb)
    for p in processes:
        sim.add_process(p)
    if deadline is None:
        sim.run()
    else:
        sim.run_until(deadline * 1e-6)


# ---- receiver -----------------------------------------------------------------------------

@pytest.mark.parametrize("divisor, skew", [(4, 0.0), (5, -0.02), (7, 0.02), (16, -0.03), (16, 0.03)])
def test_rx_random_bytes(divisor, skew):
    seed = random.randrange(1 << 30)
    print(f"seed={seed} divisor={divisor} skew={skew}")
    rng = random.Random(seed)
    data = [rng.randrange(256) for _ in range(60)]
    # Half the bytes back to back, the others after random idle time.
    gaps = [0.0 if rng.random() < 0.5 else rng.uniform(0, 3) for _ in data]
    dut = UARTRx(divisor)
    got, errors = [], []

    async def sender(ctx):
        ctx.set(dut.rx, 1)
        it = iter(gaps)
        await send_line(ctx, dut.rx, [frame(b) for b in data], divisor * (1 + skew), lambda: next(it))

    async def consumer(ctx):
        ctx.set(dut.o.ready, 1)
        while len(got) < len(data):
            await ctx.tick()
            if ctx.get(dut.framing_error) or ctx.get(dut.overrun):
                errors.append("error flag")
        # nothing extra afterwards
        for _ in range(20 * divisor):
            await ctx.tick()
            assert not ctx.get(dut.o.valid)

    async def monitor(ctx):
        async for _, _, valid, ready, payload in ctx.tick().sample(dut.o.valid, dut.o.ready, dut.o.payload):
            if valid and ready:
                got.append(payload)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(sender, background=True)
    sim.add_testbench(consumer)
    sim.add_process(monitor)
    sim.run()
    assert got == data
    assert not errors


def test_rx_framing_error_glitch_and_break():
    div = 8
    dut = UARTRx(div)
    got, framing = [], []

    async def sender(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(5)
        # a glitch shorter than half a bit: no byte, no error
        ctx.set(dut.rx, 0)
        await ctx.tick().repeat(div // 2 - 2)
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(3 * div)
        # a good byte, a frame with a low stop bit, a good byte
        await send_line(ctx, dut.rx, [frame(0x5A), frame(0x33, stop=0)], div)
        await ctx.tick().repeat(2 * div)
        await send_line(ctx, dut.rx, [frame(0xC3)], div)
        # a break: 30 bit times low gives one framing error and no bytes
        ctx.set(dut.rx, 0)
        await ctx.tick().repeat(30 * div)
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(2 * div)
        await send_line(ctx, dut.rx, [frame(0x81)], div)
        await ctx.tick().repeat(5 * div)

    async def monitor(ctx):
        async for _, _, valid, payload, fe in ctx.tick().sample(dut.o.valid, dut.o.payload, dut.framing_error):
            if valid:
                got.append(payload)
            if fe:
                framing.append(1)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(sender)
    sim.add_process(monitor)

    async def ready(ctx):
        ctx.set(dut.o.ready, 1)
    sim.add_testbench(ready)
    sim.run()
    assert got == [0x5A, 0xC3, 0x81]
    assert len(framing) == 2


def test_rx_overrun_keeps_the_waiting_byte():
    div = 4
    dut = UARTRx(div)
    overruns = []

    async def sender(ctx):
        ctx.set(dut.o.ready, 0)
        await send_line(ctx, dut.rx, [frame(0x11), frame(0x22), frame(0x33)], div)
        await ctx.tick().repeat(div)
        # The first byte waited; its payload held still; the others were dropped.
        assert ctx.get(dut.o.valid) and ctx.get(dut.o.payload) == 0x11
        ctx.set(dut.o.ready, 1)
        await ctx.tick()
        ctx.set(dut.o.ready, 0)
        await ctx.tick()
        assert not ctx.get(dut.o.valid)

    async def monitor(ctx):
        async for _, _, ov in ctx.tick().sample(dut.overrun):
            if ov:
                overruns.append(1)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(sender)
    sim.add_process(monitor)
    sim.run()
    assert len(overruns) == 2


# ---- transmitter --------------------------------------------------------------------------

@pytest.mark.parametrize("divisor", [4, 5, 13])
def test_tx_random_bytes_exact_timing(divisor):
    seed = random.randrange(1 << 30)
    print(f"seed={seed} divisor={divisor}")
    rng = random.Random(seed)
    data = [rng.randrange(256) for _ in range(50)]
    dut = UARTTx(divisor)
    mon = LineMonitor(divisor)
    back_to_back = []

    async def producer(ctx):
        for i, b in enumerate(data):
            idle = rng.random() < 0.3
            if idle:
                ctx.set(dut.i.valid, 0)
                await ctx.tick().repeat(rng.randrange(1, 3 * divisor))
            ctx.set(dut.i.payload, b)
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
            back_to_back.append(not idle)
        ctx.set(dut.i.valid, 0)
        while len(mon.bytes) < len(data):
            await ctx.tick()
        await ctx.tick().repeat(3 * divisor)

    run_with_line_monitor(dut, producer, mon)
    assert mon.bytes == data
    # Bytes offered while the previous frame was going out leave with no idle bit between.
    for i in range(1, len(data)):
        if back_to_back[i]:
            assert mon.frame_starts[i] - mon.frame_starts[i - 1] == 10 * divisor, i


def test_tx_idles_high():
    dut = UARTTx(4)

    async def tb(ctx):
        for _ in range(50):
            assert ctx.get(dut.tx) == 1
            await ctx.tick()
    run_sim(dut, tb)


# ---- bridge -------------------------------------------------------------------------------

@pytest.mark.parametrize("tx_fifo_depth", [0, 1])
def test_bridge_loopback_with_backpressure(tx_fifo_depth):
    """Host bytes through the bridge into a consumer that stalls at random (less than the
    FIFO can absorb), and the design's answers back out on the line."""
    seed = random.randrange(1 << 30)
    print(f"seed={seed}")
    rng = random.Random(seed)
    div = 4
    data = [rng.randrange(256) for _ in range(80)]
    dut = UARTBridge(div, fifo_depth=8, tx_fifo_depth=tx_fifo_depth)
    mon = LineMonitor(div)
    got = []

    async def host(ctx):
        await send_line(ctx, dut.rx, [frame(b) for b in data], div)

    echo = []

    async def consumer(ctx):
        # Take bytes with random stalls (short enough for the FIFO to absorb).
        while len(got) < len(data):
            ctx.set(dut.host_rx.ready, rng.random() < 0.3)
            _, _, valid, ready, payload = await ctx.tick().sample(
                dut.host_rx.valid, dut.host_rx.ready, dut.host_rx.payload)
            if valid and ready:
                got.append(payload)
                echo.append((payload + 1) & 0xFF)

    async def producer(ctx):
        # Echo every byte + 1 as the design's answer.
        sent = 0
        while sent < len(data):
            if sent < len(echo):
                ctx.set(dut.host_tx.payload, echo[sent])
                ctx.set(dut.host_tx.valid, 1)
                await ctx.tick().until(dut.host_tx.ready)
                sent += 1
            else:
                ctx.set(dut.host_tx.valid, 0)
                await ctx.tick()
        ctx.set(dut.host_tx.valid, 0)
        while len(mon.bytes) < len(data):
            await ctx.tick()
        assert not ctx.get(dut.overrun) and not ctx.get(dut.framing_error)

    async def line(ctx):
        await mon.run(ctx, dut.tx)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(host, background=True)
    sim.add_testbench(consumer)
    sim.add_testbench(producer)
    sim.add_testbench(line, background=True)
    sim.run()
    assert got == data
    assert mon.bytes == [(b + 1) & 0xFF for b in data]


@pytest.mark.parametrize("tx_fifo_depth", [0, 1, 3])
def test_bridge_transmits_back_to_back(tx_fifo_depth):
    """Bytes the design offers without pause leave with no idle bit between frames, with or
    without the transmit FIFO."""
    seed = random.randrange(1 << 30)
    print(f"seed={seed}")
    rng = random.Random(seed)
    div = 5
    data = [rng.randrange(256) for _ in range(12)]
    dut = UARTBridge(div, tx_fifo_depth=tx_fifo_depth)
    mon = LineMonitor(div)

    async def producer(ctx):
        for b in data:
            ctx.set(dut.host_tx.payload, b)
            ctx.set(dut.host_tx.valid, 1)
            await ctx.tick().until(dut.host_tx.ready)
        ctx.set(dut.host_tx.valid, 0)
        while len(mon.bytes) < len(data):
            await ctx.tick()

    run_with_line_monitor(dut, producer, mon)
    assert mon.bytes == data
    assert all(b - a == 10 * div for a, b in zip(mon.frame_starts, mon.frame_starts[1:]))


def test_bridge_overrun_is_sticky():
    div = 4
    dut = UARTBridge(div, fifo_depth=2)

    async def tb(ctx):
        ctx.set(dut.host_rx.ready, 0)
        await send_line(ctx, dut.rx, [frame(i) for i in range(5)], div)
        await ctx.tick().repeat(3 * div)
        assert ctx.get(dut.overrun)
        # FIFO (2) + the receiver's output register (1) held; the rest was lost.
        out = []
        ctx.set(dut.host_rx.ready, 1)
        for _ in range(10):
            _, _, valid, payload = await ctx.tick().sample(dut.host_rx.valid, dut.host_rx.payload)
            if valid:
                out.append(payload)
        assert out == [0, 1, 2]
        assert ctx.get(dut.overrun)

    run_sim(dut, tb)


# ---- parameters ---------------------------------------------------------------------------

def test_parameters_are_checked():
    with pytest.raises(ValueError, match="at least 4 clock cycles per bit, not 3"):
        UARTRx(3)
    with pytest.raises(TypeError, match="integer, not 4.5"):
        UARTTx(4.5)
    with pytest.raises(ValueError, match="fifo_depth must be a non-negative integer, not -1"):
        UARTBridge(8, fifo_depth=-1)
    assert baud_divisor(12e6, 115200) == 104
    assert baud_divisor(48e6, 3_000_000) == 16
    with pytest.raises(ValueError, match="needs at least"):
        baud_divisor(1e6, 1_000_000)
    with pytest.raises(ValueError, match="% off"):
        baud_divisor(10e6, 1_500_000)   # 6.67 -> 7 is 4.8% off
    assert MIN_DIVISOR == 4
