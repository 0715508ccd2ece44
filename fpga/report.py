"""Build reports: the tools' logs parsed, utilisation summed up, the report as JSON and Markdown.

`parse_nextpnr_log` reads Fmax per clock, cell use and critical paths from nextpnr's log
(``top.tim``); `parse_yosys_log`, `module_cells` and `module_instances` read Yosys' ``stat``
(the whole design, or per module and how often each is instantiated); `summarize_utilisation` maps the families' cell names onto LUT / FF / block
RAM / SPRAM / DSP. `attempt_result` gathers one place-and-route attempt, `build_report` the
whole build, and `write_report` writes ``report.json`` and ``report.md`` (`render_markdown`).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

__all__ = ["parse_nextpnr_log", "parse_yosys_log", "module_cells", "module_instances", "summarize_utilisation",
           "attempt_result", "failure_message", "build_report", "write_report", "render_markdown"]


# ---- log parsing ---------------------------------------------------------------------------

_FMAX = re.compile(r"Max frequency for clock\s+'([^']+)':\s*([\d.]+)\s*MHz\s*\((PASS|FAIL) at ([\d.]+) MHz\)")
_UTIL = re.compile(r"^Info:\s+(\S+):\s+(\d+)/\s*(\d+)\s+\d+%")
_PATH = re.compile(r"Info: Critical path report for (clock '[^']+'|cross-domain path .*):?")


def parse_nextpnr_log(text: str) -> dict:
    """Fmax per clock (the last, post-route figures), cell use and the critical paths.

    Returns ``{"fmax": {clock: {"mhz", "target_mhz", "pass"}}, "cells": {type: [used,
    total]}, "critical_paths": [lines of the last report per clock], "errors": [...]}``.
    """
    fmax = {}
    for clock, mhz, verdict, target in _FMAX.findall(text):
        fmax[clock] = {"mhz": float(mhz), "target_mhz": float(target), "pass": verdict == "PASS"}
    lines = text.splitlines()
    errors = [line for line in lines if line.startswith("ERROR:")]
    return {"fmax": fmax, "cells": _utilisation(lines), "critical_paths": _critical_paths(lines),
            "errors": errors}


def _utilisation(lines) -> dict:
    """The last "Device utilisation" block: cell type -> [used, total]."""
    cells = {}
    for i, line in enumerate(lines):
        if line.startswith("Info: Device utilisation:"):
            cells = {}
            for follow in lines[i + 1:]:
                m = _UTIL.match(follow)
                if not m:
                    break
                cells[m.group(1)] = [int(m.group(2)), int(m.group(3))]
    return cells


def _critical_paths(lines) -> dict:
    """The last "Critical path report for clock" block of each clock (post-route)."""
    paths = {}
    for i, line in enumerate(lines):
        m = _PATH.match(line)
        if m:
            block = []
            for follow in lines[i + 1:]:
                if not follow.strip():
                    break
                block.append(follow[6:] if follow.startswith("Info: ") else follow)
            paths[m.group(1)] = block
    return paths


def _cell_counts(block: str) -> dict:
    """``count  cell`` lines of one ``stat`` block. Cell types are SB_*, TRELLIS_*, DP16KD,
    $scopeinfo ...; "wires", "cells" and module names are skipped."""
    cells = {}
    for m in re.finditer(r"^\s+(\d+)\s+(\$?[A-Za-z_][\w$]*)\s*$", block, re.M):
        name = m.group(2)
        if name[0].isupper() or name.startswith("$"):
            cells[name] = cells.get(name, 0) + int(m.group(1))
    return cells


def parse_yosys_log(text: str) -> dict:
    """Cell counts of the top module after synthesis (the last ``stat`` in the log)."""
    blocks = text.split("=== design hierarchy ===")
    return _cell_counts(blocks[-1] if len(blocks) > 1 else text.rsplit("=== top ===", 1)[-1])


def _module_blocks(stat: str) -> dict:
    parts = re.split(r"^=== (.+?) ===$", stat, flags=re.M)
    return {name: body for name, body in zip(parts[1::2], parts[2::2]) if name != "design hierarchy"}


def module_cells(stat: str) -> dict:
    """Cell counts of every module of a ``stat`` report (``-noflatten`` synthesis), each
    module counted once however often it is instantiated (`module_instances`)."""
    return {name: _cell_counts(body) for name, body in _module_blocks(stat).items()}


def module_instances(stat: str) -> dict:
    """How many times each module of a ``-noflatten`` ``stat`` report is in the design: a
    module that nothing instantiates (the top) once, a submodule as often as its parents
    hold it (a PE module instantiated 16 times, and each of its submodules, 16)."""
    blocks = _module_blocks(stat)
    children = {name: [(m.group(2), int(m.group(1)))
                       for m in re.finditer(r"^\s+(\d+)\s+(\S+)\s*$", body, re.M) if m.group(2) in blocks]
                for name, body in blocks.items()}
    count = dict.fromkeys(blocks, 0)

    def visit(name, times):
        count[name] += times
        for child, n in children[name]:
            visit(child, times * n)

    inside = {child for kids in children.values() for child, _ in kids}
    for name in blocks:
        if name not in inside:
            visit(name, 1)
    return count


def summarize_utilisation(family: str, cells: dict, yosys_cells: dict) -> dict:
    """Map the tools' cell names onto LUT / FF / BRAM / SPRAM / DSP: name -> [used, total]."""
    out = {}
    if family == "ice40":
        lc = cells.get("ICESTORM_LC")
        if lc:
            out["LUT"] = lc                          # logic cells: LUT4 + FF + carry
        ffs = sum(n for c, n in yosys_cells.items() if c.startswith("SB_DFF"))
        out["FF"] = [ffs, lc[1] if lc else 5280]
        for key, name in (("BRAM", "ICESTORM_RAM"), ("SPRAM", "ICESTORM_SPRAM"), ("DSP", "ICESTORM_DSP")):
            if cells.get(name):
                out[key] = cells[name]
    else:
        for key, name in (("LUT", "TRELLIS_COMB"), ("FF", "TRELLIS_FF"), ("BRAM", "DP16KD"),
                          ("DSP", "MULT18X18D"), ("LUTRAM", "TRELLIS_RAMW")):
            if cells.get(name):
                out[key] = cells[name]
    return out


