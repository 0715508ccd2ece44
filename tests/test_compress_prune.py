"""Pruning: magnitude masks, schedules, and pruned weights staying exactly zero under training."""

import pytest
import torch

from compress.data import load_dataset
from compress.models import MLP, fit, set_determinism
from compress.prune import MaskedTraining, density_schedule, iterative_prune, magnitude_mask, prune_once


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_magnitude_mask_keeps_largest():
    w = torch.tensor([[0.1, -5.0, 0.3], [2.0, -0.2, 0.0]])
    assert magnitude_mask(w, 0.5).tolist() == [[False, True, True], [True, False, False]]
    assert magnitude_mask(w, 1.0).all()
    assert magnitude_mask(w, 1e-9).sum() == 1            # at least one weight survives
    # Never revives: only weights alive in `current` may be kept.
    cur = torch.tensor([[True, False, True], [False, True, True]])
    m = magnitude_mask(w, 0.34, cur)
    assert m.sum() == 2 and not (m & ~cur).any()
    with pytest.raises(ValueError, match="density must be in"):
        magnitude_mask(w, 0.0)


def test_magnitude_mask_ties_are_deterministic():
    w = torch.ones(10, 10)
    a, b = magnitude_mask(w, 0.3), magnitude_mask(w, 0.3)
    assert torch.equal(a, b) and a.sum() == 30


def test_density_schedule():
    s = density_schedule(0.08, 4)
    assert len(s) == 4 and s[-1] == pytest.approx(0.08)
    assert all(a > b for a, b in zip([1.0] + s, s))


def dense_then_pruned(opt_name, digits, seed, zero_state=True, mask_grads=True):
    """Train dense (so the optimizer state is non-zero everywhere), prune, train on."""
    print(f"seed={seed} optimizer={opt_name}")
    set_determinism(seed)
    model = MLP((64, 32, 10))
    params = model.parameters()
    opt = {"sgd": lambda: torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-3),
           "adam": lambda: torch.optim.Adam(params, lr=1e-3, weight_decay=1e-3),
           "adamw": lambda: torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-2)}[opt_name]()
    x, y = digits.x_train[:512], digits.y_train[:512]
    fit(model, x, y, opt, epochs=1, seed=seed, progress=False)
    before = [l.weight.detach().clone() for l in model.layers]
    masks = [magnitude_mask(l.weight, 0.3) for l in model.layers]
    trainer = MaskedTraining(model, masks)
    if zero_state:
        trainer.train(opt, x, y, epochs=2, seed=seed + 1, progress=False)
    else:
        # The broken variant: masked gradients only, stale optimizer state kept.
        with torch.no_grad():
            for l, m in zip(model.layers, masks):
                l.weight.mul_(m)
        fit(model, x, y, opt, epochs=2, seed=seed + 1, progress=False,
            after_backward=trainer.mask_gradients if mask_grads else None)
    return model, masks, opt, before


@pytest.mark.parametrize("opt_name", ["sgd", "adam", "adamw"])
def test_pruned_weights_stay_exactly_zero(digits, opt_name):
    model, masks, opt, before = dense_then_pruned(opt_name, digits, seed=7)
    for l, m, w0 in zip(model.layers, masks, before):
        assert torch.count_nonzero(l.weight[~m]) == 0               # exactly 0.0, not just small
        assert not torch.equal(l.weight[m], w0[m])                   # survivors were trained
        for name, state in opt.state[l.weight].items():
            if torch.is_tensor(state) and state.shape == m.shape:
                # Adam's second moment may not be revived either (it's zeroed with the mask).
                assert torch.count_nonzero(state[~m]) == 0, name


def test_stale_momentum_would_revive_pruned_weights(digits):
    # Negative control: shows the test above would catch a flow that only masks gradients.
    model, masks, _, _ = dense_then_pruned("sgd", digits, seed=7, zero_state=False)
    revived = sum(int(torch.count_nonzero(l.weight[~m])) for l, m in zip(model.layers, masks))
    assert revived > 0


def test_iterative_prune_reaches_targets(digits):
    set_determinism(0)
    model = MLP((64, 32, 10))
    masks = iterative_prune(model, (0.25, 0.5), digits, steps=3, epochs=1, progress=False)
    assert [round(float(m.float().mean()), 3) for m in masks] == [round(round(0.25 * 2048) / 2048, 3), 0.5]
    for l, m in zip(model.layers, masks):
        assert torch.count_nonzero(l.weight[~m]) == 0


def test_prune_once():
    set_determinism(0)
    model = MLP((10, 8, 3))
    masks = prune_once(model, (0.5, 0.25))
    assert [int(m.sum()) for m in masks] == [40, 6]
    assert [int(torch.count_nonzero(l.weight)) for l in model.layers] == [40, 6]
