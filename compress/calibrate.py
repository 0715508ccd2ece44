"""Activation ranges calibrated on your data: nothing saturates without being said.

Two checks, both on the calibration samples (training and validation splits, never test):

* `dense_range_problems`, before any training: the input values, every layer's weights,
  biases and pre-activation outputs of the float model against the config's number formats
  (a weight must fit ``weight_bits`` at shift 0, biases and activations the activation
  format); fails in seconds instead of after retraining;
* `fixed_point_problems`, after encoding: the encoded network run in exact integer
  arithmetic on the fixed-point inputs, counting every input that saturates on conversion,
  every accumulator that leaves ``acc_bits`` at some step, and every output that saturates
  the activation format (a negative output under ReLU is 0 either way and does not count).

Each problem is one sentence naming the layer, how many values and the worst one. The
flow turns them into a `eie.numerics.FixedPointError`, or into warnings when the user
allowed the loss (`--allow-fixed-point-loss`), with the measured fixed-point accuracy.
"""

from __future__ import annotations

import numpy as np
import torch

from eie import format as fmt
from eie import numerics
from eie.config import EIEConfig

__all__ = ["dense_range_problems", "fixed_point_problems", "input_problems"]


def _fmt_act(cfg: EIEConfig) -> str:
    lo, hi = numerics.act_limits(cfg)
    return f"the activation format {numerics.q_name(cfg.act_bits, cfg.act_frac)} ({lo:g} .. {hi:g})"


def input_problems(x: np.ndarray, cfg: EIEConfig, what: str) -> list[str]:
    """Input values that saturate on conversion to the activation format."""
    exact = np.floor(np.asarray(x, np.float64) * 2.0 ** cfg.act_frac + 0.5)
    bad = (exact > cfg.act_max) | (exact < cfg.act_min)
    if not bad.any():
        return []
    s, j = np.unravel_index(np.argmax(np.where(bad, np.abs(x), -1)), x.shape)
    return [f"inputs: {int(bad.sum())} of {x.size} input values of {what} are outside {_fmt_act(cfg)}, "
            f"the largest {x[s, j]:.6g} (sample {s}, input {j}); scale the data into that range"]


def dense_range_problems(model, x: np.ndarray, cfg: EIEConfig, what: str) -> list[str]:
    """Range problems of the float model (`compress.models.MLP`) on samples ``x``."""
    out = input_problems(x, cfg, what)
    lo, hi = numerics.act_limits(cfg)
    w_max = float(cfg.weight_max)
    a = torch.as_tensor(np.asarray(x, np.float32))
    with torch.no_grad():
        for name, layer, relu in zip(model.names, model.layers, model.relus):
            w = layer.weight.detach().numpy()
            if np.abs(w).max() > w_max:
                i = np.unravel_index(np.argmax(np.abs(w)), w.shape)
                out.append(f"layer {name}: weight {w[i]:.6g} at {tuple(int(k) for k in i)} exceeds the "
                           f"{cfg.weight_bits}-bit weight format even at shift 0 (largest {w_max:g})")
            out += [f"layer {name}: {p}" for p in numerics.bias_problems(layer.bias.detach().numpy(), cfg)]
            y = layer(a)
            yn = y.numpy()
            high = yn > hi
            low = (yn < lo) if not relu else np.zeros_like(high)
            if high.any() or low.any():
                bad = high | low
                s, r = np.unravel_index(np.argmax(np.where(bad, np.abs(yn), -1)), yn.shape)
                out.append(f"layer {name}: {int(bad.sum())} of {yn.size} outputs on {what} are outside "
                           f"{_fmt_act(cfg)} in the float model, the largest {yn[s, r]:.6g} (sample {s}, "
                           f"output {r})")
            a = torch.relu(y) if relu else y
    return out


def _acc_saturation(layer: fmt.EncodedLayer, w: np.ndarray, a: np.ndarray, init: np.ndarray,
                    cfg: EIEConfig) -> tuple[int, float]:
    """(pairs of sample and row whose accumulator leaves the range at some step, worst value)."""
    bound = np.abs(init)[None, :] + np.abs(a).astype(np.float64) @ np.abs(w).T
    flagged = np.argwhere(bound > cfg.acc_max)
    count, worst = 0, 0.0
    for r in np.unique(flagged[:, 1]) if flagged.size else ():
        samples = flagged[flagged[:, 1] == r, 0]
        cols = np.flatnonzero(w[r])               # the order the hardware adds them in
        prefix = init[r] + np.cumsum(a[np.ix_(samples, cols)].astype(np.float64) * w[r, cols], axis=1)
        over = (prefix > cfg.acc_max) | (prefix < cfg.acc_min)
        count += int(over.any(axis=1).sum())
        if over.any():
            worst = max(worst, float(np.abs(prefix[over]).max()))
    return count, worst


def fixed_point_problems(program: fmt.Program, x: np.ndarray, what: str) -> list[str]:
    """Saturation of the encoded network on float samples ``x`` (exact integer arithmetic)."""
    from eie.golden import GoldenModel

    cfg = program.cfg
    out = input_problems(x, cfg, what)
    a = numerics.act_from_float(x, cfg)
    outs = GoldenModel(program).run_layers(a)
    for e, y_next in zip(program.layers, outs):
        w = np.asarray(e.codebook, np.int64)[fmt.decode_layer(e, cfg.n_pe)].astype(np.float64)
        init = numerics.accumulator_init(e.bias, e.shift).astype(np.float64)
        scale = 2.0 ** (cfg.act_frac + e.shift)
        n_acc, worst_acc = _acc_saturation(e, w, a, init, cfg)
        if n_acc:
            out.append(f"layer {e.name}: the {cfg.acc_bits}-bit accumulator saturates for {n_acc} of "
                       f"{a.shape[0] * e.out_len} outputs on {what}, reaching {worst_acc / scale:.6g} "
                       f"(range +-{cfg.acc_max / scale:.6g} at shift {e.shift})")
        acc = init[None, :] + a.astype(np.float64) @ w.T        # exact: well inside 2**53
        y = np.floor((acc + (2.0 ** (e.shift - 1) if e.shift else 0.0)) / 2.0 ** e.shift)
        bad = (y > cfg.act_max) | ((y < cfg.act_min) & (not e.relu))
        if bad.any():
            s, r = np.unravel_index(np.argmax(np.where(bad, np.abs(y), -1)), y.shape)
            out.append(f"layer {e.name}: {int(bad.sum())} of {y.size} outputs on {what} saturate "
                       f"{_fmt_act(cfg)}, the largest {y[s, r] / 2 ** cfg.act_frac:.6g} (sample {s}, output {r})")
        a = y_next
    return out