# ---- one attempt, the whole build ----------------------------------------------------------

def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def attempt_result(board, build_dir: Path, top, requested: float, seconds: float, rc: int) -> dict:
    """One place-and-route attempt of ``top`` (an `fpga.top.BoardTop`) from its logs in
    ``build_dir``: clock, Fmax and nextpnr's verdict, utilisation, critical path, errors."""
    rpt = _read(build_dir / "top.rpt")
    pnr = parse_nextpnr_log(_read(build_dir / "top.tim"))
    ys = parse_yosys_log(rpt)
    # The sync clock is the one with the highest target: the oscillator's own constraint
    # (12/25/48 MHz) also appears when a PLL multiplies it.
    clocks = sorted(pnr["fmax"].items(), key=lambda kv: -kv[1]["target_mhz"])
    sync_clock = clocks[0] if clocks else None
    fmax = sync_clock[1]["mhz"] if sync_clock else 0.0
    crit = []
    if sync_clock:
        crit = pnr["critical_paths"].get(f"clock '{sync_clock[0]}'", [])
    return {
        "requested_mhz": requested / 1e6,
        "f_sync_mhz": top.f_sync / 1e6,
        "pll": _pll_dict(top.clock.pll),
        "fmax_mhz": fmax,
        # nextpnr's own verdict, against the target it derived through the PLL.
        "timing_met": bool(sync_clock and sync_clock[1]["pass"]),
        "clocks": dict(clocks),
        "utilisation": summarize_utilisation(board.family, pnr["cells"], ys),
        "cells": pnr["cells"],
        "yosys_cells": ys,
        "critical_path": crit,
        "errors": pnr["errors"] + [l for l in rpt.splitlines() if l.startswith("ERROR")],
        "seconds": round(seconds, 1),
        "returncode": rc,
        "baud": top.baud,
        "divisor": top.divisor,
    }


