"""Two builds of one config in lockstep, compared cycle by cycle: proof that a refactor of
``hw/`` changed nothing a host could see.

``python -m sim.lockstep --config tiny --reference OLD.v [--cases N] [--frames N] [--seed S]``
builds a Verilator model of a ``pair`` top: the reference Verilog (for example the output
of ``eie verilog`` on an earlier commit, its modules renamed here so both fit in one
design) and today's design, on the same clock, reset and host inputs. The cocotb test
`sim.tb.test_lockstep` runs the sweep's cases for the config through today's design
(checked against the golden and cycle models) and random frames, and fails in any cycle
where the two designs' host streams or ``busy`` differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eie.config import get_config
from hw.netlist import design_verilog, top_name

from . import regression, runner

__all__ = ["pair_sources", "run_lockstep", "main"]

PAIR = "pair"


def pair_sources(cfg, reference: Path, folder: Path) -> list[Path]:
    """The reference Verilog (renamed ``ref_<hash>``), today's, and the ``pair`` top."""
    top = top_name(cfg)
    ref_top = f"ref_{cfg.hash}"
    folder.mkdir(parents=True, exist_ok=True)
    ports = ".host_rx__valid(host_rx__valid), .host_rx__payload(host_rx__payload), .host_tx__ready(host_tx__ready)"
    pair = f"""// {PAIR}: reference and design under test in lockstep (sim/lockstep.py)
module {PAIR}(input clk, input rst, input host_rx__valid, input [7:0] host_rx__payload, input host_tx__ready,
              output host_rx__ready, output [7:0] host_tx__payload, output host_tx__valid, output busy,
              output mismatch);
  wire r_rx_ready, r_tx_valid, r_busy;
  wire [7:0] r_tx_payload;
  {ref_top} reference(.clk(clk), .rst(rst), {ports}, .host_rx__ready(r_rx_ready),
      .host_tx__payload(r_tx_payload), .host_tx__valid(r_tx_valid), .busy(r_busy));
  {top} dut(.clk(clk), .rst(rst), {ports}, .host_rx__ready(host_rx__ready),
      .host_tx__payload(host_tx__payload), .host_tx__valid(host_tx__valid), .busy(busy));
  assign mismatch = (r_rx_ready != host_rx__ready) | (r_tx_valid != host_tx__valid)
                  | (r_tx_valid & (r_tx_payload != host_tx__payload)) | (r_busy != busy);
endmodule
"""
    files = {"reference.v": Path(reference).read_text().replace(top, ref_top),
             "dut.v": design_verilog(cfg), "pair.v": pair}
    for name, text in files.items():
        (folder / name).write_text(text)
    return [folder / name for name in files]


def run_lockstep(cfg, reference: Path, folder: Path, *, n_cases: int = 1000, frames: int = 1000,
                 seed: int = 1) -> int:
    """Build and run the lockstep test; returns the number of cases run (raises on a difference)."""
    build = runner.build_from_verilog(pair_sources(cfg, reference, folder / "src"), PAIR,
                                      f"lockstep-{cfg.hash}", cfg=cfg)
    cases = regression.cases_for_config(cfg, seed)[:n_cases]
    recs = []
    for c in cases:
        c.load = "protocol"
        recs.append(c.materialise(folder / "cases" / c.name.replace("/", "_")))
    (folder / "cases.json").write_text(json.dumps(recs))
    print(f"lockstep: {len(recs)} cases and {frames} random frames (seed {seed}) on config {cfg.hash}")
    build.test("sim.tb.test_lockstep", test_dir=folder / "run", log_file=folder / "run.log",
               env={"EIE_CASES": folder / "cases.json", "EIE_FRAMES": frames, "EIE_SEED": seed})
    return len(recs)   # build.test raised if any cycle differed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m sim.lockstep", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="tiny", help="preset or config JSON (default tiny)")
    p.add_argument("--reference", required=True, help="reference Verilog of the same config (eie verilog output)")
    p.add_argument("--out", default="build/lockstep", help="work folder (default build/lockstep)")
    p.add_argument("--cases", type=int, default=1000, help="at most this many sweep cases (default: all)")
    p.add_argument("--frames", type=int, default=1000, help="random frames after the cases (default 1000)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    cfg = get_config(args.config)
    n = run_lockstep(cfg, Path(args.reference), Path(args.out) / cfg.hash, n_cases=args.cases,
                     frames=args.frames, seed=args.seed)
    print(f"lockstep: {n} cases and {args.frames} frames, no cycle differed ({Path(args.out) / cfg.hash / 'run.log'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
