"""Two builds of one config in lockstep, compared cycle by cycle: proof that a refactor of
``hw/`` changed nothing a host could see.

``python -m sim.lockstep --config tiny --reference OLD.v [--cases N] [--frames N] [--seed S]``
builds a Verilator model of a ``pair`` top: the reference Verilog (for example the output
of ``eie verilog`` on an earlier commit, its modules renamed here so both fit in one
design) and today's design, on the same clock, reset and host inputs. The reference may
predate the AXI4-Stream port names (its ``host_rx__payload`` ... are mapped), and may come
from a config of another hash (a new config field); its host stream must be as wide. The cocotb test
`sim.tb.test_lockstep` runs the sweep's cases for the config through today's design
(checked against the golden and cycle models) and random frames, and fails in any cycle
where the two designs' host streams or ``busy`` differ.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from eie.config import get_config
from hw.netlist import design_verilog, top_name
from hw.ports import VERILOG_PORTS

from . import regression, runner

__all__ = ["pair_sources", "run_lockstep", "main"]

PAIR = "pair"


def _stream_names(verilog: str, top: str) -> dict:
    """The stream ports of ``top`` under today's names: the same name, the flattened Amaranth
    name Verilog used before the AXI4-Stream names (``host_rx__payload`` ...), or None."""
    ports = set(runner.top_ports(verilog, top))
    return {new: new if new in ports else old if old in ports else None
            for old, new in VERILOG_PORTS.items()}


def pair_sources(cfg, reference: Path, folder: Path) -> list[Path]:
    """The reference Verilog (its modules renamed ``ref_<hash>``), today's, and the ``pair``
    top, whose ports are today's top's."""
    top = top_name(cfg)
    ref_text = Path(reference).read_text()
    mo = re.search(r"^module (eie_[0-9a-f]{12})\(", ref_text, re.M)
    if mo is None:
        raise ValueError(f"{reference} holds no eie_<hash> top module")
    ref_top = f"ref_{mo.group(1)[4:]}"
    ref_text = ref_text.replace(mo.group(1), ref_top)
    ref = _stream_names(ref_text, ref_top)
    w = cfg.host_bits
    folder.mkdir(parents=True, exist_ok=True)
    inputs = ["s_axis_tvalid", "s_axis_tdata", "m_axis_tready"] + (["s_axis_tlast"] if ref["s_axis_tlast"] else [])
    ref_in = ", ".join(f".{ref[p]}({p})" for p in inputs)
    dut_in = ", ".join(f".{p}({p})" for p in inputs + ([] if ref["s_axis_tlast"] else ["s_axis_tlast"]))
    has_last = ref["m_axis_tlast"] is not None
    ref_last = f", .{ref['m_axis_tlast']}(r_tx_last)" if has_last else ""
    pair = f"""// {PAIR}: reference and design under test in lockstep (sim/lockstep.py)
module {PAIR}(input clk, input rst, input s_axis_tvalid, input [{w - 1}:0] s_axis_tdata, input s_axis_tlast,
              input m_axis_tready, output s_axis_tready, output [{w - 1}:0] m_axis_tdata, output m_axis_tvalid,
              output m_axis_tlast, output busy, output mismatch);
  wire r_rx_ready, r_tx_valid, r_busy, r_tx_last;
  wire [{w - 1}:0] r_tx_payload;
  {ref_top} reference(.clk(clk), .rst(rst), {ref_in}, .{ref['s_axis_tready']}(r_rx_ready),
      .{ref['m_axis_tdata']}(r_tx_payload), .{ref['m_axis_tvalid']}(r_tx_valid){ref_last}, .busy(r_busy));
  {top} dut(.clk(clk), .rst(rst), {dut_in}, .s_axis_tready(s_axis_tready),
      .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tlast(m_axis_tlast), .busy(busy));
  assign mismatch = (r_rx_ready != s_axis_tready) | (r_tx_valid != m_axis_tvalid)
                  | (r_tx_valid & (r_tx_payload != m_axis_tdata)){" | (r_tx_valid & (r_tx_last != m_axis_tlast))" if has_last else ""}
                  | (r_busy != busy);
endmodule
"""
    files = {"reference.v": ref_text, "dut.v": design_verilog(cfg), "pair.v": pair}
    for name, text in files.items():
        (folder / name).write_text(text)
    return [folder / name for name in files]


def run_lockstep(cfg, reference: Path, folder: Path, *, n_cases: int = 1000, frames: int = 1000,
                 seed: int = 1) -> int:
    """Build and run the lockstep test; returns the number of cases run (raises on a difference)."""
    sources = pair_sources(cfg, reference, folder / "src")
    control = runner.control_file({PAIR: runner.top_ports(sources[-1].read_text(), PAIR)})
    build = runner.build_from_verilog(sources, PAIR, f"lockstep-{cfg.hash}", cfg=cfg, control=control)
    # INFO answers with the config hash: a reference of another hash (a config field added
    # since) differs there and nowhere else, so its random frames leave INFO out.
    ref_hash = re.search(r"^module ref_([0-9a-f]{12})\(", sources[0].read_text(), re.M).group(1)
    skip_info = ref_hash != cfg.hash
    cases = regression.cases_for_config(cfg, seed)[:n_cases]
    recs = []
    for c in cases:
        c.load = "protocol"
        recs.append(c.materialise(folder / "cases" / c.name.replace("/", "_")))
    (folder / "cases.json").write_text(json.dumps(recs))
    print(f"lockstep: {len(recs)} cases and {frames} random frames (seed {seed}) on config {cfg.hash}"
          + (f" (reference config {ref_hash}: no INFO frames)" if skip_info else ""))
    build.test("sim.tb.test_lockstep", test_dir=folder / "run", log_file=folder / "run.log",
               env={"EIE_CASES": folder / "cases.json", "EIE_FRAMES": frames, "EIE_SEED": seed,
                    "EIE_SKIP_INFO": int(skip_info)})
    return len(recs)


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