def _pll_dict(pll):
    if pll is None:
        return None
    return {k: (round(v / 1e6, 6) if k.startswith("f_") else v) for k, v in asdict(pll).items()}


def failure_message(board, attempt: dict, build_dir: Path, kept: Path) -> str:
    """Why an attempt failed, in one line: what does not fit, the first errors, where the
    logs are (``kept``)."""
    log = _read(build_dir / "build.log")
    errors = attempt["errors"] or [l for l in log.splitlines() if "ERROR" in l or "error" in l.lower()][-5:]
    over = [f"{k} {u}/{t}" for k, (u, t) in attempt["cells"].items() if u > t]
    msg = f"{board.name} build failed"
    if over:
        msg += f": does not fit ({', '.join(over)})"
    if errors:
        msg += ": " + " | ".join(e.strip() for e in errors[:3])
    return msg + f" (logs kept in {kept})"


def build_report(board, cfg, attempts: list, products: dict, baked, boot, seconds: float) -> dict:
    """The report of a build whose last attempt counts: board, config, clock, UART, utilisation,
    peak GOP/s, critical path, every attempt, the products (bitstream and its hash, DFU file)."""
    final = attempts[-1]
    f = final["f_sync_mhz"] * 1e6
    return {
        "board": board.name,
        "description": board.description,
        "device": board.device,
        "family": board.family,
        "n_pe": cfg.n_pe,
        "config": cfg.to_dict(),
        "config_hash": cfg.hash,
        "clock": {
            "oscillator_mhz": board.clk_freq / 1e6,
            "requested_mhz": final["requested_mhz"],
            "pll_mhz": final["f_sync_mhz"],
            "pll": final["pll"],
            "fmax_mhz": final["fmax_mhz"],
            "timing_met": final["timing_met"],
        },
        "uart": {"baud": final["baud"], "divisor": final["divisor"],
                 "actual_baud": round(f / final["divisor"])},
        "utilisation": final["utilisation"],
        "cells": final["cells"],
        "peak_gops": 2 * cfg.n_pe * f / 1e9,
        "peak_gops_at_fmax": 2 * cfg.n_pe * final["fmax_mhz"] * 1e6 / 1e9,
        "critical_path": final["critical_path"],
        "baked_model": None if baked is None else {"folder": str(baked.folder), "boot_bytes": len(boot)},
        "attempts": [{k: a[k] for k in ("requested_mhz", "f_sync_mhz", "fmax_mhz", "timing_met", "seconds")}
                     for a in attempts],
        "build_seconds": round(seconds, 1),
        **products,
    }


# ---- report writing ------------------------------------------------------------------------

