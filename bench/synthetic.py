"""Synthetic stand-ins for EIE's benchmark layers: same shapes and densities, fixed seeds.

EIE's time depends on the counts and their spread over PEs, not the trained values
(DESIGN.md), so uniformly placed non-zeros at the paper's densities are a fair stand-in.
`EIE_LAYERS` is the paper's Table (shape, weight density, activation density, actual µs at
800 MHz); `synthetic_layer` builds one as a `QuantizedLayer` plus a fixed-point input vector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eie import format as fmt
from eie.config import EIEConfig

__all__ = ["EIELayer", "EIE_LAYERS", "synthetic_layer", "EIE_CLOCK_HZ"]

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


def synthetic_layer(in_len: int, out_len: int, weight_density: float, act_density: float,
                    cfg: EIEConfig, seed: int = 0, name: str = "fc", relu: bool = True
                    ) -> tuple[fmt.QuantizedLayer, np.ndarray]:
    """A random layer (codebook indices at ``weight_density``) and a fixed-point input vector
    with ``round(act_density * in_len)`` non-zeros (all in the positive half of the range)."""
    rng = np.random.default_rng(seed)
    indices = np.zeros((out_len, in_len), dtype=np.uint8)
    nnz = int(round(weight_density * out_len * in_len))
    flat = rng.choice(out_len * in_len, size=nnz, replace=False)
    indices.reshape(-1)[flat] = rng.integers(1, cfg.codebook_size, size=nnz, dtype=np.uint8)
    codebook = np.r_[0.0, np.sort(rng.normal(0.0, 0.05, cfg.codebook_size - 1))]
    bias = np.zeros(out_len)
    x = np.zeros(in_len, dtype=np.int64)
    active = rng.choice(in_len, size=int(round(act_density * in_len)), replace=False)
    x[active] = rng.integers(1, 1 << (cfg.act_bits - 2), size=len(active))
    return fmt.QuantizedLayer(name, indices, codebook, bias, relu), x
