"""Formal proofs (SymbiYosys): the short jobs of `sim.formal.jobs` pass, and a wrong design or
a wrong property fails (the proofs are not vacuous). `make formal` runs every job."""

import shutil

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.back import rtlil

from eie.config import PRESETS
from eie.tools import ToolError, tool_path
from sim.formal.jobs import CONFIGS, quick_jobs, run_job
from sim.formal.sby import run_sby
from sim.formal.structural import check_stream_independence
from sim.formal import harness as H
from sim.formal import scan as S
from hw.netlist import to_rtlil


def _missing():
    try:
        tool_path("yowasp-sby")
        tool_path("yices-smt2")
    except ToolError as e:
        return str(e)
    return None


REASON = _missing()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


@pytest.mark.parametrize("job", quick_jobs(), ids=lambda j: j.name)
def test_quick_proof(job, tmp_path):
    rec = run_job(job, tmp_path)
    print(rec)
    assert rec["status"] == "PASS", rec


class HighestLanePicker(wiring.Component):
    """A wrong lane picker with `hw.lanepick.LanePicker`'s ports: the *highest* set lane wins."""

    def __init__(self, cfg):
        self._cfg = cfg
        super().__init__({"mask": In(cfg.n_pe), "base": In(cfg.len_bits + 1), "valid": Out(1),
                          "onehot": Out(cfg.n_pe), "index": Out(cfg.len_bits)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.valid.eq(self.mask != 0)
        for k in range(self._cfg.n_pe):
            with m.If(self.mask[k]):
                m.d.comb += [self.onehot.eq(1 << k), self.index.eq(self.base + k)]
        return m


def test_wrong_picker_fails(tmp_path):
    h = S.LanePickHarness(PRESETS["tiny"], [1, 3, 4], picker=HighestLanePicker)
    res = run_sby("bad-pick", tmp_path, {"h.il": rtlil.convert(h, name="harness")}, "harness", "prove", 1)
    assert res.status == "FAIL" and any("onehot is not the lowest set lane" in f for f in res.failed), res


def test_scanner_with_wrong_picker_fails(tmp_path, monkeypatch):
    """The scanner built with the highest-lane picker offers a row's lanes downwards: the
    sequential proof finds it from reset (the second offer of a row, step 7 on tiny)."""
    import hw.scanner
    monkeypatch.setattr(hw.scanner, "LanePicker", HighestLanePicker)
    text = to_rtlil(S.ScanHarness(CONFIGS["tiny"]), "harness")
    res = run_sby("bad-scan", tmp_path, {"h.il": text}, "harness", "bmc", 12)
    assert res.status == "FAIL" and any("out of index order" in f for f in res.failed), res


def test_wrong_property_fails(tmp_path):
    """The queue property with a depth one less than the queues have must not be proved: the
    induction step finds the state that breaks it (reaching it from reset takes the 32-cycle
    reset sweep and a RUN, deeper than this test's base case)."""
    cfg = CONFIGS["tiny"]
    from hw.top import EIETop
    from sim.formal.expose import exposed_rtlil
    top = EIETop(cfg)
    text = exposed_rtlil(top, "dut", H.queue_wires(cfg))
    h = H.DesignHarness(cfg.replace(queue_depth=cfg.queue_depth - 1), top.signature, "dut", text,
                        exposed=H.queue_wires(cfg), groups=["queue"])
    res = run_sby("bad-queue", tmp_path, {"dut.il": text, "h.il": rtlil.convert(h, name="harness")},
                  "harness", "prove", 2)
    assert res.status in ("FAIL", "UNKNOWN") and any("queue level above its depth" in f for f in res.failed), res


class ReadyToValid(wiring.Component):
    """A one-byte buffer whose output valid waits for ready: breaks the stream rule."""

    i: In(stream.Signature(8))
    o: Out(stream.Signature(8))

    def elaborate(self, platform):
        m = Module()
        full = Signal()
        m.d.comb += [self.i.ready.eq(~full), self.o.valid.eq(full & self.o.ready)]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [self.o.payload.eq(self.i.payload), full.eq(1)]
        with m.If(self.o.valid):
            m.d.sync += full.eq(0)
        return m


def test_valid_depending_on_ready_fails(tmp_path):
    rec = check_stream_independence(ReadyToValid(), stream="o", workdir=tmp_path)
    assert rec["status"] == "FAIL" and "o__valid" in rec["error"], rec
