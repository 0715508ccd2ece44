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
    """Range problems of the float model (an MLP or a `compress.convnet.ConvNet`) on ``x``."""
    out = input_problems(x, cfg, what)
    lo, hi = numerics.act_limits(cfg)
    w_max = float(cfg.weight_max)
    pre = [[] for _ in model.layers]
    with torch.no_grad():
        for i in range(0, len(x), CHUNK):
            for l, y in enumerate(model.pre_activations(torch.as_tensor(np.asarray(x[i:i + CHUNK], np.float32)))):
                pre[l].append(y.numpy())
    for name, layer, relu, ys in zip(model.names, model.layers, model.relus, pre):
        w = layer.weight.detach().numpy()
        if np.abs(w).max() > w_max:
            i = np.unravel_index(np.argmax(np.abs(w)), w.shape)
            out.append(f"layer {name}: weight {w[i]:.6g} at {tuple(int(k) for k in i)} exceeds the "
                       f"{cfg.weight_bits}-bit weight format even at shift 0 (largest {w_max:g})")
        out += [f"layer {name}: {p}" for p in numerics.bias_problems(layer.bias.detach().numpy(), cfg)]
        yn = np.concatenate(ys) if ys else np.zeros((0, 1), np.float32)
        high = yn > hi
        low = (yn < lo) if not relu else np.zeros_like(high)
        if high.any() or low.any():
            bad = high | low
            s, r = np.unravel_index(np.argmax(np.where(bad, np.abs(yn), -1)), yn.shape)
            out.append(f"layer {name}: {int(bad.sum())} of {yn.size} outputs on {what} are outside "
                       f"{_fmt_act(cfg)} in the float model, the largest {yn[s, r]:.6g} (sample {s}, "
                       f"output {r})")
    return out


# Samples per batch of the float model in `dense_range_problems`.
CHUNK = 1000


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


class _LayerStats:
    """Saturation of one layer, summed over the chunks `eie.convnet.forward` hands over."""

    def __init__(self, e: fmt.EncodedLayer, cfg: EIEConfig):
        self.e, self.cfg = e, cfg
        self.w = np.asarray(e.codebook, np.int64)[fmt.decode_layer(e, cfg.n_pe)].astype(np.float64)
        self.init = numerics.accumulator_init(e.bias, e.shift).astype(np.float64)
        self.vectors = self.n_acc = self.n_out = 0
        self.worst_acc, self.worst_out, self.where, self.worst_val = 0.0, -1.0, (0, 0), 0.0

    def add(self, a: np.ndarray, cfg: EIEConfig):
        e = self.e
        n_acc, worst = _acc_saturation(e, self.w, a, self.init, cfg)
        self.n_acc += n_acc
        self.worst_acc = max(self.worst_acc, worst)
        acc = self.init[None, :] + a.astype(np.float64) @ self.w.T        # exact: well inside 2**53
        y = np.floor((acc + (2.0 ** (e.shift - 1) if e.shift else 0.0)) / 2.0 ** e.shift)
        bad = (y > cfg.act_max) | ((y < cfg.act_min) & (not e.relu))
        if bad.any():
            s, r = np.unravel_index(np.argmax(np.where(bad, np.abs(y), -1)), y.shape)
            self.n_out += int(bad.sum())
            if abs(y[s, r]) > self.worst_out:
                self.worst_out, self.where, self.worst_val = abs(y[s, r]), (self.vectors + s, r), y[s, r]
        self.vectors += a.shape[0]

    def problems(self, what: str, kind: str) -> list[str]:
        e, cfg = self.e, self.cfg
        scale = 2.0 ** (cfg.act_frac + e.shift)
        out = []
        if self.n_acc:
            out.append(f"layer {e.name}: the {cfg.acc_bits}-bit accumulator saturates for {self.n_acc} of "
                       f"{self.vectors * e.out_len} outputs on {what}, reaching {self.worst_acc / scale:.6g} "
                       f"(range +-{cfg.acc_max / scale:.6g} at shift {e.shift})")
        if self.n_out:
            s, r = self.where
            out.append(f"layer {e.name}: {self.n_out} of {self.vectors * e.out_len} outputs on {what} saturate "
                       f"{_fmt_act(cfg)}, the largest {self.worst_val / 2 ** cfg.act_frac:.6g} ({kind} {s}, "
                       f"output {r})")
        return out


def fixed_point_problems(program: fmt.Program, x: np.ndarray, what: str) -> list[str]:
    """Saturation of the encoded network on float samples ``x`` (exact integer arithmetic).

    A conv layer's vectors are its im2col patches (`eie.convnet.forward`)."""
    from eie.convnet import forward
    from eie.golden import GoldenModel

    cfg = program.cfg
    out = input_problems(x, cfg, what)
    stats = [_LayerStats(e, cfg) for e in program.layers]
    forward(GoldenModel(program), numerics.act_from_float(x, cfg), on_layer=lambda l, a, y: stats[l].add(a, cfg))
    kind = "sample" if program.network is None else "vector"
    for st in stats:
        out += st.problems(what, kind)
    return out
