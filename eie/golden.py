"""Bit-exact golden model: fixed-point inference from the SRAM images alone.

The model never sees float weights: it decodes the same memories the RTL loads
(`eie.images.read_images` -> `Images.program()`), and follows the number rules of
`eie.numerics` exactly:

* accumulator of row ``i`` starts at ``bias[i] << shift``;
* for each non-zero input ``j`` in increasing order, each stored entry ``(i, j, v)`` does
  ``acc[i] = clamp(acc[i] + a[j] * codebook[v], acc_min, acc_max)`` (padding entries
  have ``codebook[0] == 0`` and change nothing);
* output ``= relu?(saturate_act(round_half_up(acc >> shift)))``.

Layers run in the device's order (a balanced encoding permutes rows, and the next layer's
columns with them: `eie.format`); `run` and `classify` return the last layer's outputs in
the model's order, `run_layers` every layer's as the activation files hold them.

Vectorised: a whole batch goes through a sparse integer matrix product. Saturation makes
the order matter, so rows whose partial sums could leave the accumulator range (a cheap
float bound says which) are replayed entry by entry in input order, vectorised across
those rows; every other row's exact int64 sum is already the saturating result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from eie import format as fmt
from eie import numerics
from eie.config import EIEConfig
from eie.errors import EIEError
from eie.images import Images, read_images

__all__ = ["GoldenModel", "GoldenLayer", "run_golden", "InputError"]


class InputError(EIEError):
    """An input vector that does not fit the network or the activation format."""


@dataclass
class GoldenLayer:
    """One decoded layer: real (non-padding) entries as a sparse int64 matrix."""

    name: str
    in_len: int
    out_len: int
    shift: int
    relu: bool
    weights: sp.csr_matrix      # (out_len, in_len) int64 fixed-point codebook values
    abs_weights: sp.csr_matrix  # |weights| as float64, for the saturation bound
    acc_init: np.ndarray        # (out_len,) int64

    @classmethod
    def from_encoded(cls, e: fmt.EncodedLayer, cfg: EIEConfig) -> "GoldenLayer":
        rows, cols, vals = [], [], []
        for k in range(cfg.n_pe):
            r, c, v = fmt.decode_slice(e.ptr[k], e.v[k], e.z[k], fmt.rows_of_pe(e.out_len, k, cfg.n_pe))
            w = np.asarray(e.codebook, np.int64)[v]
            keep = w != 0
            rows.append(r[keep] * cfg.n_pe + k); cols.append(c[keep]); vals.append(w[keep])
        rows, cols, vals = (np.concatenate(x) if x else np.zeros(0, np.int64) for x in (rows, cols, vals))
        weights = sp.csr_matrix((vals.astype(np.int64), (rows, cols)), shape=(e.out_len, e.in_len))
        weights.sort_indices()   # column order within each row = accumulation order
        abs_w = weights.copy().astype(np.float64)
        abs_w.data = np.abs(abs_w.data)
        return cls(name=e.name, in_len=e.in_len, out_len=e.out_len, shift=e.shift, relu=e.relu,
                   weights=weights, abs_weights=abs_w,
                   acc_init=numerics.accumulator_init(e.bias, e.shift))

    def accumulate(self, a: np.ndarray, cfg: EIEConfig) -> np.ndarray:
        """Final accumulator values for a batch ``a`` of shape (batch, in_len)."""
        init = self.acc_init[None, :]
        # Bound on every partial sum: |init| + sum |a_j w_ij|. Where it stays inside the
        # range, no step saturates and the exact sum is the answer.
        bound = np.abs(init).astype(np.float64) + (self.abs_weights @ np.abs(a).T.astype(np.float64)).T
        safe = bound < float(cfg.acc_max) * (1 - 1e-9)
        # int64 may wrap where a sum is huge, but only at unsafe places, replayed below.
        acc = init + (self.weights @ a.T).T.astype(np.int64)
        if not safe.all():
            b_idx, r_idx = np.nonzero(~safe)
            acc[b_idx, r_idx] = self._replay(a, b_idx, r_idx, cfg)
        return acc

    def _replay(self, a, b_idx, r_idx, cfg: EIEConfig) -> np.ndarray:
        """Saturating accumulation, entry by entry in input order, for the given (batch, row)s."""
        w = self.weights
        starts, ends = w.indptr[r_idx], w.indptr[r_idx + 1]
        acc = self.acc_init[r_idx].copy()
        longest = int((ends - starts).max()) if len(r_idx) else 0
        for step in range(longest):
            live = starts + step < ends
            pos = (starts + step)[live]
            prod = a[b_idx[live], w.indices[pos]] * w.data[pos]
            acc[live] = np.clip(acc[live] + prod, cfg.acc_min, cfg.acc_max)
        return acc

    def forward(self, a: np.ndarray, cfg: EIEConfig) -> np.ndarray:
        return numerics.requantize(self.accumulate(a, cfg), self.shift, self.relu, cfg)


class GoldenModel:
    """The golden model of one image folder (or an in-memory `Program`)."""

    def __init__(self, source: Images | fmt.Program | str | Path, cfg: EIEConfig | None = None):
        if isinstance(source, (str, Path)):
            source = read_images(source, cfg)
        program = source.program() if isinstance(source, Images) else source
        self.cfg: EIEConfig = program.cfg
        self.layers = [GoldenLayer.from_encoded(e, self.cfg) for e in program.layers]
        # Where each model output sits in the last layer's device output (None: in place).
        self.output_positions = program.layers[-1].out_positions

    @property
    def in_len(self) -> int:
        return self.layers[0].in_len

    @property
    def out_len(self) -> int:
        """Outputs of the model (`run`); the device's last layer may hold more (`run_layers`)."""
        return self.layers[-1].out_len if self.output_positions is None else len(self.output_positions)

    def _check_input(self, x_q) -> np.ndarray:
        x = np.asarray(x_q)
        if not np.issubdtype(x.dtype, np.integer):
            raise InputError(f"inputs must be fixed-point integers (see eie.numerics.act_from_float), "
                             f"not {x.dtype}")
        x = x.astype(np.int64)
        if x.ndim not in (1, 2) or x.shape[-1] != self.in_len:
            raise InputError(f"inputs must have {self.in_len} values per vector, got shape {x.shape}")
        if x.size and (x.min() < self.cfg.act_min or x.max() > self.cfg.act_max):
            raise InputError(f"inputs outside the {self.cfg.act_bits}-bit activation range")
        return x

    def run_layers(self, x_q) -> list[np.ndarray]:
        """Outputs of every layer in the device's order, as the activation files hold them
        (each int64, same leading shape as the input)."""
        x = self._check_input(x_q)
        single = x.ndim == 1
        a = x[None, :] if single else x
        outs = []
        for layer in self.layers:
            a = layer.forward(a, self.cfg)
            outs.append(a[0] if single else a)
        return outs

    def run(self, x_q) -> np.ndarray:
        """Output of the last layer for one input vector or a batch, in the model's order."""
        return fmt.to_model_order(self.run_layers(x_q)[-1], self.output_positions)

    def classify(self, x_float) -> np.ndarray:
        """Float inputs -> fixed point -> class indices (argmax of the last layer)."""
        x_q = numerics.act_from_float(x_float, self.cfg)
        out = self.run(x_q)
        return np.argmax(out, axis=-1)


def run_golden(images: Images | fmt.Program | str | Path, x_q) -> np.ndarray:
    """Convenience: last-layer outputs of the golden model for ``x_q``."""
    return GoldenModel(images).run(x_q)
