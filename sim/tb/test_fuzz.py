"""cocotb test: a fuzzed command stream into the top's host port (`sim.fuzz`), checked byte
for byte against `sim.fuzz_model.DeviceModel`.

Reads ``EIE_FUZZ`` (JSON: ``cfg``, ``seed``, ``frames``, ``idle``, ``backpressure``,
``results``). After reset it sends the plan's chunks one at a time, reads the reply bytes
each one completes and compares them (bytes the model cannot know are skipped); the
transport's watchdog fails a hang. At the end it reads every memory back over the protocol,
then compares every memory copy in the design (each PE's, the codebook's too) with the
model's shadow through the backdoor, and checks that nothing else came out. The first
difference stops the run (the stream may be out of step after it); the result record says
where, and the seed replays it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb

from eie.config import EIEConfig
from sim.fuzz import FuzzPlan, readback_chunks
from sim.tb.fuzz_checks import backdoor_diffs, first_difference
from sim.tb.test_top import TB


@cocotb.test()
async def fuzz(dut):
    spec = json.loads(Path(os.environ["EIE_FUZZ"]).read_text())
    cfg = EIEConfig.from_dict(spec["cfg"])
    seed, frames = int(spec["seed"]), int(spec["frames"])
    result = {"seed": seed, "frames_asked": frames, "config_hash": cfg.hash, "idle": spec["idle"],
              "backpressure": spec["backpressure"], "status": "error", "error": None}
    t0 = time.monotonic()
    tb = TB(dut, cfg)
    await tb.reset(seed=seed, idle=spec["idle"], backpressure=spec["backpressure"])
    tr = tb.transport
    tr.timeout_cycles = int(spec.get("timeout_cycles", 200_000))
    plan = FuzzPlan(cfg, seed, frames)
    n_chunks = 0
    try:
        for stage, chunks in (("fuzz", plan.chunks()), ("readback", readback_chunks(plan))):
            for chunk in chunks:
                await tr.write(chunk.data)
                got = await tr.read(len(chunk.expect))
                at = first_difference(chunk.expect, got)
                if at is not None:
                    raise AssertionError(
                        f"{stage} chunk {n_chunks} ({chunk.kind}, {len(chunk.data)} bytes sent: "
                        f"{chunk.data[:24].hex()}{'...' if len(chunk.data) > 24 else ''}): reply byte {at} "
                        f"is {got[at:at + 8].hex()}, model {[e for e in chunk.expect[at:at + 8]]}")
                n_chunks += 1
        await tr.assert_quiet(64)
        diffs = backdoor_diffs(dut, plan.model)
        assert not diffs, "memories differ from the model: " + "; ".join(diffs[:5])
        result["status"] = "pass"
    except AssertionError as e:
        result["status"], result["error"] = "fail", str(e)
    except Exception as e:                      # the testbench itself: say what broke
        result["status"], result["error"] = "error", f"{type(e).__name__}: {e}"
        raise
    finally:
        result.update(frames=plan.model.frames, chunks=n_chunks, bytes_sent=tr.bytes_sent,
                      bytes_received=tr.bytes_received, cycles=tr.cycle, statuses=plan.model.statuses,
                      episodes=plan.episodes, wall_seconds=round(time.monotonic() - t0, 1))
        Path(spec["results"]).write_text(json.dumps(result, indent=1) + "\n")
        tr.stop()
    assert result["status"] == "pass", f"seed {seed}: {result['error']}"
