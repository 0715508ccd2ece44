"""cocotb testbench of the EIE top (`hw.top.EIETop`) against the golden and cycle models.

Run through `sim.runner.SimBuild.test` (pytest: tests/test_sim_top.py; the sweep:
`sim.regression.run_cases`). The test ``run_cases`` reads a list of case records
(``EIE_CASES``: JSON written by `sim.cases.Case.materialise`) and, for each case:

1. resets the design and starts a fresh transport with the case's random idle cycles
   (``host_rx``) and backpressure (``host_tx``), seeded by the case seed;
2. loads the case's image folder, either through the real host protocol (WRITE_MEM
   frames, `host.driver`) or through the backdoor (`sim.tb.backdoor`: direct writes into the
   named memories);
3. for every input vector: writes it (WRITE_ACT), RUNs every layer, reads the last layer's
   outputs (READ_ACT), the previous layer's outputs from the other act file (READ_MEM) and
   the counters (READ_COUNTERS); a conv net's images run through the host's plan instead,
   every RUN checked (`sim.tb.network_case`);
4. checks, in a `Scoreboard`, every value against the golden model (fails on any missing,
   extra or different value), each layer's cycle count against `eie.cycle_model` (exact
   unless ``EIE_STRICT_CYCLES=0``), and the counters the hardware owes the definition
   exactly: broadcasts = non-zero inputs, busy[k] = PE k's entries in the broadcast columns.

One JSON line per case goes to ``EIE_RESULTS``; the test fails at the end if any case did.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path

import numpy as np
import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles

from eie.config import EIEConfig
from eie.images import read_images
from eie.golden import GoldenModel
from sim.cocotb_transport import CocotbTransport, FramingError, TransportTimeout, stream_ports
from eie.cycle_model import column_entries, lower_bound
from sim.tb.scoreboard import Scoreboard

CLOCK_NS = 10


# ---- helpers ------------------------------------------------------------------------------

def _cycle_model(program):
    """The hw engineer's cycle model, when present: layer_cycles(x) -> per-layer list."""
    try:
        from eie import cycle_model
    except ImportError:
        return None
    return cycle_model.CycleModel(program)


# ---- the testbench --------------------------------------------------------------------------

class TB:
    """Clock, reset, the host transport (driver side with idle cycles, monitor side with
    backpressure), the host driver on top, and the image loaders."""

    def __init__(self, dut, cfg: EIEConfig):
        self.dut, self.cfg = dut, cfg
        self.log = dut._log
        # The clock toggles inside the simulator (a GPI clock), not in a Python coroutine:
        # Python runs only while the testbench has something to do. ``EIE_CLOCK_IMPL=py``
        # brings the coroutine back (bench.verilator_steps measures the difference).
        Clock(dut.clk, CLOCK_NS, unit="ns", impl=os.environ.get("EIE_CLOCK_IMPL", "gpi")).start()
        self.transport: CocotbTransport | None = None
        self.driver = None

    async def reset(self, *, seed: int, idle: float, backpressure: float, cycles: int = 4):
        """``rst`` high for ``cycles``, then a fresh transport and driver; returns when the
        device is ready."""
        from host.driver import EIEDriver

        if self.transport is not None:
            self.transport.stop()
        self.dut.rst.value = 1
        ports = stream_ports(self.dut)
        ports["rx_valid"].value = 0
        ports["tx_ready"].value = 0
        await ClockCycles(self.dut.clk, cycles)
        self.dut.rst.value = 0
        self.transport = CocotbTransport(self.dut, self.dut.clk, idle=idle, backpressure=backpressure,
                                         seed=seed, period_ns=CLOCK_NS).start()
        self.driver = EIEDriver(self.transport, self.cfg)
        await self.driver.wait_ready()

    async def load(self, images, how: str):
        if how == "backdoor":
            from sim.tb.backdoor import load_images
            await self.driver.wait_ready()
            load_images(self.dut, images)
            self.driver.loaded(images)
            await ClockCycles(self.dut.clk, 2)
        else:
            await self.driver.load(images)

    @property
    def cycle(self) -> int:
        return self.transport.cycle