def write_report(report: dict, folder: Path):
    """``report.json`` and ``report.md`` in ``folder``."""
    folder = Path(folder)
    (folder / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (folder / "report.md").write_text(render_markdown(report))


def render_markdown(r: dict) -> str:
    """The report as Markdown: summary, utilisation, the modeled figures, attempts, critical path."""
    lines = _summary_lines(r) + _utilisation_lines(r["utilisation"])
    if r.get("model"):
        lines += _model_lines(r["model"])
    if len(r["attempts"]) > 1:
        lines += _attempt_lines(r["attempts"])
    if r["critical_path"]:
        lines += _critical_path_lines(r["critical_path"])
    lines.append("")
    return "\n".join(lines)


def _summary_lines(r: dict) -> list[str]:
    c = r["clock"]
    baked = r["baked_model"]
    return [
        f"# FPGA build: {r['board']} ({r['device']})",
        "",
        f"{r['description']}.",
        "",
        "| | |",
        "|---|---|",
        f"| PEs | {r['n_pe']} (config `{r['config_hash']}`) |",
        (f"| clock | PLL {c['pll_mhz']:.3f} MHz from a {c['oscillator_mhz']:g} MHz oscillator "
         f"(requested {c['requested_mhz']:g} MHz) |" if c["pll"] else
         f"| clock | the {c['oscillator_mhz']:g} MHz oscillator, no PLL (requested {c['requested_mhz']:g} MHz) |"),
        f"| Fmax (nextpnr) | {c['fmax_mhz']:.2f} MHz: timing {'met' if c['timing_met'] else '**not met**'} |",
        f"| UART | {r['uart']['baud']} baud requested, divisor {r['uart']['divisor']} "
        f"({r['uart']['actual_baud']} baud) |",
        f"| peak | {r['peak_gops']:.3f} GOP/s at the clock (2 x {r['n_pe']} PEs x f); "
        f"{r['peak_gops_at_fmax']:.3f} at Fmax |",
        f"| bitstream | `{r['bitstream']}` (sha256 {r['bitstream_sha256'][:16]}...)"
        + (f", `{r['dfu']}` for dfu-util" if r.get("dfu") else "") + " |",
        f"| baked model | {baked['folder'] + ' (' + str(baked['boot_bytes']) + ' bytes of commands)' if baked else 'none (models load over the UART)'} |",
        f"| build time | {r['build_seconds']:.0f} s |",
    ]


def _utilisation_lines(utilisation: dict) -> list[str]:
    lines = ["", "## Utilisation", "", "| resource | used | available | % |", "|---|---|---|---|"]
    for key, (used, total) in utilisation.items():
        lines.append(f"| {key} | {used} | {total} | {100 * used / total:.0f} |")
    return lines


def _model_lines(m: dict) -> list[str]:
    lines = ["", "## Compressed model", "", f"Images: `{m.get('folder')}`; layers "
             + ", ".join(f"{l['name']} {l['in']}x{l['out']}" for l in m["layers"]) + "."]
    if "inputs" in m:
        lines.append(f"Inputs: {m['inputs']}; {m['useful_macs_per_input']:.0f} useful MACs per input "
                     f"(non-zero weight x non-zero activation) of {m['dense_macs_per_input']:.0f} dense.")
    if "gops" in m:
        lines += ["", "| | |", "|---|---|",
                  f"| cycles per input (cycle model) | {m['cycles_per_input']:.0f} |",
                  f"| time per input | {m['us_per_input']:.1f} us ({m['inputs_per_second']:.0f} inputs/s) |",
                  f"| modeled | {m['gops']:.3f} GOP/s on the compressed model "
                  f"({m['dense_equivalent_gops']:.2f} dense-equivalent) |",
                  f"| PE utilisation | {100 * m['pe_utilisation']:.0f} % of peak |"]
    if m.get("note"):
        lines += ["", f"Note: {m['note']}."]
    return lines


def _attempt_lines(attempts: list) -> list[str]:
    lines = ["", "## Attempts", "", "| requested MHz | PLL MHz | Fmax MHz | met | s |", "|---|---|---|---|---|"]
    for a in attempts:
        lines.append(f"| {a['requested_mhz']:.2f} | {a['f_sync_mhz']:.3f} | {a['fmax_mhz']:.2f} | "
                     f"{'yes' if a['timing_met'] else 'no'} | {a['seconds']:.0f} |")
    return lines


def _shorten(line: str, keep: int = 90) -> str:
    """Yosys names nets after whole chains of cells; keep the start (where in the design)."""
    return re.sub(r"(\S{%d})\S{12,}" % keep, r"\1...", line)


def _critical_path_lines(critical_path: list) -> list[str]:
    path = [_shorten(l) for l in critical_path if "Defined in" not in l and not l.strip().startswith("/")]
    return ["", "## Critical path (nextpnr)", "", "```"] + path[:60] + (["..."] if len(path) > 60 else []) + ["```"]
