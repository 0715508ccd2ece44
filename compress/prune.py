"""Magnitude pruning with retraining under fixed masks (Deep Compression, step 1).

Each layer keeps the ``round(density * size)`` weights of largest magnitude (at least
one). `iterative_prune` walks every layer from dense to its target density in a few
steps (densities spaced geometrically: ``target ** (t / steps)``), retraining after each
step with the mask fixed.

Pruned weights stay exactly zero, which takes three things (`MaskedTraining`):
the gradients of pruned weights are zeroed before the optimizer step; the optimizer's
state for them (SGD momentum, Adam's moments) is zeroed when the mask changes, so
no stale momentum pushes them; and the mask is re-applied after every step, so even
a decoupled weight-decay or a rounding quirk cannot leave a non-zero behind.

With ``n_pe`` (``--balanced-prune``) every step prunes as ESE did (load-balance-aware
pruning, `balanced_mask`): the layer keeps as many weights in all, but each PE's share of
its rows (row ``i`` in PE ``i % n_pe``) keeps the same count, its own largest.
"""

from __future__ import annotations

import torch

from .models import MLP, fit

__all__ = ["magnitude_mask", "balanced_mask", "layer_mask", "density_schedule", "MaskedTraining", "iterative_prune", "prune_once"]


def magnitude_mask(weight, density: float, current=None) -> torch.Tensor:
    """Boolean mask keeping the ``round(density * numel)`` largest ``|weight|`` (>= 1).

    With ``current``, only weights still alive may be kept (pruning never revives).
    Ties are broken by position (stable sort), so the mask is deterministic.
    """
    w = torch.as_tensor(weight).detach()
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must be in (0, 1], not {density!r}")
    n = w.numel()
    keep = max(1, int(round(density * n)))
    score = w.abs().flatten().to(torch.float64)
    if current is not None:
        alive = torch.as_tensor(current).flatten().bool()
        keep = min(keep, max(1, int(alive.sum())))
        score = torch.where(alive, score, torch.full_like(score, -1.0))
    order = torch.argsort(score, descending=True, stable=True)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[order[:keep]] = True
    return mask.reshape(w.shape)


def balanced_mask(weight, density: float, n_pe: int, current=None) -> torch.Tensor:
    """`magnitude_mask` with the same count in every PE's share of the rows (±1; a PE with
    fewer weights alive keeps them all): `eie.balance.balanced_prune_mask`."""
    from eie.balance import balanced_prune_mask

    w = torch.as_tensor(weight).detach()
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must be in (0, 1], not {density!r}")
    # A conv kernel prunes as the matrix the array holds: a row per output channel.
    rows = w.reshape(w.shape[0], -1).to(torch.float64).numpy()
    alive = None if current is None else torch.as_tensor(current).bool().reshape(rows.shape).numpy()
    mask = balanced_prune_mask(rows, density, n_pe, alive=alive)
    return torch.from_numpy(mask).reshape(w.shape)


def layer_mask(weight, density: float, current=None, n_pe: int | None = None) -> torch.Tensor:
    """`balanced_mask` with ``n_pe``, else `magnitude_mask`."""
    if n_pe is None:
        return magnitude_mask(weight, density, current)
    return balanced_mask(weight, density, n_pe, current)


def density_schedule(target: float, steps: int) -> list[float]:
    """Densities of the pruning steps: geometric from 1 down to ``target``."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps}")
    return [float(target ** ((t + 1) / steps)) for t in range(steps)]


class MaskedTraining:
    """Keeps pruned weights of an `MLP` at exactly zero while an optimizer trains it."""

    def __init__(self, model: MLP, masks: list[torch.Tensor]):
        if len(masks) != len(model.layers):
            raise ValueError(f"{len(model.layers)} layers but {len(masks)} masks")
        self.model = model
        self.masks = [m.bool() for m in masks]

    def apply(self, optimizer: torch.optim.Optimizer | None = None):
        """Zero pruned weights and (with ``optimizer``) their optimizer state."""
        with torch.no_grad():
            for layer, mask in zip(self.model.layers, self.masks):
                layer.weight.mul_(mask)
                if optimizer is not None:
                    state = optimizer.state.get(layer.weight, {})
                    for value in state.values():
                        # momentum_buffer, exp_avg, exp_avg_sq, max_exp_avg_sq: same shape as w.
                        if isinstance(value, torch.Tensor) and value.shape == mask.shape:
                            value.mul_(mask)

    def mask_gradients(self):
        for layer, mask in zip(self.model.layers, self.masks):
            if layer.weight.grad is not None:
                layer.weight.grad.mul_(mask)

    def train(self, optimizer, x, y, **fit_args):
        """`models.fit` with masked gradients and masks re-applied after each step."""
        self.apply(optimizer)
        fit(self.model, x, y, optimizer, after_backward=self.mask_gradients,
            after_step=lambda: self.apply(optimizer), **fit_args)

    def densities(self) -> list[float]:
        return [float(m.float().mean()) for m in self.masks]


def prune_once(model: MLP, densities, n_pe: int | None = None) -> list[torch.Tensor]:
    """One-shot magnitude pruning to the target densities (no retraining); balanced
    over ``n_pe`` PEs when given."""
    masks = [layer_mask(l.weight, d, n_pe=n_pe) for l, d in zip(model.layers, densities)]
    MaskedTraining(model, masks).apply()
    return masks


def iterative_prune(model: MLP, densities, data, *, steps: int = 4, epochs: int = 8,
                    lr: float = 5e-4, weight_decay: float = 0.0, batch_size: int = 64,
                    seed: int = 0, progress: bool = True, n_pe: int | None = None) -> list[torch.Tensor]:
    """Prune toward per-layer target densities in ``steps`` steps, retraining after each
    (every step balanced over ``n_pe`` PEs when given)."""
    masks = [torch.ones_like(l.weight, dtype=torch.bool) for l in model.layers]
    schedules = [density_schedule(d, steps) for d in densities]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    for t in range(steps):
        masks = [layer_mask(l.weight, s[t], m, n_pe) for l, s, m in zip(model.layers, schedules, masks)]
        trainer = MaskedTraining(model, masks)
        shown = "/".join(f"{100 * s[t]:.0f}%" for s in schedules)
        trainer.train(optimizer, data.x_train, data.y_train, epochs=epochs, batch_size=batch_size,
                      seed=seed + 1 + t, desc=f"prune {t + 1}/{steps} ({shown}) retrain",
                      progress=progress)
    return masks
