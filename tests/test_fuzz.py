"""Protocol fuzzing: the device model (`sim.fuzz_model`) on its own, and a short fuzz run of the
RTL on Verilator (`make fuzz` runs the quick set, `make regression` 100,000 frames).

Every run prints its seed; replay with ``python -m sim.fuzz --config tiny --seed N --frames M
--idle 0.3 --backpressure 0.3`` (the command is printed too)."""

import os

import pytest

from eie.config import PRESETS
from eie.contract import Mem, Op, Status
from host import protocol as proto
from sim import runner
from sim.fuzz import FuzzPlan
from sim.fuzz_model import DeviceModel, UnmodelledRun

TINY = PRESETS["tiny"]


def seed_for(default: int) -> int:
    return int(os.environ.get("EIE_SEED", default))


def test_model_answers_like_expected_status():
    m = DeviceModel(TINY)
    for frame in (proto.cmd_info(), proto.frame(0x42, b"xy"), proto.cmd_run(0),
                  proto.cmd_read_mem(TINY, Mem.BIAS, 7, 0, 1), proto.cmd_read_act(TINY, TINY.max_len, 1)):
        reply = m.feed(frame)
        assert reply[0] == proto.expected_status(TINY, frame) and reply[1] == frame[0]


def test_model_shadows_writes_and_ignores_rejected_ones():
    m = DeviceModel(TINY)
    m.feed(proto.cmd_write_mem(TINY, Mem.SPMAT, proto.BROADCAST, 5, [0xDEADBEEF, 7]))
    # Rejected: a PE past the array; must change nothing.
    bad = proto.frame(Op.WRITE_MEM, proto.pack_args(Op.WRITE_MEM, mem=Mem.SPMAT, pe=9, addr=5, count=1) + bytes(4))
    assert m.feed(bad)[0] == Status.ERR_PE
    reply = m.feed(proto.cmd_read_mem(TINY, Mem.SPMAT, 3, 4, 3))
    assert reply[:4] == list(proto.response_bytes(Status.OK, Op.READ_MEM, bytes(12)))[:4]
    assert reply[4:8] == [None] * 4 and bytes(reply[8:16]) == (0xDEADBEEF).to_bytes(4, "little") + bytes([7, 0, 0, 0])


def test_model_follows_truncated_frames_and_nops():
    m = DeviceModel(TINY)
    assert m.feed(b"\x00\x00") == [] and m.frames == 2          # NOPs between frames
    assert m.feed(b"\x01\x02") == [] and m.pending == 1           # INFO, half a length
    assert m.feed(b"\x00") == [] and m.pending == 2               # len 2: two body bytes owed
    assert m.dry_run(b"\x00\x00")[0] == 0
    reply = m.feed(b"\x00\x00")                                   # the NOP bytes are body now
    assert reply == list(proto.response_bytes(Status.ERR_LENGTH, Op.INFO))


def test_model_refuses_an_unarmed_run():
    with pytest.raises(UnmodelledRun):
        DeviceModel(TINY).feed(proto.cmd_run(1))


def test_plan_is_a_function_of_the_seed():
    a = [c.data for c in FuzzPlan(TINY, 5, 300).chunks()]
    b = [c.data for c in FuzzPlan(TINY, 5, 300).chunks()]
    assert a == b and sum(map(len, a)) > 1000


REASON = runner.verilator_missing()


@pytest.mark.verilator
@pytest.mark.skipif(REASON is not None, reason=REASON or "")
def test_fuzz_tiny_stressed(tmp_path):
    from sim.fuzz_run import Batch, run_set

    batch = Batch("tiny", seed_for(3), 600, idle=0.3, backpressure=0.3)
    print(f"seed={batch.seed} replay: {batch.replay}")
    rec = run_set([batch], tmp_path, jobs=1)[0]
    print(rec)
    assert rec["status"] == "pass", f"{rec['error']} (replay: {rec['replay']})"
    assert rec["frames"] >= 600 and set(rec["statuses"]) >= {"OK", "ERR_LENGTH", "ERR_OPCODE", "ERR_ADDR"}
