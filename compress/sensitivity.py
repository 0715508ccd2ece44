"""Automatic per-layer densities: sensitivity analysis, then a search under an accuracy budget.

1. **Sensitivity** (as in Han et al., *Learning both Weights and Connections*, 2015): each
   layer alone is magnitude-pruned to every density of `GRID`, the others kept dense, with
   no retraining, and the validation accuracy is measured. A layer whose curve stays flat
   to low densities can be pruned hard.
2. **Candidates**: for a tolerance ``t`` (points of validation accuracy a layer may lose on
   its own curve), each layer gets the lowest grid density reached before its curve first
   drops more than ``t`` below the dense accuracy. `TOLERANCES` gives candidates from
   cautious to aggressive; duplicates are dropped, so each candidate is sparser than the
   one before in at least one layer.
3. **Search**: the full flow (prune with retraining, quantize, fine-tune, encode) runs on a
   candidate and its *fixed-point* validation accuracy is compared with the dense model's
   validation accuracy. A binary search over the candidates finds the sparsest one within
   ``max_drop`` points (assuming sparser candidates never do better), in about
   ``log2(candidates) + 1`` runs. Then, since retraining recovers more than the curves
   without retraining suggest, each layer (largest first) is tried one grid step sparser
   and kept there when the result still passes: one run per layer. When no candidate is
   within the budget, the most cautious one is kept and the flow warns with the figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .models import MLP, evaluate
from .prune import magnitude_mask

__all__ = ["GRID", "TOLERANCES", "Sensitivity", "sensitivity", "densities_for", "candidates",
           "Trial", "search"]

GRID = (1.0, 0.7, 0.5, 0.35, 0.25, 0.18, 0.12, 0.08, 0.06, 0.04, 0.03, 0.02, 0.01)
TOLERANCES = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


@dataclass
class Sensitivity:
    """Validation accuracy (percent) with one layer at a time pruned to each grid density."""

    grid: tuple[float, ...]
    dense: float
    curves: dict[str, list[float]]   # layer name -> accuracy per grid density


def sensitivity(model: MLP, x_val, y_val, grid=GRID) -> Sensitivity:
    """Prune each layer of ``model`` alone to every density of ``grid`` (no retraining)."""
    dense = evaluate(model, x_val, y_val)
    curves = {}
    for name, layer in zip(model.names, model.layers):
        original = layer.weight.detach().clone()
        accs = []
        for d in grid:
            with torch.no_grad():
                layer.weight.copy_(original * magnitude_mask(original, d))
            accs.append(evaluate(model, x_val, y_val))
        with torch.no_grad():
            layer.weight.copy_(original)
        curves[name] = accs
    return Sensitivity(grid=tuple(grid), dense=dense, curves=curves)


def densities_for(sens: Sensitivity, tolerance: float) -> tuple[float, ...]:
    """Per layer: the lowest grid density before the curve first drops more than ``tolerance``."""
    out = []
    for accs in sens.curves.values():
        chosen = sens.grid[0]
        for d, a in zip(sens.grid, accs):
            if sens.dense - a > tolerance:
                break
            chosen = d
        out.append(float(chosen))
    return tuple(out)


def candidates(sens: Sensitivity, tolerances=TOLERANCES) -> list[tuple[float, tuple[float, ...]]]:
    """(tolerance, densities) from cautious to aggressive, without repeats."""
    out, seen = [], set()
    for t in tolerances:
        d = densities_for(sens, t)
        if d not in seen:
            seen.add(d)
            out.append((float(t), d))
    return out


@dataclass
class Trial:
    """One run of the flow on a candidate."""

    step: str                        # "tolerance 2" (search) or "fc1 sparser" (refinement)
    densities: tuple[float, ...]
    val_accuracy: float              # fixed point, percent
    passed: bool
    kept_pct: float = 0.0
    result: object = field(default=None, repr=False)   # what the run returned (the flow's state)


def _sparser(grid, d: float) -> float | None:
    lower = [g for g in grid if g < d - 1e-12]
    return max(lower) if lower else None


def search(cands, run, dense_val: float, max_drop: float, *, grid=GRID, names=(), sizes=()) -> tuple[Trial, list[Trial]]:
    """The sparsest candidate within ``max_drop`` of ``dense_val``, then a refinement.

    ``run(densities)`` returns ``(validation accuracy, kept %, state)``. A binary search over
    ``cands`` (from cautious to aggressive) finds the sparsest passing candidate; then each
    layer, largest first (``sizes``: weights per layer), is tried one grid step sparser and
    kept there if the result still passes. Returns the chosen trial (the most cautious
    candidate when none passes) and every trial run, in order.
    """
    trials: list[Trial] = []

    def attempt(step: str, d) -> Trial:
        acc, kept, state = run(d)
        trials.append(Trial(step, tuple(d), acc, acc >= dense_val - max_drop - 1e-9, kept, state))
        return trials[-1]

    lo, hi, found = -1, len(cands), {}   # lo: sparsest known pass; hi: most cautious known fail
    while hi - lo > 1:
        mid = (lo + hi + 1) // 2
        found[mid] = attempt(f"tolerance {cands[mid][0]:g}", cands[mid][1])
        lo, hi = (mid, hi) if found[mid].passed else (lo, mid)
    if lo < 0:
        return found[0], trials
    chosen = found[lo]
    order = sorted(range(len(chosen.densities)), key=lambda i: -sizes[i]) if sizes else []
    for i in order:
        lower = _sparser(grid, chosen.densities[i])
        if lower is None:
            continue
        d = list(chosen.densities)
        d[i] = lower
        if tuple(d) in {t.densities for t in trials}:
            continue
        t = attempt(f"{names[i] if names else i} sparser", d)
        if t.passed:
            chosen = t
    return chosen, trials
