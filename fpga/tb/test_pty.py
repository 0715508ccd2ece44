"""cocotb side of the serial-transport test: a pty whose other end is the board's UART pins.

The simulator process opens a pseudo-terminal, sets it raw and writes the slave's path to
``EIE_PTY_FILE``; the test process opens that path with pyserial (`fpga.serial_transport`)
and runs the host driver on it, as it would on a board's /dev/ttyUSB. Here, every byte
that arrives on the pty's master side is bit-banged onto the design's ``rx`` pin
(`fpga.tb.uart_transport.UARTPinTransport`), and every byte decoded from ``tx`` is written
back to the master. The test ends when ``EIE_PTY_DONE`` appears and the line is quiet, or
fails after ``EIE_PTY_TIMEOUT`` seconds of wall-clock time.
"""

from __future__ import annotations

import os
import time
import tty

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Timer

from fpga.tb.uart_transport import UARTPinTransport

CLOCK_PS = 10_000


@cocotb.test()
async def pty_bridge(dut):
    divisor = int(os.environ["EIE_DIVISOR"])
    done = os.environ["EIE_PTY_DONE"]
    deadline = time.monotonic() + float(os.environ.get("EIE_PTY_TIMEOUT", "300"))

    master, slave = os.openpty()
    tty.setraw(slave)                      # no echo, no line editing: bytes as they are
    os.set_blocking(master, False)
    path = os.environ["EIE_PTY_FILE"]
    with open(path + ".tmp", "w") as f:
        f.write(os.ttyname(slave))
    os.replace(path + ".tmp", path)

    Clock(dut.clk, CLOCK_PS, unit="ps").start()
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    uart = UARTPinTransport(dut.rx, dut.tx, clk_period_ps=CLOCK_PS, divisor=divisor).start()

    idle = 0
    try:
        while True:
            moved = False
            try:
                data = os.read(master, 4096)
            except BlockingIOError:
                data = b""
            if data:
                await uart.send(data)
                moved = True
            out = uart.take()
            if out:
                os.write(master, out)
                moved = True
            if moved:
                idle = 0
                continue
            idle += 1
            await Timer(4 * uart.rx_bit_ps, "ps")
            if idle > 50:
                # The host is thinking (or done): let it have the CPU for a moment.
                time.sleep(0.0005)
                if os.path.exists(done) and idle > 100:
                    break
            assert time.monotonic() < deadline, "the host over the pty did not finish in time"
        assert uart.framing_errors == 0, f"{uart.framing_errors} framing errors on tx"
        assert int(dut.overrun.value) == 0 and int(dut.framing_error.value) == 0
        dut._log.info(f"pty bridge: {uart.bytes_sent} bytes to the design, {uart.bytes_received} back")
    finally:
        uart.stop()
        os.close(master)
        os.close(slave)