async def reset_during_run(tb: TB, rec: dict, images, x, n_layers: int, cycles: int):
    """Start a RUN of ``x``, reset the design while it computes (``rst`` high for ``cycles``)
    and load the images again: the case then runs as usual, so nothing it checks may depend
    on the interrupted RUN (case tag ``reset_during_run``: the cycles)."""
    from host import protocol as proto

    drv = tb.driver
    await drv.write_input(x)
    await drv.send_command(proto.cmd_run(n_layers, 0))
    for _ in range(10_000):
        await ClockCycles(tb.dut.clk, 1)
        if int(tb.dut.busy.value):
            break
    else:
        raise AssertionError("the RUN to interrupt never started")
    await ClockCycles(tb.dut.clk, 16 + rec["seed"] % 64)    # somewhere inside the first layer
    if not int(tb.dut.busy.value):
        raise AssertionError("the RUN to interrupt finished before the reset")
    tb.log.info(f"case {rec['name']}: reset for {cycles} cycle(s) during a RUN")
    await tb.reset(seed=rec["seed"], idle=rec["idle"], backpressure=rec["backpressure"], cycles=cycles)
    await tb.load(images, rec["load"])


async def run_case(tb: TB, rec: dict, strict_cycles: bool) -> dict:
    """Run one case record; return its result record."""
    log = tb.log
    cfg = EIEConfig.from_dict(rec["cfg"])
    t_start = time.monotonic()
    result = {k: rec[k] for k in ("name", "kind", "shape", "weight_density", "input_density", "load",
                                  "idle", "backpressure", "seed", "tags")}
    result.update(config_hash=cfg.hash, n_pe=cfg.n_pe, queue_depth=cfg.queue_depth,
                  entries_per_word=cfg.entries_per_word, z_bits=cfg.z_bits,
                  balance=bool(rec.get("balance")), status="error", error=None, vectors=0,
                  values_checked=0, mismatches=None, layers=[])
    sb = Scoreboard(log)
    try:
        images = read_images(rec["images"], cfg)
        program = images.program()
        golden = GoldenModel(program)
        model = _cycle_model(program)
        x_all = np.load(rec["inputs"])
        if x_all.ndim == 1:
            x_all = x_all[None, :]
        n_layers = len(program.layers)
        result["shape"] = [program.layers[0].in_len] + [e.out_len for e in program.layers]
        log.info(f"case {rec['name']}: {cfg.n_pe} PEs, q{cfg.queue_depth}, shape {result['shape']}, "
                 f"{len(x_all)} vector(s), load {rec['load']}, idle {rec['idle']}, "
                 f"backpressure {rec['backpressure']}, seed {rec['seed']}")
        await tb.reset(seed=rec["seed"], idle=rec["idle"], backpressure=rec["backpressure"])
        c0 = tb.cycle
        t0 = time.monotonic()
        await tb.load(images, rec["load"])
        result["load_seconds"] = round(time.monotonic() - t0, 3)
        result["load_cycles"] = tb.cycle - c0
        pulse = (rec.get("tags") or {}).get("reset_during_run")
        if pulse and len(x_all):
            await reset_during_run(tb, rec, images, x_all[0], n_layers, int(pulse))
        drv = tb.driver
        rtl_outputs = []
        if program.network is not None:      # a conv net: each patch is a RUN (sim.tb.network_case)
            from sim.tb.network_case import run_images
            rtl_outputs = await run_images(tb, program, golden, x_all, sb, result)
            x_all = x_all[:0]
        for v, x in enumerate(x_all):
            acts = golden.run_layers(x)                       # every layer's outputs
            ins = [np.asarray(x)] + acts[:-1]                 # every layer's inputs
            timing = model.timing(x) if model is not None else None
            predicted = [t.cycles for t in timing] if timing else [None] * n_layers
            bound = [lower_bound(cfg, program.layers[l], ins[l]) for l in range(n_layers)]
            tb.transport.timeout_cycles = 100_000 + 20 * int(sum(p or 0 for p in predicted)
                                                             + sum(bound) + len(x) * 4)
            # The scoreboard's expectations, in the order the monitor will deliver them: the
            # model's outputs in its order (a balanced encoding's positions undone by the
            # driver), the device's whole last act file when they differ, the layer before.
            sb.expect(f"v{v}/out", golden.run(x))
            if golden.output_positions is not None:
                sb.expect(f"v{v}/out_device", acts[-1])
            if n_layers >= 2:
                sb.expect(f"v{v}/hidden{n_layers - 2}", acts[-2])
            await drv.write_input(x)
            t_run, cpu_run = time.monotonic(), time.process_time()
            c_run = tb.cycle
            run_cycles = await drv.run(n_layers)
            result["run_seconds"] = result.get("run_seconds", 0.0) + time.monotonic() - t_run
            result["run_cpu_seconds"] = result.get("run_cpu_seconds", 0.0) + time.process_time() - cpu_run
            result["run_sim_cycles"] = result.get("run_sim_cycles", 0) + tb.cycle - c_run
            y = await drv.read_result(golden.out_len)
            rtl_outputs.append(np.asarray(y, np.int64))
            sb.observe(f"v{v}/out", y)
            if golden.output_positions is not None:
                sb.observe(f"v{v}/out_device", await drv.read_output(program.layers[-1].out_len))
            if n_layers >= 2:
                sb.observe(f"v{v}/hidden{n_layers - 2}",
                           await drv.read_act_file((n_layers - 1) % 2, program.layers[-2].out_len))
            ctr = await drv.counters()
            for l in range(n_layers):
                rtl = int(ctr.layer_cycles[l])
                row = {"vector": v, "layer": l, "rtl": rtl, "model": predicted[l], "bound": bound[l],
                       "nnz_in": int(np.count_nonzero(ins[l]))}
                result["layers"].append(row)
                sb.check(predicted[l] is None or rtl == predicted[l],
                         f"v{v} layer {l}: RTL {rtl} cycles, cycle model {predicted[l]}", "timing")
            sb.check(all(int(c) == 0 for c in ctr.layer_cycles[n_layers:]),
                     f"v{v}: layer cycles of layers not run are {list(ctr.layer_cycles[n_layers:])}")
            sb.check(int(run_cycles) == int(ctr.run_cycles) == sum(int(c) for c in ctr.layer_cycles[:n_layers]),
                     f"v{v}: RUN said {run_cycles} cycles, counters {ctr.run_cycles}, "
                     f"layers sum to {sum(ctr.layer_cycles[:n_layers])}")
            nnz = sum(int(np.count_nonzero(a)) for a in ins)
            sb.check(int(ctr.broadcasts) == nnz,
                     f"v{v}: {ctr.broadcasts} broadcasts, {nnz} non-zero inputs over the layers")
            busy = sum(column_entries(program.layers[l], np.flatnonzero(ins[l])).sum(axis=1)
                       for l in range(n_layers))
            bad = [k for k in range(cfg.n_pe) if int(ctr.busy[k]) != int(busy[k])]
            sb.check(not bad, f"v{v}: busy counters differ from the entries issued in PE(s) {bad[:8]}: "
                              + ", ".join(f"PE {k} {ctr.busy[k]} vs {busy[k]}" for k in bad[:4]))
            if timing:
                stall = sum(t.stall for t in timing)
                bad = [k for k in range(cfg.n_pe) if int(ctr.stall[k]) != int(stall[k])]
                sb.check(not bad, f"v{v}: stall counters differ from the cycle model in PE(s) {bad[:8]}: "
                                  + ", ".join(f"PE {k} {ctr.stall[k]} vs {stall[k]}" for k in bad[:4]), "timing")
            result["stall_total"] = result.get("stall_total", 0) + int(sum(int(c) for c in ctr.stall))
            result["vectors"] = v + 1
        await tb.transport.assert_quiet(32)       # nothing extra after the last response
        save = (rec.get("tags") or {}).get("save_outputs")
        if save:
            np.save(save, np.array(rtl_outputs, dtype=np.int64))
        sb.finish()
        result["values_checked"] = sb.values
        result["mismatches"] = len(sb.errors)
        result["first_difference"] = sb.first_difference
        if sb.passed:
            result["status"] = "pass"
        else:
            timing_only = all(k == "timing" for k in sb.kinds)
            result["status"] = "cycles" if timing_only and strict_cycles else "fail"
            if timing_only and not strict_cycles:
                result["status"] = "pass"
            result["error"] = "; ".join(sb.errors[:3]) + (f" (+{len(sb.errors) - 3} more)"
                                                          if len(sb.errors) > 3 else "")
    except Exception as e:
        log.error(traceback.format_exc())
        sb.finish()
        # A response that never comes is missing data and a wrong tlast a framing error (both
        # failures of the design); anything else is an error of the run (bad case, testbench
        # exception).
        result["status"] = "fail" if isinstance(e, (TransportTimeout, FramingError)) else "error"
        result["error"] = "; ".join([f"{type(e).__name__}: {e}"] + sb.errors[:2])
        result["values_checked"] = sb.values
        result["mismatches"] = len(sb.errors) + 1
    result["sim_cycles"] = tb.cycle if tb.transport else 0
    result["wall_seconds"] = round(time.monotonic() - t_start, 3)
    return result


