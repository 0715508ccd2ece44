"""What a sweep found: the best point, the Pareto front, JSON and Markdown.

The best point at a PE count is the one with the lowest geometric mean of cycles over the
layers (equivalently of cycles over EIE's reported cycles, when the layers are EIE's);
among equal ones, the one with the fewest SRAM bits. The reference is EIE's own format at
the same PE count: the source config's run-length width, queue depth and word packing,
rows interleaved. The Pareto front is over every point: SRAM bits against the geometric
mean of cycles, no other point both smaller and faster.
"""

from __future__ import annotations

import math

import numpy as np

from .sweep import Grid, Point

__all__ = ["best_point", "reference_point", "pareto", "to_json", "markdown"]


def _geo(p: Point) -> float:
    return p.geomean("cycles")


def best_point(points: list[Point], n_pe: int) -> Point | None:
    at = [p for p in points if p.cfg.n_pe == n_pe]
    return min(at, key=lambda p: (round(_geo(p), 6), p.summary()["sram_bits"])) if at else None


def reference_point(points: list[Point], n_pe: int, base) -> Point | None:
    """EIE's format at ``n_pe`` PEs: the base config's widths and depth, plain rows."""
    for p in points:
        c = p.cfg
        if (c.n_pe, c.queue_depth, c.z_bits, c.entries_per_word, p.encoding) == \
                (n_pe, base.queue_depth, base.z_bits, base.entries_per_word, "plain"):
            return p
    return None


def pareto(points: list[Point]) -> list[Point]:
    """Points no other point beats on both SRAM bits and geometric-mean cycles."""
    order = sorted(points, key=lambda p: (p.summary()["sram_bits"], _geo(p)))
    front, best = [], math.inf
    for p in order:
        g = _geo(p)
        if g < best:
            front.append(p)
            best = g
    return front


def _point_json(p: Point) -> dict:
    s = p.summary()
    s["geomean_cycles"] = _geo(p)
    s["layers"] = p.layers
    return s


def to_json(source, grid: Grid, points: list[Point], best_pes: int, seconds: dict) -> dict:
    best = best_point(points, best_pes)
    ref = reference_point(points, best_pes, source.cfg)
    front = pareto(points)
    summary = {
        "source": source.name, "notes": source.notes, "chained": source.chained,
        "layers": [l.name for l in source.layers],
        "base_config": source.cfg.to_dict(), "base_config_hash": source.cfg.hash,
        "grid": {"pes": list(grid.pes), "depths": list(grid.depths), "z_bits": list(grid.z_bits),
                 "entries_per_word": list(grid.entries_per_word), "encodings": list(grid.encodings),
                 "shape": list(grid.shape), "points": len(points)},
        "seconds": seconds, "best_pes": best_pes,
        "best": _point_json(best) if best else None,
        "reference": _point_json(ref) if ref else None,
        "pareto": [{**p.summary(), "geomean_cycles": _geo(p)} for p in front],
    }
    if best and ref:
        summary["best_over_reference"] = {
            "geomean_cycles": _geo(best) / _geo(ref),
            "sram_bits": best.summary()["sram_bits"] / ref.summary()["sram_bits"]}
    return {"summary": summary, "points": [_point_json(p) for p in points]}


def _cfg_text(s: dict) -> str:
    return (f"{s['n_pe']} PEs, queue depth {s['queue_depth']}, {s['z_bits']}-bit run lengths "
            f"({s['entry_bits']}-bit entries, {s['entries_per_word']} per {s['word_bits']}-bit word), "
            f"{s['encoding']} rows")


def _mbit(bits) -> str:
    return f"{bits / 1e6:.2f}"


def _header(s: dict) -> list[str]:
    g, sec = s["grid"], s["seconds"]
    return [f"# Design-space exploration: {s['source']}", "",
            f"{g['points']} points: PEs {g['pes']} x queue depths {g['depths']} x run-length bits "
            f"{g['z_bits']} x entries per word {g['entries_per_word']} x encodings {g['encodings']}, "
            f"on the cycle model (exact for the RTL), {len(s['layers'])} layers. "
            + " ".join(n[0].upper() + n[1:].rstrip(".") + "." for n in s["notes"]),
            "", f"Time: {sec['total']:.1f} s ("
            + ", ".join(f"{k} {v:.1f} s" for k, v in sec.items() if k not in ("total", "cpu"))
            + (f"; {sec['cpu']:.1f} s of CPU time" if "cpu" in sec else "") + ")"
            + (f", load average {s['machine']['load_average_start']} at the start on "
               f"{s['machine']['cpus']} CPUs." if s.get("machine") else ".")]


