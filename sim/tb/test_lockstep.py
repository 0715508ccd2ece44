"""cocotb testbench of two builds of one config in lockstep (`sim.lockstep`).

The toplevel ``pair`` holds a reference design and the design under test, fed the same
inputs; its ``mismatch`` output is high in any cycle where their host streams or ``busy``
differ. The test runs regression cases through the design under test (`sim.tb.test_top`'s
checks against the golden and cycle models), then random and malformed frames whose
replies must match `host.protocol.expected_status`, and fails if ``mismatch`` was ever
high. ``EIE_CASES`` lists the cases, ``EIE_FRAMES`` the random frames, ``EIE_SEED`` seeds
them; ``EIE_SKIP_INFO=1`` leaves INFO out (a reference of another config hash).
"""

import json
import os
import random
from pathlib import Path

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from eie.config import EIEConfig
from host import protocol as proto
from sim.tb.test_top import TB, run_case


def random_frame(rng: random.Random, cfg: EIEConfig, info: bool = True) -> bytes:
    """A command frame, valid or not, of any opcode (NOP included; INFO unless not ``info``)."""
    op = rng.choice([0, 1, 2, 3, 3, 3, 4, 4, 5, 6, 7, 8, 9, 200] if info else [0, 2, 3, 3, 3, 4, 4, 5, 6, 7, 8, 9, 200])
    if op == 0:
        return bytes([0])
    if op in (proto.Op.WRITE_MEM, proto.Op.READ_MEM):
        body = proto.pack_args(op, mem=rng.randrange(8), pe=rng.choice([0, 1, cfg.n_pe - 1, cfg.n_pe, 0xFFFF]),
                               addr=rng.choice([0, 1, rng.randrange(1 << 16), 0xFFFFFFFF]), count=rng.randrange(4))
        body += bytes(rng.randrange(256) for _ in range(rng.choice([0, rng.randrange(24)])))
    elif op in (proto.Op.WRITE_ACT, proto.Op.READ_ACT):
        body = proto.pack_args(op, addr=rng.randrange(cfg.max_len + 4), count=rng.randrange(5))
        body += bytes(rng.randrange(256) for _ in range(rng.choice([0, 2, 4, 8, rng.randrange(12)])))
    elif op == proto.Op.RUN:
        body = bytes([rng.randrange(cfg.max_layers + 2)]) if rng.random() < 0.9 else b""
    else:
        body = bytes(rng.randrange(256) for _ in range(rng.choice([0, 0, 1, rng.randrange(10)])))
    return proto.frame(op, body)


@cocotb.test()
async def lockstep(dut):
    cases = json.loads(Path(os.environ["EIE_CASES"]).read_text())
    cfg = EIEConfig.from_dict(cases[0]["cfg"])
    tb = TB(dut, cfg)
    mismatches, cycles = [], [0]

    async def watch():
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            cycles[0] += 1
            if int(dut.rst.value) == 0 and int(dut.mismatch.value):
                mismatches.append(cycles[0])

    cocotb.start_soon(watch())
    for rec in cases:
        res = await run_case(tb, rec, True)
        assert res["status"] == "pass", f"{rec['name']}: {res['error']}"
    seed = int(os.environ.get("EIE_SEED", "1"))
    rng = random.Random(seed)
    await tb.reset(seed=seed, idle=0.3, backpressure=0.3)
    n_frames = int(os.environ.get("EIE_FRAMES", "1000"))
    for i in range(n_frames):
        frame = random_frame(rng, cfg, info=os.environ.get("EIE_SKIP_INFO", "0") == "0")
        await tb.driver.send_command(frame)
        if frame[0] == proto.Op.NOP:
            continue
        status = (await tb.driver.read_response()).status
        want = proto.expected_status(cfg, frame)
        assert status == want, f"frame {i} (seed {seed}) {frame.hex()}: status {status}, expected {want}"
    dut._log.info(f"{len(cases)} cases and {n_frames} random frames (seed {seed}): {cycles[0]} cycles "
                  f"compared, {len(mismatches)} differed")
    assert cycles[0] > 0 and not mismatches, f"the designs differ in cycles {mismatches[:10]}"
