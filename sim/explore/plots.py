"""The sweep's figures (matplotlib, PNG): scaling with the PE count, load imbalance per
layer, SRAM bits against cycles with the Pareto front.

* ``scaling.png``: cycles (log) and PE utilisation against the PE count for every layer,
  EIE's format (solid) next to the best point's depth, widths and encoding (dashed), as
  EIE's scaling figure does;
* ``imbalance.png``: per layer, the busiest PE's entries in the broadcast columns over the
  mean, for EIE's format, the best width with plain rows and the best point;
* ``pareto.png``: every point's SRAM bits against its geometric-mean cycles, coloured by
  PE count, the front joined.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_plots"]


def _lookup(points, n_pe, depth, z, epw, enc):
    for p in points:
        if (p["n_pe"], p["queue_depth"], p["z_bits"], p["entries_per_word"], p["encoding"]) == (n_pe, depth, z, epw, enc):
            return p
    return None


def _series(data, like):
    """The points with ``like``'s fields at every PE count of the grid."""
    pes = data["summary"]["grid"]["pes"]
    pts = [_lookup(data["points"], n, like["queue_depth"], like["z_bits"], like["entries_per_word"],
                   like["encoding"]) for n in pes]
    return [n for n, p in zip(pes, pts) if p], [p for p in pts if p]


def _label(p) -> str:
    return f"{p['encoding']}, {p['z_bits']}-bit z, depth {p['queue_depth']}"


def _scaling(plt, data, folder: Path) -> str:
    s = data["summary"]
    ref, best = s["reference"], s["best"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.2))
    colors = plt.get_cmap("tab10")
    for style, like in (("-", ref), ("--", best)):
        if like is None:
            continue
        pes, pts = _series(data, like)
        for i, name in enumerate(s["layers"]):
            cyc = [p["layers"][i]["cycles"] for p in pts]
            util = [100 * p["layers"][i]["utilisation"] for p in pts]
            label = name if style == "-" else None
            ax1.plot(pes, cyc, style, marker="o", ms=3, color=colors(i % 10), label=label)
            ax2.plot(pes, util, style, marker="o", ms=3, color=colors(i % 10), label=label)
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_xticks(s["grid"]["pes"], [str(n) for n in s["grid"]["pes"]])
        ax.set_xlabel("PEs")
        ax.grid(True, which="both", alpha=0.3)
    ax1.set_yscale("log")
    ax1.set_ylabel("cycles per layer")
    ax1.set_title("Cycles against PE count")
    ax2.set_ylabel("PE utilisation (% of PE-cycles doing a real MAC)")
    ax2.set_ylim(0, 100)
    ax2.set_title("PE utilisation against PE count")
    ax2.legend(title="layer", fontsize=8, loc="lower left")
    from matplotlib.lines import Line2D
    styles = [Line2D([], [], color="k", ls="-", label=f"EIE's format ({_label(ref)})")] if ref else []
    if best:
        styles.append(Line2D([], [], color="k", ls="--", label=f"best at {s['best_pes']} PEs ({_label(best)})"))
    ax1.legend(handles=styles, fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(folder / "scaling.png", dpi=110)
    plt.close(fig)
    return "scaling.png"


def _imbalance(plt, data, folder: Path) -> str:
    import numpy as np
    s = data["summary"]
    ref, best = s["reference"], s["best"]
    bars = [("EIE's format: " + _label(ref), ref)]
    plain = _lookup(data["points"], best["n_pe"], best["queue_depth"], best["z_bits"],
                    best["entries_per_word"], "plain")
    if plain and best["encoding"] != "plain":
        bars.append(("plain rows: " + _label(plain), plain))
    bars.append(("best: " + _label(best), best))
    x = np.arange(len(s["layers"]))
    width = 0.8 / len(bars)
    fig, ax = plt.subplots(figsize=(11, 4.8))
    for k, (label, p) in enumerate(bars):
        ax.bar(x + (k - (len(bars) - 1) / 2) * width, [l["imbalance"] for l in p["layers"]], width, label=label)
    ax.set_xticks(x, s["layers"], rotation=20)
    ax.axhline(1.0, color="k", lw=0.8)
    lo = min(l["imbalance"] for _, p in bars for l in p["layers"])
    ax.set_ylim(min(0.99, lo - 0.01), None)
    ax.set_ylabel("busiest PE / mean PE (entries in broadcast columns)")
    ax.set_title(f"Load imbalance per layer at {s['best_pes']} PEs")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(folder / "imbalance.png", dpi=110)
    plt.close(fig)
    return "imbalance.png"


def _pareto(plt, data, folder: Path) -> str:
    s = data["summary"]
    fig, ax = plt.subplots(figsize=(9, 6))
    pes = s["grid"]["pes"]
    cmap = plt.get_cmap("viridis")
    markers = {"plain": "o", "balanced": "^"}
    for i, n in enumerate(pes):
        for enc, m in markers.items():
            pts = [p for p in data["points"] if p["n_pe"] == n and p["encoding"] == enc]
            if pts:
                ax.scatter([p["sram_bits"] / 1e6 for p in pts], [p["geomean_cycles"] for p in pts],
                           marker=m, color=cmap(i / max(1, len(pes) - 1)), s=28, alpha=0.85,
                           label=f"{n} PEs, {enc}")
    front = sorted(s["pareto"], key=lambda p: p["sram_bits"])
    ax.step([p["sram_bits"] / 1e6 for p in front], [p["geomean_cycles"] for p in front], where="post",
            color="crimson", lw=1.5, label="Pareto front")
    for name, p in (("EIE's format", s["reference"]), ("best", s["best"])):
        if p:
            ax.annotate(f"{name} ({p['n_pe']} PEs)", (p["sram_bits"] / 1e6, p["geomean_cycles"]),
                        xytext=(8, 8), textcoords="offset points", fontsize=8,
                        arrowprops={"arrowstyle": "-", "lw": 0.6})
    ax.set_xlabel("SRAM (Mbit: sparse matrices, pointers, activation queues)")
    ax.set_ylabel("geometric mean of cycles per layer")
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:.0f}" if str(int(v))[0] in "2468" else ""))
    ax.set_title("SRAM against cycles")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(folder / "pareto.png", dpi=110)
    plt.close(fig)
    return "pareto.png"


def write_plots(data: dict, folder: Path) -> list[str]:
    """Write the figures into ``folder``; return their file names."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    out = []
    if data["summary"]["best"] and data["summary"]["reference"]:
        out += [_scaling(plt, data, folder), _imbalance(plt, data, folder)]
    out.append(_pareto(plt, data, folder))
    return out
