"""Protocol fuzzing through the board core's UART pins (`fpga.tb.test_fuzz_uart`): random and
malformed frames with framing errors and breaks between them, then a byte lost inside a
frame and the documented resynchronisation; every reply and every memory checked against
`sim.fuzz_model`. About 1.5 minutes of simulation (65538 bytes of resynchronisation at
four clock cycles per bit): marked slow, `make fuzz` and `make regression` run it. Prints its
seed; replay with ``EIE_SEED=<seed>``."""

import json
import os

import pytest

from eie.config import PRESETS
from sim import runner

REASON = runner.verilator_missing()
pytestmark = [pytest.mark.verilator, pytest.mark.skipif(REASON is not None, reason=REASON or "")]


@pytest.mark.slow
def test_uart_fuzz_with_line_errors(tmp_path):
    try:
        from test_fpga_board_sim import board_build     # pytest puts tests/ on sys.path
    except ImportError:
        from tests.test_fpga_board_sim import board_build
    cfg = PRESETS["tiny"]
    seed = int(os.environ.get("EIE_SEED", 11))
    frames = int(os.environ.get("EIE_UART_FRAMES", 150))
    print(f"seed={seed} frames={frames} (replay: EIE_SEED={seed} pytest tests/test_fpga_fuzz.py)")
    build = board_build(cfg, divisor=4)
    spec = {"cfg": cfg.to_dict(), "seed": seed, "frames": frames, "divisor": 4,
            "results": str(tmp_path / "result.json")}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    try:
        build.test("fpga.tb.test_fuzz_uart", test_dir=tmp_path, env={"EIE_BOARD_FUZZ": tmp_path / "spec.json"},
                   log_file=tmp_path / "sim.log")
    finally:
        res = tmp_path / "result.json"
        result = json.loads(res.read_text()) if res.exists() else {"status": "no result"}
        print(result)
    assert result["status"] == "pass", f"seed {seed}: {result.get('error')} (log {tmp_path / 'sim.log'})"
    assert result["framing_errors"] + result["breaks"] > 0 and result["fuzzed_frames"] >= frames
