"""EIE's nine benchmark layers (the paper's table) and synthetic stand-ins for them.

EIE's time depends on the counts and their spread over PEs, not the trained values
(DESIGN.md), so uniformly placed non-zeros at the paper's densities are a fair stand-in.
`EIE_LAYERS` is the paper's table (shape, weight density, activation density, actual µs at
800 MHz). `synthetic_pattern` draws a layer's non-zeros and input vector from a seed
without building the dense matrix (what `eie explore` needs); `synthetic_layer` turns the
same draw into a `QuantizedLayer` for the encoder (what the benchmark runs on the RTL).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eie import format as fmt
from eie.config import EIEConfig

__all__ = ["EIELayer", "EIE_LAYERS", "EIE_CLOCK_HZ", "Pattern", "synthetic_pattern", "synthetic_layer",
           "eie_patterns"]

EIE_CLOCK_HZ = 800e6


@dataclass(frozen=True)
class EIELayer:
    name: str
    in_len: int
    out_len: int
    weight_density: float
    act_density: float
    eie_actual_us: float

    @property
    def eie_actual_cycles(self) -> float:
        return self.eie_actual_us * 1e-6 * EIE_CLOCK_HZ


EIE_LAYERS = [
    EIELayer("Alex-6", 9216, 4096, 0.09, 0.351, 30.3),
    EIELayer("Alex-7", 4096, 4096, 0.09, 0.353, 12.2),
    EIELayer("Alex-8", 4096, 1000, 0.25, 0.375, 9.9),
    EIELayer("VGG-6", 25088, 4096, 0.04, 0.183, 34.4),
    EIELayer("VGG-7", 4096, 4096, 0.04, 0.375, 8.7),
    EIELayer("VGG-8", 4096, 1000, 0.23, 0.411, 8.4),
    EIELayer("NT-We", 4096, 600, 0.10, 1.00, 8.0),
    EIELayer("NT-Wd", 600, 8791, 0.11, 1.00, 13.9),
    EIELayer("NT-LSTM", 1201, 2400, 0.10, 1.00, 7.5),
]


@dataclass
class Pattern:
    """A layer's non-zeros (row-major order), their codebook indices and one input vector."""

    name: str
    out_len: int
    in_len: int
    rows: np.ndarray       # (nnz,) int64
    cols: np.ndarray       # (nnz,) int64
    values: np.ndarray     # (nnz,) codebook indices 1 .. codebook_size-1
    codebook: np.ndarray   # (codebook_size,) float, entry 0 = 0
    x: np.ndarray          # (in_len,) fixed-point input

    def indices(self) -> np.ndarray:
        """The dense (out_len, in_len) codebook-index matrix."""
        idx = np.zeros((self.out_len, self.in_len), np.uint8)
        idx[self.rows, self.cols] = self.values
        return idx


def _distinct(rng, n: int, k: int) -> np.ndarray:
    """``k`` distinct integers of ``0 .. n-1``, uniformly, sorted. Draws with replacement
    and drops repeats (sorting, not np.unique: much faster on millions), then keeps a
    uniform ``k`` of what is left."""
    got = np.zeros(0, np.int64)
    while len(got) < k:
        extra = k - len(got) + int(k * k / max(1, n)) + 64
        a = np.sort(np.concatenate([got, rng.integers(0, n, size=extra)]))
        keep = np.ones(len(a), bool)
        keep[1:] = a[1:] != a[:-1]
        got = a[keep]
    if len(got) > k:
        got = np.sort(got[rng.choice(len(got), size=k, replace=False)])
    return got


def synthetic_pattern(in_len: int, out_len: int, weight_density: float, act_density: float,
                      cfg: EIEConfig, seed: int = 0, name: str = "fc") -> Pattern:
    """``round(weight_density * out_len * in_len)`` non-zeros placed uniformly, codebook
    indices uniform in ``1 .. codebook_size-1``, and an input with
    ``round(act_density * in_len)`` non-zeros (all in the positive half of the range)."""
    rng = np.random.default_rng(seed)
    flat = _distinct(rng, out_len * in_len, int(round(weight_density * out_len * in_len)))
    values = rng.integers(1, cfg.codebook_size, size=len(flat), dtype=np.uint8)
    codebook = np.r_[0.0, np.sort(rng.normal(0.0, 0.05, cfg.codebook_size - 1))]
    x = np.zeros(in_len, dtype=np.int64)
    active = rng.choice(in_len, size=int(round(act_density * in_len)), replace=False)
    x[active] = rng.integers(1, 1 << (cfg.act_bits - 2), size=len(active))
    return Pattern(name, out_len, in_len, flat // in_len, flat % in_len, values, codebook, x)


def synthetic_layer(in_len: int, out_len: int, weight_density: float, act_density: float,
                    cfg: EIEConfig, seed: int = 0, name: str = "fc", relu: bool = True
                    ) -> tuple[fmt.QuantizedLayer, np.ndarray]:
    """`synthetic_pattern` as a `QuantizedLayer` (zero bias) and its input vector."""
    p = synthetic_pattern(in_len, out_len, weight_density, act_density, cfg, seed, name)
    return fmt.QuantizedLayer(name, p.indices(), p.codebook, np.zeros(out_len), relu), p.x


def eie_patterns(cfg: EIEConfig, seed: int = 0, names=None) -> list[tuple[EIELayer, Pattern]]:
    """The benchmark's layers: layer ``i`` of `EIE_LAYERS` drawn with seed ``seed + i``."""
    return [(L, synthetic_pattern(L.in_len, L.out_len, L.weight_density, L.act_density, cfg,
                                  seed=seed + i, name=L.name))
            for i, L in enumerate(EIE_LAYERS) if not names or L.name in names]
