"""Boot replayer and board core in Amaranth's simulator, against a protocol-framing fixture.

`fpga.tb.fixtures.FrameAcker` answers every command frame (with bodies of 0-3 bytes to
skip, and an error status for op 0xEE): the replayer must deliver every ROM byte in
order, wait for each response, skip its body, flag errors, and then hand the streams
to the UART, which must carry a command and its response unchanged.
"""

import random

import pytest
from amaranth.hdl import Fragment, Module

from fpga.boot import BootReplayer, check_command_stream
from host.protocol import split_frames
from fpga.top import BoardCore
from fpga.tb.fixtures import FrameAcker, EchoCore
from fpga.tb.uart_model import frame as uart_frame, send_line, LineMonitor, run_with_line_monitor


def cmd(op, body=b""):
    return bytes([op]) + len(body).to_bytes(2, "little") + bytes(body)


def random_stream(rng, n, error=False):
    out = b""
    for _ in range(n):
        r = rng.random()
        if r < 0.15:
            out += b"\x00"                                        # NOP
        else:
            op = rng.choice([0x01, 0x02, 0x03, 0x05, 0x07, 0x42])
            out += cmd(op, bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 2, 9, 40]))))
    if error:
        out += cmd(0xEE, b"\x01\x02")
    return out + cmd(0x03, b"end")


@pytest.mark.parametrize("error", [False, True])
def test_board_core_boots_then_hands_over_to_the_uart(error):
    seed = random.randrange(1 << 30)
    print(f"seed={seed} error={error}")
    rng = random.Random(seed)
    rom = random_stream(rng, 25, error)
    n_answered = check_command_stream(rom)
    div = 4
    dut = BoardCore(FrameAcker(), divisor=div, fifo_depth=4, boot=rom)
    core = dut.core
    seen, responses = [], []
    mon = LineMonitor(div)

    async def watch(ctx):
        async for _, _, v, r, p, tv, tr in ctx.tick().sample(
                core.host_rx.valid, core.host_rx.ready, core.host_rx.payload,
                core.host_tx.valid, core.host_tx.ready):
            if v and r:
                seen.append(p)
            if tv and tr:
                responses.append(1)

    async def host(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().until(dut.boot_done)
        assert bytes(seen) == rom
        assert ctx.get(dut.boot_error) == error
        # Every answered command's response was read in full (4 header bytes + 0..3 body).
        expected = sum(4 + (op & 3) for op in _ops(rom))
        assert len(responses) == expected, (len(responses), expected, n_answered)
        # Now the UART owns the design: one command, one response on the line.
        await send_line(ctx, dut.rx, [uart_frame(b) for b in cmd(0x07, b"\x02")], div)
        while len(mon.bytes) < 4 + 3:
            await ctx.tick()
        assert mon.bytes == [0, 0x07, 3, 0, 0xA4, 0xA5, 0xA6]
        assert not ctx.get(dut.overrun) and not ctx.get(dut.framing_error)

    run_with_line_monitor(dut, host, mon, processes=[watch])


def _ops(rom):
    return [f[0] for f in split_frames(rom) if f[0] != 0]


def test_without_boot_the_uart_owns_the_design_at_once():
    div = 5
    dut = BoardCore(EchoCore(), divisor=div)
    mon = LineMonitor(div)
    data = [0x00, 0x41, 0xFF, 0x10]

    async def host(ctx):
        assert ctx.get(dut.boot_done)
        await send_line(ctx, dut.rx, [uart_frame(b) for b in data], div)
        while len(mon.bytes) < len(data):
            await ctx.tick()
        assert mon.bytes == [(b + 1) & 0xFF for b in data]

    run_with_line_monitor(dut, host, mon)


def test_bad_inputs():
    with pytest.raises(ValueError, match="ends inside the body"):
        check_command_stream(cmd(3, b"abc")[:-1])
    with pytest.raises(ValueError, match="ends inside a frame header"):
        check_command_stream(b"\x00\x03\x01")
    with pytest.raises(ValueError, match="non-empty bytes"):
        BootReplayer(b"")
    assert check_command_stream(b"\x00" + cmd(1) + b"\x00\x00" + cmd(2, b"xy")) == 2
    with pytest.raises(TypeError, match="has no host_tx port"):
        from amaranth.lib import wiring, stream
        from amaranth.lib.wiring import In

        class Half(wiring.Component):
            host_rx: In(stream.Signature(8))

            def elaborate(self, platform):
                return Module()
        half = Half()
        BoardCore(half, divisor=8)
    Fragment.get(half, None)        # used, so Amaranth does not warn about the test object
    with pytest.raises(TypeError, match=r"host_rx must be In\(stream.Signature\(8\)\)"):
        from amaranth.lib.wiring import Out

        class Wide(wiring.Component):
            host_rx: In(stream.Signature(16))
            host_tx: Out(stream.Signature(8))

            def elaborate(self, platform):
                return Module()
        wide = Wide()
        BoardCore(wide, divisor=8)
    Fragment.get(wide, None)
