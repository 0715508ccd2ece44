"""CCU host protocol in Amaranth's simulator: every malformed command gets its documented
error (host.protocol.expected_status) with the body consumed, and the next command still
works; every memory reads back what was written; NOPs, broadcast writes, STATUS, INFO; with
the 8-bit and the 32-bit host port (the transport checks tlast on every beat)."""

import os

import numpy as np
import pytest
from amaranth.sim import Simulator

from eie.config import PRESETS
from eie.contract import memory_table
from host import protocol as proto
from host.protocol import Mem, Op, Status
from hw.layouts import COUNTERS_MEM
from hw.top import EIETop
from sim.amaranth_transport import AmaranthTransport
from host.driver import EIEDriver

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")

CFG = PRESETS["tiny"]


def mem_args(mem, pe, addr, count):
    return proto.pack_args(Op.WRITE_MEM, mem=int(mem), pe=pe, addr=addr, count=count)


def malformed(cfg):
    t = memory_table(cfg)
    nb_sp = t[Mem.SPMAT].nbytes
    w1 = bytes(nb_sp)
    cmds = [
        ("unknown opcode", proto.frame(0x09, b"\x01\x02\x03\x04\x05")),
        ("unknown opcode 0xff", proto.frame(0xFF, b"")),
        ("INFO with a body", proto.frame(Op.INFO, b"\x00")),
        ("STATUS with a body", proto.frame(Op.STATUS, b"abc")),
        ("COUNTERS with a body", proto.frame(Op.READ_COUNTERS, b"\x00\x00")),
        ("WRITE_MEM short args", proto.frame(Op.WRITE_MEM, b"\x01\x00\x00\x00")),
        ("WRITE_MEM bad mem", proto.frame(Op.WRITE_MEM, mem_args(7, 0, 0, 1) + w1)),
        ("READ_MEM bad mem", proto.frame(Op.READ_MEM, mem_args(200, 0, 0, 1))),
        # The PE bus's id of the performance counters is not a memory the host may name.
        ("READ_MEM the counters' bus id", proto.frame(Op.READ_MEM, mem_args(COUNTERS_MEM, 0, 0, 1))),
        ("WRITE_MEM PE out of range", proto.frame(Op.WRITE_MEM, mem_args(Mem.SPMAT, cfg.n_pe, 0, 1) + w1)),
        ("WRITE_MEM PE 0xfffe", proto.frame(Op.WRITE_MEM, mem_args(Mem.BIAS, 0xFFFE, 0, 1) + b"\0\0")),
        ("READ_MEM broadcast PE", proto.frame(Op.READ_MEM, mem_args(Mem.PTR, 0xFFFF, 0, 1))),
        ("WRITE_MEM count 0", proto.frame(Op.WRITE_MEM, mem_args(Mem.SPMAT, 0, 0, 0))),
        ("WRITE_MEM too few bytes", proto.frame(Op.WRITE_MEM, mem_args(Mem.SPMAT, 0, 0, 2) + w1)),
        ("WRITE_MEM too many bytes", proto.frame(Op.WRITE_MEM, mem_args(Mem.SPMAT, 0, 0, 1) + w1 + b"\0")),
        ("WRITE_MEM past the end", proto.frame(Op.WRITE_MEM, mem_args(Mem.SPMAT, 1, cfg.spmat_depth - 1, 2) + w1 + w1)),
        ("WRITE_MEM addr 2**32-1", proto.frame(Op.WRITE_MEM, mem_args(Mem.LAYERS, 0, 0xFFFFFFFF, 1) + bytes(t[Mem.LAYERS].nbytes))),
        ("READ_MEM reply too long", proto.frame(Op.READ_MEM, mem_args(Mem.SPMAT, 0, 0, 65535 // nb_sp + 1))),
        ("READ_MEM long args", proto.frame(Op.READ_MEM, mem_args(Mem.PTR, 0, 0, 1) + b"\0")),
        ("READ_MEM past the end", proto.frame(Op.READ_MEM, mem_args(Mem.CODEBOOK, 0, cfg.max_layers * 16, 1))),
        ("WRITE_ACT count 0", proto.frame(Op.WRITE_ACT, (0).to_bytes(4, "little") + (0).to_bytes(2, "little"))),
        ("WRITE_ACT wrong length", proto.frame(Op.WRITE_ACT, (0).to_bytes(4, "little") + (3).to_bytes(2, "little") + b"\0" * 4)),
        ("WRITE_ACT past the end", proto.frame(Op.WRITE_ACT, (cfg.max_len - 1).to_bytes(4, "little") + (2).to_bytes(2, "little") + b"\0" * 4)),
        ("READ_ACT reply too long", proto.frame(Op.READ_ACT, (0).to_bytes(4, "little") + (40000).to_bytes(2, "little"))),
        ("READ_ACT past the end", proto.frame(Op.READ_ACT, (cfg.max_len).to_bytes(4, "little") + (1).to_bytes(2, "little"))),
        ("READ_ACT short", proto.frame(Op.READ_ACT, b"\0\0")),
        ("RUN no body", proto.frame(Op.RUN, b"")),
        ("RUN long body", proto.frame(Op.RUN, b"\x01\x00\x00")),
        ("RUN short body", proto.frame(Op.RUN, b"\x01")),
        ("RUN 0 layers", proto.cmd_run(0)),
        ("RUN too many layers", proto.cmd_run(cfg.max_layers + 1)),
        ("RUN first past the table", proto.cmd_run(1, cfg.max_layers)),
        ("RUN first + n past the table", proto.cmd_run(2, cfg.max_layers - 1)),
    ]
    return cmds


@pytest.mark.parametrize("host_bits", [8, 32])
def test_malformed_commands_and_recovery(host_bits):
    cfg = CFG.replace(host_bits=host_bits)
    cmds = malformed(cfg)
    dut = EIETop(cfg)
    seen = []

    async def bench(ctx):
        tr = AmaranthTransport(ctx, dut, timeout_cycles=5000)
        drv = EIEDriver(tr, cfg)
        for name, cmd in cmds:
            want = proto.expected_status(cfg, cmd)
            assert want != Status.OK, name
            resp = await drv.command(cmd)
            seen.append((name, resp.status, want))
            assert (resp.status, resp.op, resp.body) == (want, cmd[0], b""), name
            await drv.send_command(proto.cmd_nop() * 3)   # NOPs: no response
            info = await drv.check_info()            # the stream is still in step
            assert info.n_pe == cfg.n_pe

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    # Every error code is exercised.
    assert {int(s) for _, s, _ in seen} == {int(s) for s in Status if s != Status.OK}


# 3 and 6 PEs: the activation index is split by a multiply by a constant (hw/constdiv.py),
# in the compact and the registered build.
@pytest.mark.parametrize("host_bits, n_pe", [(8, 4), (32, 4), (8, 3), (8, 6)])
def test_memories_read_back(host_bits, n_pe):
    cfg = CFG.replace(host_bits=host_bits, n_pe=n_pe)
    seed = 31
    print("seed", seed)
    rng = np.random.default_rng(seed)
    table = memory_table(cfg)
    writes = []
    for mem, info in table.items():
        count = min(info.depth, 6)
        addr = int(rng.integers(0, info.depth - count + 1))
        words = rng.integers(0, 1 << min(info.width, 62), count, dtype=np.int64)
        pe = int(rng.integers(0, cfg.n_pe)) if info.per_pe else proto.BROADCAST
        writes.append((mem, pe, addr, words))
    dut = EIETop(cfg)

    async def bench(ctx):
        drv = EIEDriver(AmaranthTransport(ctx, dut, timeout_cycles=5000), cfg)
        st = await drv.status()             # within act_depth cycles of reset: still sweeping
        assert st.out_sel == 0 and st.last_layers == 0
        for mem, pe, addr, words in writes:
            await drv.write_mem(mem, pe, addr, words)
        for mem, pe, addr, words in writes:
            got = await drv.read_mem(mem, 0 if pe == proto.BROADCAST else pe, addr, len(words))
            np.testing.assert_array_equal(got, words, err_msg=mem.name)
        # Broadcast write reaches every PE; the codebook's per-PE copies all get written.
        await drv.write_mem(Mem.BIAS, proto.BROADCAST, 3, [111, 222])
        for k in range(cfg.n_pe):
            np.testing.assert_array_equal(await drv.read_mem(Mem.BIAS, k, 3, 2), [111, 222])
        # Activations by global index land in slot i // N of PE i % N.
        x = rng.integers(-1000, 1000, 11)
        await drv.write_input(x, addr=5)
        np.testing.assert_array_equal(await drv.read_output(11, addr=5), x)
        for i in (5, 6, 15):
            raw = await drv.read_mem(Mem.ACT0, i % cfg.n_pe, i // cfg.n_pe, 1)
            assert int(raw[0]) == int(x[i - 5]) & 0xFFFF
        assert (await drv.status()).ready
        cnt = await drv.counters()
        assert cnt.cycle > 0 and cnt.run_cycles == 0

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
