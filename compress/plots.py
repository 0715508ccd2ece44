"""Weight-distribution plots like the paper's Figs. 4-5 (matplotlib, Agg, PNG).

``sensitivity.png`` (automatic densities only): validation accuracy against density with
each layer pruned alone, the budget line and the chosen densities.

One figure per layer, ``weights_<layer>.png``, three panels:

1. the dense weights before pruning;
2. the surviving weights after pruning (and retraining): the gap around zero;
3. after quantization: the surviving weights before sharing (grey), their cumulative
   distribution, the initial centroids (red crosses) and the final shared values
   (blue dots; entry 0, the pruned weight, is not drawn).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

__all__ = ["plot_weights", "plot_sensitivity"]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def plot_weights(result, folder: str | Path) -> list[Path]:
    """Write one PNG per layer into ``folder``; return the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for dense, pruned, codes in zip(result.dense, result.pruned, result.codes):
        w0 = np.asarray(dense.weight, np.float64).ravel()
        alive = np.asarray(pruned, np.float64).ravel()
        alive = alive[alive != 0]
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), constrained_layout=True)
        lo, hi = (w0.min(), w0.max()) if w0.size else (-1, 1)
        span = max(abs(lo), abs(hi), np.abs(alive).max() if alive.size else 0) * 1.05 or 1.0
        bins = np.linspace(-span, span, 121)

        ax = axes[0]
        ax.hist(w0, bins=bins, color="tab:green")
        ax.set_title(f"{dense.name}: before pruning ({w0.size:,} weights)")
        ax.set_xlabel("weight value")
        ax.set_ylabel("count")

        ax = axes[1]
        ax.hist(alive, bins=bins, color="tab:orange")
        ax.set_title(f"after pruning ({alive.size:,} kept, {100 * alive.size / max(w0.size, 1):.1f} %)")
        ax.set_xlabel("weight value")

        ax = axes[2]
        ax.hist(alive, bins=bins, color="0.75", label="kept weights before sharing")
        ax.set_title(f"after quantization ({len(codes.codebook) - 1} shared values)")
        ax.set_xlabel("weight value")
        top = ax.get_ylim()[1]
        if codes.initial is not None:
            ax.plot(codes.initial, np.full(len(codes.initial), 0.06 * top), "x", color="tab:red",
                    label="initial centroids (k-means start)")
        ax.plot(codes.codebook[1:], np.full(len(codes.codebook) - 1, 0.12 * top), "o", color="tab:blue",
                label="final shared values")
        if alive.size:
            cdf_ax = ax.twinx()
            xs = np.sort(alive)
            cdf_ax.plot(xs, np.arange(1, xs.size + 1) / xs.size, color="tab:green", lw=1, label="CDF")
            cdf_ax.set_ylim(0, 1.05)
            cdf_ax.set_ylabel("cumulative distribution")
        ax.legend(loc="upper left", fontsize=7)
        path = folder / f"weights_{_safe(dense.name)}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_sensitivity(selection: dict, chosen, names, folder: str | Path) -> Path:
    """Sensitivity curves (one per layer), the accuracy budget and the chosen densities."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    grid = 100 * np.asarray(selection["grid"])
    fig, ax = plt.subplots(figsize=(7.5, 4.5), constrained_layout=True)
    for i, name in enumerate(names):
        color = f"C{i % 10}"
        curve = np.asarray(selection["curves"][name])
        ax.plot(grid, curve, "o-", color=color, ms=4, label=f"{name} pruned alone")
        ax.axvline(100 * chosen[i], color=color, ls=":", lw=1.2)
    ax.axhline(selection["dense_val"], color="0.3", lw=1, label=f"dense model ({selection['dense_val']:.2f} %)")
    ref = selection.get("reference", selection["dense_val"])
    ax.axhline(ref - selection["max_drop"], color="tab:red", ls="--", lw=1,
               label=f"budget after retraining ({ref - selection['max_drop']:.2f} %)")
    ax.set_xscale("log")
    ax.set_xticks(grid, [f"{g:g}" for g in grid])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.invert_xaxis()
    ax.set_xlabel("weights kept in the layer (%, log scale)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title("Sensitivity to pruning, no retraining (dotted: chosen density per layer)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    path = folder / "sensitivity.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
