"""hw.hoststream: the beat adapters move every byte once, in order, under random stalls; the
writer fills a response's last beat with zeros and marks it last, and no other beat."""

import os
import random

import pytest
from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

from eie.contract import from_beats, padded_bytes
from hw.hoststream import BeatReader, BeatWriter

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")


def _clocked(dut):
    """``dut`` with a sync domain even when it is only wires (one-byte beats)."""
    m = Module()
    m.domains.sync = ClockDomain()
    m.submodules.dut = dut
    return m


@pytest.mark.parametrize("beat", [1, 2, 4, 8])
def test_reader_hands_out_every_byte_in_order(beat):
    seed = 100 + beat
    print(f"seed={seed}")
    rng = random.Random(seed)
    data = bytes(rng.randrange(256) for _ in range(16 * beat))
    dut = BeatReader(beat)
    got = bytearray()

    async def host(ctx):
        for i in range(0, len(data), beat):
            while rng.random() < 0.3:                  # idle cycles
                await ctx.tick()
            ctx.set(dut.i.payload, int.from_bytes(data[i:i + beat], "little"))
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)

    async def engine(ctx):
        while len(got) < len(data):
            ctx.set(dut.want, rng.randrange(beat + 1))
            _, _, take, window = await ctx.tick().sample(dut.take, dut.data)
            got.extend(window.to_bytes(beat, "little")[:take])

    sim = Simulator(_clocked(dut))
    sim.add_clock(1e-8)
    sim.add_testbench(host)
    sim.add_testbench(engine)
    sim.run_until(1e-8 * 4000)
    assert bytes(got) == data


@pytest.mark.parametrize("beat", [1, 2, 4, 8])
def test_writer_pads_and_marks_the_last_beat(beat):
    seed = 200 + beat
    print(f"seed={seed}")
    rng = random.Random(seed)
    responses = [bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 3 * beat + 2))) for _ in range(12)]
    dut = BeatWriter(beat)
    beats = []

    async def engine(ctx):
        for r in responses:
            for i, b in enumerate(r):
                while rng.random() < 0.2:
                    await ctx.tick()
                ctx.set(dut.i.payload, {"byte": b, "last": int(i == len(r) - 1)})
                ctx.set(dut.i.valid, 1)
                await ctx.tick().until(dut.i.ready)
                ctx.set(dut.i.valid, 0)

    async def host(ctx):
        want = sum(padded_bytes(len(r), beat) for r in responses) // beat
        while len(beats) < want:
            ready = rng.random() >= 0.3                # backpressure
            ctx.set(dut.o.ready, ready)
            _, _, valid, payload, last = await ctx.tick().sample(dut.o.valid, dut.o.payload, dut.o_last)
            if valid and ready:
                beats.append((payload, last))

    sim = Simulator(_clocked(dut))
    sim.add_clock(1e-8)
    sim.add_testbench(engine)
    sim.add_testbench(host)
    sim.run_until(1e-8 * 8000)
    expected = b"".join(r + bytes(padded_bytes(len(r), beat) - len(r)) for r in responses)
    assert from_beats([b for b, _ in beats], beat) == expected
    ends, pos = set(), 0
    for r in responses:
        pos += padded_bytes(len(r), beat) // beat
        ends.add(pos - 1)
    assert [i for i, (_, last) in enumerate(beats) if last] == sorted(ends)
