"""cocotb test: protocol fuzzing through the board core's UART pins, with line errors.

The design is `fpga.top.BoardCore` around the real array (tests/test_fpga_fuzz.py builds
it); the host is `fpga.tb.uart_transport.UARTPinTransport`, which keeps the request/response
discipline (a UART has no flow control): each frame of a `sim.fuzz.FuzzPlan` (episodes
without pipelining, `sim.fuzz.DISCIPLINED`) is sent, then its reply read and compared with
`sim.fuzz_model.DeviceModel`'s. Between frames, at random, the line carries what a serial
link can: a frame with a low stop bit (a framing error) or a break (the line held low for
many bit times). docs/protocol.md says what the design does with them: the receiver drops
the byte (or the whole break) and raises the sticky ``framing_error`` flag, so between
frames nothing happens at all. At the end a byte is lost *inside* a frame and the host runs
the documented resynchronisation (65538 zero bytes, then INFO, discarding what comes
before INFO's reply): the model, fed the bytes the device really received, predicts every
reply on the way. Then every memory is read back over the UART and through the backdoor.

``EIE_BOARD_FUZZ`` (JSON): ``cfg``, ``seed``, ``frames``, ``divisor``, ``results``.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Timer

from eie.config import EIEConfig
from host import protocol as proto
from sim.fuzz import DISCIPLINED, FuzzPlan, readback_chunks
from sim.tb.fuzz_checks import backdoor_diffs, first_difference
from fpga.tb.uart_transport import UARTPinTransport

CLOCK_PS = 10_000


async def bad_stop_bit(uart: UARTPinTransport, byte: int) -> None:
    """One 8N1 frame whose stop bit is low, then the line idle again."""
    for level in [0] + [(byte >> i) & 1 for i in range(8)] + [0]:
        uart.rx.value = level
        await Timer(uart.bit_ps, "ps")
    uart.rx.value = 1
    await Timer(2 * uart.bit_ps, "ps")


async def line_break(uart: UARTPinTransport, bits: int) -> None:
    """The line held low for ``bits`` bit times (longer than a frame), then idle."""
    uart.rx.value = 0
    await Timer(bits * uart.bit_ps, "ps")
    uart.rx.value = 1
    await Timer(2 * uart.bit_ps, "ps")


async def _exchange(uart, data: bytes, expect: list, where: str) -> None:
    if data:
        await uart.send(data)
    got = await uart.recv(len(expect)) if expect else b""
    at = first_difference(expect, got)
    if at is not None:
        raise AssertionError(f"{where}: sent {data[:24].hex()}, reply byte {at} is {got[at:at + 8].hex()}, "
                             f"model {expect[at:at + 8]}")


@cocotb.test()
async def board_fuzz(dut):
    spec = json.loads(Path(os.environ["EIE_BOARD_FUZZ"]).read_text())
    cfg = EIEConfig.from_dict(spec["cfg"])
    seed = int(spec["seed"])
    rng = random.Random(seed ^ 0x5A5A)
    result = {"seed": seed, "status": "error", "error": None, "framing_errors": 0, "breaks": 0}
    t0 = time.monotonic()
    Clock(dut.clk, CLOCK_PS, unit="ps").start()
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    uart = UARTPinTransport(dut.rx, dut.tx, clk_period_ps=CLOCK_PS, divisor=spec["divisor"], seed=seed).start()
    await ClockCycles(dut.clk, cfg.act_depth + 16)               # the reset sweep
    plan = FuzzPlan(cfg, seed, int(spec["frames"]), episodes=DISCIPLINED)
    model = plan.model
    try:
        for n, chunk in enumerate(plan.chunks()):
            for data, reply in chunk.frames():
                await _exchange(uart, data, reply, f"chunk {n} ({chunk.kind})")
                if chunk.kind != "fill" and rng.random() < 0.12:
                    if rng.random() < 0.5:
                        await bad_stop_bit(uart, rng.getrandbits(8))
                        result["framing_errors"] += 1
                    else:
                        await line_break(uart, rng.randint(12, 40))
                        result["breaks"] += 1
        assert int(dut.framing_error.value) == (1 if result["framing_errors"] + result["breaks"] else 0), \
            "framing_error flag does not match the line errors sent"
        result["fuzzed_frames"] = model.frames
        # A byte lost inside a frame: WRITE_MEM's op, its length's low byte, then the high byte
        # arrives broken. The device still waits for the rest of that frame.
        await uart.send(bytes([proto.Op.WRITE_MEM, 0x05]))
        await bad_stop_bit(uart, 0x00)
        received = bytes([proto.Op.WRITE_MEM, 0x05])
        # The documented resynchronisation, then INFO; the model is fed what the device got.
        resync = bytes(65538) + proto.cmd_info()
        expect = model.feed(received + resync)
        await _exchange(uart, resync, expect, "resynchronisation")
        for chunk in readback_chunks(plan):
            await _exchange(uart, chunk.data, chunk.expect, "readback")
        await Timer(20 * uart.rx_bit_ps, "ps")
        assert not uart.extra, f"bytes nobody asked for: {uart.extra.hex()}"
        assert uart.framing_errors == 0, "framing errors on the design's tx line"
        assert int(dut.overrun.value) == 0, "the bridge's receive FIFO overran"
        diffs = backdoor_diffs(dut.eie, model)
        assert not diffs, "memories differ from the model: " + "; ".join(diffs[:5])
        result["status"] = "pass"
    except AssertionError as e:
        result["status"], result["error"] = "fail", str(e)
    except Exception as e:                      # the testbench itself: say what broke
        result["status"], result["error"] = "error", f"{type(e).__name__}: {e}"
        raise
    finally:
        result.update(frames_with_resync=model.frames, statuses=model.statuses, episodes=plan.episodes,
                      bytes_sent=uart.bytes_sent, bytes_received=uart.bytes_received,
                      wall_seconds=round(time.monotonic() - t0, 1))
        Path(spec["results"]).write_text(json.dumps(result, indent=1) + "\n")
        uart.stop()
    assert result["status"] == "pass", f"seed {seed}: {result['error']}"
