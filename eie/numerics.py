"""Fixed-point number formats and arithmetic, shared by encoder, golden model and tests.

The RTL implements exactly these rules (docs/format.md, "Number formats"):

* activation: signed, ``act_bits`` wide, ``act_frac`` fractional bits;
* codebook value: signed, ``weight_bits`` wide, ``f_l`` fractional bits chosen per layer;
* product: exact, ``act_bits + weight_bits`` bits, ``act_frac + f_l`` fractional bits;
* accumulator: signed ``acc_bits``; starts at ``bias << shift`` (bias is stored in the
  activation format); every MAC saturates: ``acc = clamp(acc + a*w, acc_min, acc_max)``;
  inputs are accumulated in increasing input index order, so the result is defined;
* output: ``y = acc`` if ``shift == 0`` else ``(acc + 2**(shift-1)) >> shift``
  (round half up, arithmetic shift), then saturated to the activation range, then
  ``max(y, 0)`` when the layer has ReLU.

Float to fixed conversion (done once, by the encoder and for input vectors) is
``floor(x * 2**frac + 0.5)`` saturated to the format's range.
"""

from __future__ import annotations

import numpy as np

from .config import EIEConfig

__all__ = [
    "to_fixed", "act_from_float", "act_to_float", "choose_weight_frac", "codebook_to_fixed",
    "bias_to_fixed", "saturate", "accumulator_init", "requantize", "max_shift",
]


def saturate(x, lo: int, hi: int):
    return np.clip(x, lo, hi)


def to_fixed(x, frac: int, bits: int) -> np.ndarray:
    """floor(x * 2**frac + 0.5), saturated to a signed ``bits``-wide integer (int64)."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("cannot convert NaN or Inf to fixed point")
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    scaled = np.floor(x * float(2 ** frac) + 0.5)
    return np.clip(scaled, lo, hi).astype(np.int64)


def act_from_float(x, cfg: EIEConfig) -> np.ndarray:
    """Float activations to the fixed-point activation format."""
    return to_fixed(x, cfg.act_frac, cfg.act_bits)


def act_to_float(q, cfg: EIEConfig) -> np.ndarray:
    return np.asarray(q, dtype=np.float64) / float(2 ** cfg.act_frac)


def max_shift(cfg: EIEConfig) -> int:
    """Largest layer shift: the bias ``<< shift`` must still fit the accumulator exactly."""
    return cfg.acc_bits - cfg.act_bits


def choose_weight_frac(values, cfg: EIEConfig) -> int:
    """The most fractional bits with which every codebook value fits ``weight_bits``.

    Capped at `max_shift`, because the layer's output shift equals this number.
    """
    values = np.asarray(values, dtype=np.float64)
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    best = 0
    for frac in range(max_shift(cfg) + 1):
        if peak * 2 ** frac + 0.5 <= cfg.weight_max:
            best = frac
        else:
            break
    return best


def codebook_to_fixed(values, frac: int, cfg: EIEConfig) -> np.ndarray:
    return to_fixed(values, frac, cfg.weight_bits)


def bias_to_fixed(values, cfg: EIEConfig) -> np.ndarray:
    """Biases are stored in the activation format."""
    return to_fixed(values, cfg.act_frac, cfg.act_bits)


def accumulator_init(bias_q, shift: int) -> np.ndarray:
    """Accumulator start value of each row: the bias aligned to the product's binary point."""
    return np.asarray(bias_q, dtype=np.int64) << shift


def requantize(acc, shift: int, relu: bool, cfg: EIEConfig) -> np.ndarray:
    """Accumulator to output activation: round half up, saturate, optional ReLU."""
    acc = np.asarray(acc, dtype=np.int64)
    y = (acc + (1 << (shift - 1))) >> shift if shift > 0 else acc.copy()
    y = np.clip(y, cfg.act_min, cfg.act_max)
    if relu:
        y = np.maximum(y, 0)
    return y.astype(np.int64)
