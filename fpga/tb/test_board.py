"""cocotb testbench of the whole board core (`fpga.top.BoardCore`): host to UART pins to EIE.

Run by tests/test_fpga_board_sim.py through `sim.runner` on Verilator. The design under test
is the board's `BoardCore` around the real `hw.top.EIETop`: the only ports driven are the
UART pins (``rx``/``tx``), the clock and the reset. The host side is the project's driver
(`host.driver`) on `fpga.tb.uart_transport.UARTPinTransport`, which bit-bangs the line.

The case comes from the JSON file named by ``EIE_BOARD_CASE``:
``{"cfg", "images", "inputs", "divisor", "skew", "gap_bits", "seed", "baked", "results"}``.
The test waits for the baked model's boot replay (if any) or loads the images through the
UART, checks INFO against the config, then for every input vector writes it, RUNs and reads
the outputs, which must equal the golden model's exactly; the RUN's cycle count must equal
the cycle model's. No framing errors, no overrun, no bytes nobody asked for. Results (one
record) go to ``results``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Timer

from eie.config import EIEConfig
from eie.cycle_model import CycleModel
from eie.images import read_images
from eie.golden import GoldenModel
from host.driver import EIEDriver

from fpga.tb.uart_transport import UARTPinTransport

CLOCK_PS = 10_000


@cocotb.test()
async def board(dut):
    case = json.loads(Path(os.environ["EIE_BOARD_CASE"]).read_text())
    cfg = EIEConfig.from_dict(case["cfg"])
    images = read_images(case["images"], cfg)
    x_all = np.atleast_2d(np.load(case["inputs"]))
    result = {"vectors": 0, "mismatches": 0, "cycles": [], "model_cycles": [], "status": "error"}
    t_start = time.monotonic()

    Clock(dut.clk, CLOCK_PS, unit="ps").start()
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0

    uart = UARTPinTransport(dut.rx, dut.tx, clk_period_ps=CLOCK_PS, divisor=case["divisor"],
                            skew=case.get("skew", 0.0), gap_bits=case.get("gap_bits", 0.0),
                            seed=case.get("seed", 0)).start()
    drv = EIEDriver(uart, cfg)
    try:
        if case["baked"]:
            await _wait_for_boot(dut, result)
        await drv.wait_ready()
        info = await drv.check_info()
        dut._log.info(f"INFO over the UART: {info}")
        if case["baked"]:
            drv.n_layers = images.n_layers
        else:
            t0 = time.monotonic()
            await drv.load(images)
            result["load_bytes"] = uart.bytes_sent
            dut._log.info(f"model loaded over the UART: {uart.bytes_sent} bytes in "
                          f"{time.monotonic() - t0:.1f} s")
        outputs = await _run_vectors(dut, drv, images, x_all, result)
        await Timer(20 * uart.rx_bit_ps, "ps")
        _check_lines(dut, uart)
        if case.get("save_outputs"):
            np.save(case["save_outputs"], np.array(outputs))
        result["status"] = "pass" if result["mismatches"] == 0 else "fail"
    finally:
        result["seconds"] = round(time.monotonic() - t_start, 1)
        result["bytes_sent"] = uart.bytes_sent
        result["bytes_received"] = uart.bytes_received
        with open(case["results"], "w") as f:
            json.dump(result, f)
        uart.stop()
    assert result["mismatches"] == 0, f"{result['mismatches']} mismatches against the golden/cycle model"


async def _wait_for_boot(dut, result):
    """The boot replayer loads a baked model by itself: the host only waits for it."""
    cycles = 0
    while not int(dut.boot_done.value):
        await ClockCycles(dut.clk, 256)
        cycles += 256
        assert cycles < 50_000_000, "the baked model never finished loading"
    assert int(dut.boot_error.value) == 0, "a boot command was answered with an error"
    result["boot_cycles"] = cycles
    dut._log.info(f"baked model loaded by the boot replayer in about {cycles} cycles")


async def _run_vectors(dut, drv, images, x_all, result) -> list:
    """Write, RUN and read every input vector; count each output that differs from the golden
    model's and each RUN whose cycles differ from the cycle model's as a mismatch."""
    golden, model = GoldenModel(images), CycleModel(images)
    out_len = images.layers[-1]["out_len"]
    expect = golden.run(x_all)
    outputs = []
    for v, x in enumerate(x_all):
        await drv.write_input(x)
        cycles = await drv.run()
        got = await drv.read_output(out_len)
        outputs.append(got)
        bad = np.nonzero(got != expect[v])[0]
        if len(bad):
            result["mismatches"] += 1
            dut._log.error(f"vector {v}: {len(bad)} of {out_len} outputs differ, first "
                           f"[{bad[0]}] got {got[bad[0]]} expected {expect[v][bad[0]]}")
        mc = int(model.run(x).total_cycles[0])
        result["cycles"].append(cycles)
        result["model_cycles"].append(mc)
        if mc != cycles:
            result["mismatches"] += 1
            dut._log.error(f"vector {v}: RUN took {cycles} cycles, the cycle model says {mc}")
        result["vectors"] += 1
    return outputs


def _check_lines(dut, uart):
    """Nothing went wrong on either line."""
    assert uart.framing_errors == 0, f"{uart.framing_errors} framing errors on the design's tx"
    assert not uart.extra, f"bytes nobody asked for: {uart.extra.hex()}"
    assert int(dut.overrun.value) == 0, "the bridge's receive FIFO overran"
    assert int(dut.framing_error.value) == 0, "the bridge saw a framing error"