def _best_section(s: dict) -> list[str]:
    best, ref = s["best"], s["reference"]
    lines = ["", f"## Best at {s['best_pes']} PEs", "",
             f"**{_cfg_text(best)}** (config {best['config_hash']}): geometric mean "
             f"{best['geomean_cycles']:.0f} cycles per layer"
             + (f", **{best['geomean_ratio_to_eie']:.3f}x EIE's reported cycles**"
                if best.get("geomean_ratio_to_eie") else "")
             + f"; SRAM {_mbit(best['sram_bits'])} Mbit (sparse matrices, pointers and queues)."]
    if not ref:
        return lines
    r = s["best_over_reference"]
    eie = all(b.get("ratio_to_eie") for b in best["layers"])
    lines += [f"EIE's format at {s['best_pes']} PEs ({_cfg_text(ref)}): {ref['geomean_cycles']:.0f} cycles"
              + (f", {ref['geomean_ratio_to_eie']:.3f}x EIE" if ref.get("geomean_ratio_to_eie") else "")
              + f", {_mbit(ref['sram_bits'])} Mbit. Best / EIE's format: cycles {r['geomean_cycles']:.3f}x, "
              f"SRAM {r['sram_bits']:.3f}x.", "",
              "| layer | cycles (EIE format) | cycles (best) | " + ("best / EIE actual | " if eie else "")
              + "imbalance (EIE format) | imbalance (best) | padding (EIE format) | padding (best) | "
              "SRAM Mbit (EIE format) | SRAM Mbit (best) |",
              "|---|---|---|" + ("---|" if eie else "") + "---|---|---|---|---|---|"]
    for a, b in zip(ref["layers"], best["layers"]):
        lines.append(f"| {a['layer']} | {a['cycles']} | {b['cycles']} | "
                     + (f"{b['ratio_to_eie']:.3f} | " if eie else "")
                     + f"{a['imbalance']:.3f} | {b['imbalance']:.3f} | {a['padding_total']} | "
                     f"{b['padding_total']} | {_mbit(a['sram_bits'])} | {_mbit(b['sram_bits'])} |")
    return lines + ["", "Imbalance: busiest PE's entries in the broadcast columns over the mean. SRAM per "
                    "layer: every PE holds the busiest PE's sparse-matrix words and its in_len + 1 pointers."]


def _points_table(data: dict) -> list[str]:
    s = data["summary"]
    at = sorted((p for p in data["points"] if p["n_pe"] == s["best_pes"]), key=lambda p: p["geomean_cycles"])
    eie = bool(at) and all(p.get("geomean_ratio_to_eie") for p in at)
    lines = ["", f"## Every point at {s['best_pes']} PEs, fastest first", "",
             "| depth | z bits | entries/word | encoding | geomean cycles | " + ("geomean / EIE | " if eie else "")
             + "utilisation | max imbalance | SRAM Mbit |",
             "|---|---|---|---|---|---|---|---|" + ("---|" if eie else "")]
    for p in at:
        lines.append(f"| {p['queue_depth']} | {p['z_bits']} | {p['entries_per_word']} | {p['encoding']} | "
                     f"{p['geomean_cycles']:.0f} | " + (f"{p['geomean_ratio_to_eie']:.3f} | " if eie else "")
                     + f"{100 * p['utilisation']:.1f} % | {p['max_imbalance']:.3f} | {_mbit(p['sram_bits'])} |")
    return lines


def markdown(data: dict, plots: list[str]) -> str:
    s = data["summary"]
    lines = _header(s) + (_best_section(s) if s["best"] else []) + _points_table(data)
    lines += ["", "## Pareto front (SRAM bits against geometric-mean cycles, every PE count)", "",
              "| config | SRAM Mbit | geomean cycles |", "|---|---|---|"]
    for p in s["pareto"]:
        lines.append(f"| {_cfg_text(p)} | {_mbit(p['sram_bits'])} | {p['geomean_cycles']:.0f} |")
    if plots:
        lines += ["", "## Plots", ""] + [f"![{name}]({name})" for name in plots]
    return "\n".join(lines) + "\n"
