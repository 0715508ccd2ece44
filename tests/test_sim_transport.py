"""The cocotb transport and the build cache, on a small byte loopback (no EIE top needed).

Checks that `sim.cocotb_transport` moves every byte exactly once with and without random
idle cycles and backpressure, that it reports missing and extra bytes, and that
`sim.runner` builds once and reuses the build.
"""

import os

import pytest

from sim import runner

REASON = runner.verilator_missing()
pytestmark = [pytest.mark.verilator,
              pytest.mark.skipif(REASON is not None, reason=REASON or "")]


def _loopback_verilog(path):
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    from amaranth.hdl import Module, Signal
    from amaranth.back import verilog
    from amaranth.lib import stream, wiring, fifo
    from amaranth.lib.wiring import In, Out

    class Loopback(wiring.Component):
        host_rx: In(stream.Signature(8))
        host_tx: Out(stream.Signature(8))

        def elaborate(self, platform):
            m = Module()
            m.submodules.fifo = f = fifo.SyncFIFOBuffered(width=8, depth=4)
            lfsr = Signal(8, init=0xA5)
            m.d.sync += lfsr.eq((lfsr << 1) | (lfsr[7] ^ lfsr[5] ^ lfsr[4] ^ lfsr[3]))
            stall = lfsr[0] & lfsr[1] & lfsr[2]           # the design stalls 1 cycle in 8
            m.d.comb += [
                f.w_data.eq(self.host_rx.payload ^ 0x5A),
                f.w_en.eq(self.host_rx.valid & ~stall),
                self.host_rx.ready.eq(f.w_rdy & ~stall),
                self.host_tx.payload.eq(f.r_data),
                self.host_tx.valid.eq(f.r_rdy),
                f.r_en.eq(self.host_tx.ready),
            ]
            return m

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(verilog.convert(Loopback(), name="loopback", emit_src=False))
    return path


@pytest.fixture(scope="module")
def loopback_build():
    src = _loopback_verilog(runner.BUILD_ROOT / "verilog" / "loopback" / "loopback.v")
    return runner.build_from_verilog([src], "loopback", "loopback")


@pytest.mark.parametrize("idle,bp", [(0.0, 0.0), (0.3, 0.0), (0.0, 0.5), (0.4, 0.4)],
                         ids=["clean", "idle", "backpressure", "both"])
def test_loopback_every_byte_once(loopback_build, tmp_path, idle, bp):
    seed = int(os.environ.get("EIE_SEED", "12345"))
    print(f"seed={seed} (replay: EIE_SEED={seed} pytest -k test_loopback_every_byte_once)")
    loopback_build.test("sim.tb.test_loopback", test_dir=tmp_path, testcase="loopback_scoreboard",
                        env={"EIE_SEED": seed, "EIE_IDLE": idle, "EIE_BACKPRESSURE": bp})


def test_missing_and_extra_bytes_fail(loopback_build, tmp_path):
    loopback_build.test("sim.tb.test_loopback", test_dir=tmp_path, testcase="missing_and_extra_are_caught")


def test_build_is_cached(loopback_build):
    src = runner.BUILD_ROOT / "verilog" / "loopback" / "loopback.v"
    again = runner.build_from_verilog([src], "loopback", "loopback")
    assert again.build_dir == loopback_build.build_dir
    assert again.build_seconds == 0.0          # nothing was rebuilt