@cocotb.test()
async def run_cases(dut):
    cases = json.loads(Path(os.environ["EIE_CASES"]).read_text())
    out = Path(os.environ["EIE_RESULTS"])
    strict = os.environ.get("EIE_STRICT_CYCLES", "1") != "0"
    cfg = EIEConfig.from_dict(cases[0]["cfg"])
    tb = TB(dut, cfg)
    failed = []
    for rec in cases:
        if EIEConfig.from_dict(rec["cfg"]) != cfg:
            raise ValueError(f"case {rec['name']} is for another config than this build")
        res = await run_case(tb, rec, strict)
        with open(out, "a") as f:
            f.write(json.dumps(res) + "\n")
        status = res["status"]
        dut._log.info(f"case {rec['name']}: {status.upper()}"
                      + (f": {res['error']}" if res["error"] else "")
                      + f" ({res['wall_seconds']} s)")
        if status != "pass":
            failed.append(f"{rec['name']} (seed {rec['seed']}): {res['error']}")
    if tb.transport is not None:
        tb.transport.stop()
    assert not failed, f"{len(failed)} of {len(cases)} case(s) failed:\n" + "\n".join(failed)


@cocotb.test()
async def load_paths_agree(dut):
    """Both load paths leave the same memory contents: a protocol load reads back through the
    backdoor exactly as the images hold it, and a backdoor load reads back over READ_MEM."""
    from host.protocol import Mem
    from sim.tb import backdoor

    cases = json.loads(Path(os.environ["EIE_CASES"]).read_text())
    cfg = EIEConfig.from_dict(cases[0]["cfg"])
    tb = TB(dut, cfg)
    for rec in cases:
        images = read_images(rec["images"], cfg)
        await tb.reset(seed=rec["seed"], idle=rec["idle"], backpressure=rec["backpressure"])
        await tb.load(images, "protocol")
        diffs = backdoor.read_back(dut, images)
        assert not diffs, f"{rec['name']}: protocol load differs from the images: {diffs[:5]}"
        await tb.reset(seed=rec["seed"], idle=rec["idle"], backpressure=rec["backpressure"])
        await tb.load(images, "backdoor")
        drv = tb.driver
        for k in range(cfg.n_pe):
            for mem, name in ((Mem.PTR, "ptr"), (Mem.SPMAT, "spmat"), (Mem.BIAS, "bias")):
                want = images.pe_memory(name, k)
                if len(want):
                    got = await drv.read_mem(mem, k, 0, len(want))
                    assert [int(v) for v in got] == [int(v) for v in want], \
                        f"{rec['name']}: PE {k} {name} read over the protocol differs after a backdoor load"
        for mem, name in ((Mem.CODEBOOK, "codebook"), (Mem.LAYERS, "layers")):
            want = images.global_memory(name)
            got = await drv.read_mem(mem, 0, 0, len(want))
            assert [int(v) for v in got] == [int(v) for v in want], \
                f"{rec['name']}: {name} read over the protocol differs after a backdoor load"
        dut._log.info(f"{rec['name']}: protocol and backdoor loads agree")
    tb.transport.stop()
