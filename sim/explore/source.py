"""What `eie explore` sweeps: layers as sparsity patterns with their input vectors.

A `Source` is a list of `Layer`s, each the non-zeros of one weight matrix in the model's
order and the input vectors it sees (fixed point). Three ways to get one:

* `eie_layers`: EIE's nine benchmark layers, synthetic at the paper's shapes and densities
  (`sim.explore.layers`), each on its own with EIE's reported time;
* `from_images`: an image folder (any config, plain or balanced): the matrices are decoded
  back into the model's order and the golden model gives every hidden layer's inputs;
* `from_npz`: the ``compressed.npz`` that `eie compress` writes (``<layer>.indices``,
  ``.codebook``, ``.bias`` per layer, in order), encoded plainly with ``cfg`` to run the
  golden model for the hidden layers' inputs.

Only the sparsity pattern and which inputs are non-zero decide cycles; values are kept
only to run the golden model.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eie import format as fmt
from eie.config import EIEConfig
from eie.errors import EIEError
from eie.golden import GoldenModel
from eie.images import read_images

from .layers import eie_patterns

__all__ = ["Layer", "Source", "eie_layers", "from_images", "from_npz", "load_source", "SourceError"]


class SourceError(EIEError):
    """A model or image folder `eie explore` cannot read."""


@dataclass
class Layer:
    """One weight matrix as a pattern (model order) and its inputs (model order)."""

    name: str
    out_len: int
    in_len: int
    rows: np.ndarray                  # non-zeros, row-major
    cols: np.ndarray
    xs: np.ndarray                    # (vectors, in_len) fixed-point inputs
    eie_cycles: float | None = None   # EIE's reported cycles (its benchmark layers)

    @property
    def nnz(self) -> int:
        return len(self.rows)


@dataclass
class Source:
    """Layers to sweep. ``chained``: a network (layer l's inputs are layer l-1's outputs,
    so a balanced layer's positions move the next layer's columns); otherwise independent
    layers, each reading its inputs in the model's order."""

    name: str
    layers: list[Layer]
    chained: bool
    cfg: EIEConfig                    # number formats and memories the sweep starts from
    notes: list[str] = field(default_factory=list)


def eie_layers(cfg: EIEConfig, seed: int = 0, names=None) -> Source:
    layers = []
    for L, p in eie_patterns(cfg, seed, names):
        layers.append(Layer(L.name, p.out_len, p.in_len, p.rows, p.cols, p.x[None, :], L.eie_actual_cycles))
    return Source("EIE benchmark layers", layers, chained=False, cfg=cfg,
                  notes=[f"synthetic layers at EIE's shapes and densities (sim.explore.layers, seed {seed})"])


def _inputs(xs, in_len: int, cfg: EIEConfig, density: float, vectors: int, seed: int) -> tuple[np.ndarray, str]:
    if xs is not None:
        xs = np.asarray(xs)
        xs = xs[None, :] if xs.ndim == 1 else xs
        if xs.ndim != 2 or xs.shape[1] != in_len or not np.issubdtype(xs.dtype, np.integer):
            raise SourceError(f"inputs must be fixed-point integers of shape (vectors, {in_len}), "
                              f"not {xs.dtype} {xs.shape}")
        return xs[:vectors].astype(np.int64), f"the first {min(vectors, len(xs))} given input vectors"
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 1 << cfg.act_frac, (vectors, in_len)) * (rng.random((vectors, in_len)) < density)
    return x.astype(np.int64), f"{vectors} random input vectors, {100 * density:g} % non-zero (seed {seed})"


def _network(name: str, program: fmt.Program, xs, density, vectors, seed) -> Source:
    cfg = program.cfg
    x, how = _inputs(xs, program.layers[0].model_in_len, cfg, density, vectors, seed)
    golden = GoldenModel(program)
    outs = golden.run_layers(x)
    layers, inp = [], x
    for e, out in zip(program.layers, outs):
        rows, cols = np.nonzero(fmt.model_matrix(e, cfg.n_pe))
        layers.append(Layer(e.name, e.model_out_len, e.model_in_len, rows, cols, inp))
        inp = fmt.to_model_order(out, e.out_positions)
    return Source(name, layers, chained=True, cfg=cfg,
                  notes=[f"hidden layers' inputs from the golden model of {how}"])


def from_images(folder, xs=None, density: float = 0.5, vectors: int = 4, seed: int = 0) -> Source:
    return _network(str(folder), read_images(folder).program(), xs, density, vectors, seed)


def from_npz(path, cfg: EIEConfig, xs=None, density: float = 0.5, vectors: int = 4, seed: int = 0) -> Source:
    """The layers of `eie compress`'s ``compressed.npz``, in the order written."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise SourceError(f"cannot read {path}: {e}") from None
    names = [k[:-len(".indices")] for k in arrays if k.endswith(".indices")]
    missing = [f"{n}.{what}" for n in names for what in ("codebook", "bias") if f"{n}.{what}" not in arrays]
    if not names or missing:
        raise SourceError(f"{path}: not a compressed model of `eie compress` "
                          f"({'no <layer>.indices' if not names else 'missing ' + missing[0]})")
    layers = [fmt.QuantizedLayer(n, arrays[f"{n}.indices"].astype(np.int64), arrays[f"{n}.codebook"],
                                 arrays[f"{n}.bias"], i < len(names) - 1) for i, n in enumerate(names)]
    program = fmt.encode_network(layers, cfg)
    return _network(str(path), program, xs, density, vectors, seed)


def load_source(path, cfg: EIEConfig, **kw) -> Source:
    """An image folder (holds manifest.json) or a compressed ``.npz``."""
    path = Path(path)
    if path.is_dir():
        return from_images(path, **kw)
    if path.suffix == ".npz":
        return from_npz(path, cfg, **kw)
    raise SourceError(f"{path}: give an image folder or the compressed.npz of `eie compress` "
                      "(compress a float model first)")
