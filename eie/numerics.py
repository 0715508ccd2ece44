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

Nothing is lost silently: `check_codebook` (called by the encoder) raises a
`FixedPointError` naming the layer and the value when a codebook value would saturate,
or when a non-zero codebook value would round to zero because no shift holds both the
layer's largest and smallest values; `check_layer_values` (the compressor's) refuses
saturating biases too. Callers that accept the loss say so explicitly
(``allow_loss=True``) and can list it with `layer_value_problems`.
"""

from __future__ import annotations

import numpy as np

from .config import EIEConfig
from .errors import EIEError

__all__ = [
    "to_fixed", "act_from_float", "act_to_float", "choose_weight_frac", "codebook_to_fixed",
    "bias_to_fixed", "saturate", "accumulator_init", "requantize", "max_shift",
    "FixedPointError", "q_name", "act_limits", "codebook_problems", "bias_problems",
    "layer_value_problems", "check_codebook", "check_layer_values",
]


class FixedPointError(EIEError, ValueError):
    """A value that the config's number formats cannot hold: it would saturate or become 0."""


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


# ---- range checks: nothing saturates or vanishes silently ---------------------------------

def q_name(bits: int, frac: int) -> str:
    """``Q<int>.<frac>`` name of a signed format (integer bits include the sign)."""
    return f"Q{bits - frac}.{frac}"


def act_limits(cfg: EIEConfig) -> tuple[float, float]:
    """Smallest and largest value the activation format holds (also the bias range)."""
    scale = float(2 ** cfg.act_frac)
    return cfg.act_min / scale, cfg.act_max / scale


def codebook_problems(values, frac: int, cfg: EIEConfig, used=None) -> list[str]:
    """What converting a codebook with ``frac`` fractional bits loses, in words.

    Only entries listed in ``used`` (default: all but entry 0, the zero weight) count:
    a value that saturates the ``weight_bits`` format, or a non-zero value that
    rounds to 0 (it would silently become a pruned weight).
    """
    values = np.asarray(values, np.float64)
    used = np.arange(1, len(values)) if used is None else np.asarray(used, np.int64)
    used = used[(used > 0) & (used < len(values))]
    exact = np.floor(values * float(2 ** frac) + 0.5)
    out = []
    over = used[(exact[used] > cfg.weight_max) | (exact[used] < cfg.weight_min)]
    if over.size:
        i = int(over[np.argmax(np.abs(values[over]))])
        out.append(f"codebook value {values[i]:.6g} (entry {i}) saturates the {cfg.weight_bits}-bit weight "
                   f"format even with {frac} fractional bits (largest {cfg.weight_max / 2 ** frac:.6g})")
    zero = used[(exact[used] == 0) & (values[used] != 0)]
    if zero.size:
        i = int(zero[np.argmin(np.abs(values[zero]))])
        peak = float(np.max(np.abs(values[used])))
        why = (f"the most fractional bits a shift allows (acc_bits - act_bits = {max_shift(cfg)})"
               if frac == max_shift(cfg) else
               f"the most fractional bits with which the largest value {peak:.6g} still fits")
        out.append(f"{zero.size} non-zero codebook value(s) round to 0, the smallest {values[i]:.6g} "
                   f"(entry {i}): {frac} fractional bits are {why} (resolution {2.0 ** -frac:.3g}), "
                   "so no shift holds every value")
    return out


def bias_problems(values, cfg: EIEConfig) -> list[str]:
    """Biases outside the activation format (they would saturate)."""
    values = np.asarray(values, np.float64)
    lo, hi = act_limits(cfg)
    exact = np.floor(values * float(2 ** cfg.act_frac) + 0.5)
    bad = np.flatnonzero((exact < cfg.act_min) | (exact > cfg.act_max))
    if not bad.size:
        return []
    i = int(bad[np.argmax(np.abs(values[bad]))])
    return [f"{bad.size} bias(es) outside the activation format {q_name(cfg.act_bits, cfg.act_frac)} "
            f"({lo:g} .. {hi:g}), the largest {values[i]:.6g} (row {i}) would saturate"]


def layer_value_problems(codebook, frac: int, bias, cfg: EIEConfig, used=None) -> list[str]:
    """Everything a layer's conversion to fixed point loses, as sentences (empty: nothing)."""
    return codebook_problems(codebook, frac, cfg, used) + bias_problems(bias, cfg)


_ALLOW_HINT = (" (to accept the loss: allow_loss=True, or eie compress --allow-fixed-point-loss, "
               "which reports its accuracy cost)")


def check_codebook(name: str, codebook, frac: int, cfg: EIEConfig, used=None):
    """Raise `FixedPointError` naming the layer and the value if a codebook value is lost."""
    problems = codebook_problems(codebook, frac, cfg, used)
    if problems:
        raise FixedPointError(f"layer {name}: " + "; ".join(problems) + _ALLOW_HINT)


def check_layer_values(name: str, codebook, frac: int, bias, cfg: EIEConfig, used=None):
    """Like `check_codebook`, and biases that would saturate too."""
    problems = layer_value_problems(codebook, frac, bias, cfg, used)
    if problems:
        raise FixedPointError(f"layer {name}: " + "; ".join(problems) + _ALLOW_HINT)
