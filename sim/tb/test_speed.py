"""cocotb measurements for bench/sim_speed.py: raw Verilator speed of a RUN and load times.

``raw_run`` loads a case through the backdoor, writes its input, sends RUN and then takes
Python out of the loop (the transport stops, ``m_axis_tready`` stays low) until ``busy``
falls: the simulator runs the whole layer on its own. It then reads the response and the
outputs and checks them against the golden model, so the measured run is a correct one.
``EIE_RAW_RUNS`` RUNs are timed (default 1), the median reported. Results (wall and CPU
seconds, cycles) go to ``EIE_RESULTS`` as one JSON line.
"""

import json
import os
import time
from pathlib import Path

import numpy as np
import cocotb
from cocotb.triggers import FallingEdge, RisingEdge
from cocotb.utils import get_sim_time

from eie.config import EIEConfig
from eie.images import read_images
from host import protocol as proto
from eie.golden import GoldenModel
from sim.tb.test_top import TB, CLOCK_NS


@cocotb.test()
async def raw_run(dut):
    rec = json.loads(Path(os.environ["EIE_CASES"]).read_text())[0]
    cfg = EIEConfig.from_dict(rec["cfg"])
    images = read_images(rec["images"], cfg)
    x = np.load(rec["inputs"])[0]
    tb = TB(dut, cfg)
    await tb.reset(seed=rec["seed"], idle=0.0, backpressure=0.0)
    t = time.monotonic()
    await tb.load(images, "backdoor")
    backdoor_s = time.monotonic() - t
    drv = tb.driver
    await drv.write_input(x)
    want = GoldenModel(images).run(x)
    runs = []
    for _ in range(int(os.environ.get("EIE_RAW_RUNS", "1"))):
        runs.append(await _timed_run(dut, tb, images))
        y = await drv.read_output(images.layers[-1]["out_len"])
        assert np.array_equal(y, want), "outputs differ from the golden model"
    # The median run; CPU seconds of this process (the simulator and Python) are a figure a
    # busy machine moves less than wall seconds.
    mid = sorted(runs, key=lambda r: r["wall_seconds"])[len(runs) // 2]
    res = {"name": rec["name"], **mid, "runs": runs, "backdoor_seconds": backdoor_s}
    with open(os.environ["EIE_RESULTS"], "a") as f:
        f.write(json.dumps(res) + "\n")
    dut._log.info(f"raw run: {mid['busy_cycles']} cycles in {mid['wall_seconds']:.3f} s = "
                  f"{mid['cycles_per_second']:.0f} cycles/s (median of {len(runs)})")
    tb.transport.stop()


async def _timed_run(dut, tb, images) -> dict:
    """One RUN with Python out of the loop until ``busy`` falls; its cycles and seconds."""
    drv = tb.driver
    await drv.send_command(proto.cmd_run(images.n_layers))
    tb.transport.stop()                     # ready low: the response waits for us
    t0_ns = get_sim_time("ns")
    t, cpu = time.monotonic(), time.process_time()
    if not dut.busy.value:
        await RisingEdge(dut.busy)
    await FallingEdge(dut.busy)
    wall, cpu = time.monotonic() - t, time.process_time() - cpu
    cycles = round((get_sim_time("ns") - t0_ns) / CLOCK_NS)
    tb.transport.start()
    run_cycles = proto.decode_run((await drv.read_response(proto.Op.RUN)).check().body)
    return {"run_cycles": run_cycles, "busy_cycles": cycles, "wall_seconds": wall,
            "cycles_per_second": cycles / wall if wall else None, "cpu_seconds": cpu,
            "cycles_per_cpu_second": cycles / cpu if cpu else None}
