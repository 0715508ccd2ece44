"""Regression cases: synthetic networks, odd shapes and the knobs of one RTL run.

A `Case` names one network (generated from a seed, or an image folder on disk), a batch of
input vectors, how the images reach the design (``protocol`` or ``backdoor``) and how hard
the host streams are stressed (random idle cycles, backpressure). `Case.materialise`
writes what the cocotb testbench reads: the image folder and ``inputs.npy``; the
testbench computes the expected outputs itself with the golden model from those images
and the expected cycles with the cycle model.

`network_for` generates every kind of network the sweep needs: random layers at given
weight and input densities, and the odd shapes (rows not divisible by the PE count, a
single column, all-zero inputs, all-zero columns, runs longer than the z field, saturating
sums, multi-layer). Everything is a function of the case's seed. A case with ``balance``
encodes its network with balanced row positions (`eie.balance`) instead of interleaving.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, asdict
from pathlib import Path

import numpy as np

from eie import format as fmt
from eie.config import EIEConfig
from eie.images import write_images

__all__ = ["Case", "KINDS", "network_for", "fits", "regression_config", "save_cases", "load_cases"]

KINDS = ("random", "ragged_rows", "single_column", "zero_input", "zero_columns", "long_runs",
         "saturate", "multilayer", "images")


def regression_config(n_pe: int, queue_depth: int, entries_per_word: int = 4, host_bits: int = 8,
                      **changes) -> EIEConfig:
    """A config of the sweep: vectors up to ``max(32 * n_pe, 512)`` long, four layers of
    up to ``max(24, 10 * n_pe)`` inputs each, ``max(2048, 128 * n_pe)`` stored entries per PE.

    Memories are no bigger than the sweep's networks need: their size is most of the
    generated Verilog and of the Verilator build time."""
    act_depth = max(32, -(-512 // n_pe))
    max_in = min(act_depth * n_pe, max(24, 10 * n_pe))
    entries = max(2048, 128 * n_pe)
    base = dict(n_pe=n_pe, queue_depth=queue_depth, v_bits=4, z_bits=4,
                entries_per_word=entries_per_word, act_bits=16, act_frac=8, weight_bits=16,
                acc_bits=32, ptr_depth=4 * (max_in + 2), spmat_depth=-(-entries // entries_per_word),
                act_depth=act_depth, bias_depth=4 * act_depth, max_layers=4, host_bits=host_bits)
    base.update(changes)
    return EIEConfig(**base)


@dataclass
class Case:
    """One RTL run: a network, its inputs, and the knobs of the run.

    ``kind`` selects the generator (see `KINDS`); ``shape`` is the list of layer lengths
    ``[in_len, out_1, out_2, ...]``; ``images`` (kind ``images``) is an existing folder
    and ``inputs`` its ``.npy`` of fixed-point input vectors.
    """

    name: str
    cfg: EIEConfig
    kind: str = "random"
    shape: list[int] = field(default_factory=lambda: [16, 16])
    weight_density: float = 0.2
    input_density: float = 0.5
    n_vectors: int = 2
    seed: int = 0
    load: str = "protocol"          # "protocol" or "backdoor"
    idle: float = 0.0               # probability of an idle cycle on host_rx
    backpressure: float = 0.0       # probability of ready low on host_tx
    images: str | None = None       # kind "images": an existing image folder
    inputs: str | None = None       # kind "images": .npy of fixed-point inputs
    tags: dict = field(default_factory=dict)
    balance: bool = False           # balanced row positions instead of row i in PE i % N

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown case kind {self.kind!r}; one of {', '.join(KINDS)}")
        if self.load not in ("protocol", "backdoor"):
            raise ValueError(f"load must be 'protocol' or 'backdoor', not {self.load!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cfg"] = self.cfg.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Case":
        d = dict(d)
        d["cfg"] = EIEConfig.from_dict(d["cfg"])
        return cls(**d)

    @property
    def stressed(self) -> bool:
        return self.idle > 0 or self.backpressure > 0

    def materialise(self, folder: Path) -> dict:
        """Write images and inputs under ``folder``; return the testbench's case record."""
        folder = Path(folder).resolve()
        if self.kind == "images":
            images, inputs = Path(self.images).resolve(), Path(self.inputs).resolve()
        else:
            layers, x = network_for(self)
            program = fmt.encode_network(layers, self.cfg, allow_loss=True, balance=self.balance)
            images = write_images(program, folder / "images", extra={"case": self.name})
            inputs = folder / "inputs.npy"
            np.save(inputs, x)
        rec = self.to_dict()
        rec.update(images=str(images), inputs=str(inputs))
        return rec


# ---- network generators ---------------------------------------------------------------------

def _codebook(rng, cfg: EIEConfig, scale: float) -> np.ndarray:
    return np.r_[0.0, rng.normal(0.0, scale, cfg.codebook_size - 1)]


def _indices(rng, cfg, out_len, in_len, density) -> np.ndarray:
    mask = rng.random((out_len, in_len)) < density
    return (rng.integers(1, cfg.codebook_size, (out_len, in_len)) * mask).astype(np.int64)


def _inputs(rng, cfg, n, in_len, density, lo=None, hi=None) -> np.ndarray:
    lo = -(1 << (cfg.act_frac + 2)) if lo is None else lo
    hi = (1 << (cfg.act_frac + 2)) if hi is None else hi
    x = rng.integers(lo, hi + 1, (n, in_len)) * (rng.random((n, in_len)) < density)
    return np.clip(x, cfg.act_min, cfg.act_max).astype(np.int64)


def network_for(case: Case) -> tuple[list[fmt.QuantizedLayer], np.ndarray]:
    """The case's layers (as the compressor would hand them) and its input batch."""
    rng = np.random.default_rng(case.seed)
    cfg, shape, kind = case.cfg, list(case.shape), case.kind
    wd, xd, n = case.weight_density, case.input_density, case.n_vectors
    layers = []
    for i, (a, b) in enumerate(zip(shape[:-1], shape[1:])):
        idx = _indices(rng, cfg, b, a, wd)
        scale = 0.5 / np.sqrt(max(1.0, a * wd))      # keeps activations in range, layer after layer
        cb = _codebook(rng, cfg, scale)
        bias = rng.normal(0.0, 0.25, b)
        relu = i < len(shape) - 2 or bool(rng.integers(2))
        if kind == "zero_columns":
            dead = rng.random(a) < 0.4
            idx[:, dead] = 0
        elif kind == "long_runs":
            # Each PE's slice of a column holds a few entries far apart: gaps of 16..3*16+ rows.
            idx[:] = 0
            for j in range(a):
                for r in rng.choice(b, size=min(b, int(rng.integers(0, 3))), replace=False):
                    idx[r, j] = rng.integers(1, cfg.codebook_size)
            # One column with the longest possible gap in PE 0: first and last of its rows.
            idx[0, 0] = 1
            idx[((b - 1) // cfg.n_pe) * cfg.n_pe, 0] = 2
        elif kind == "saturate":
            # Huge weights and inputs: partial sums leave the accumulator range both ways,
            # and outputs leave the activation range.
            cb = np.r_[0.0, rng.choice([-1, 1], cfg.codebook_size - 1) * rng.uniform(60, 127, cfg.codebook_size - 1)]
            bias = rng.normal(0.0, 50.0, b)
            relu = bool(rng.integers(2)) if i == len(shape) - 2 else relu
        layers.append(fmt.QuantizedLayer(f"l{i}", idx, cb, bias, relu))
    a0 = shape[0]
    if kind == "zero_input":
        x = np.zeros((n, a0), np.int64)
    elif kind == "saturate":
        x = _inputs(rng, cfg, n, a0, xd, cfg.act_min, cfg.act_max)
    else:
        x = _inputs(rng, cfg, n, a0, xd)
    return layers, x


def fits(case: Case) -> str | None:
    """None when the case's network fits its config, else why not."""
    if case.kind == "images":
        return None
    try:
        layers, _ = network_for(case)
        fmt.encode_network(layers, case.cfg, allow_loss=True, balance=case.balance)
    except fmt.FormatError as e:
        return str(e)
    return None


def save_cases(records: list[dict], path: Path):
    Path(path).write_text(json.dumps(records, indent=1) + "\n")


def load_cases(path: Path) -> list[dict]:
    return json.loads(Path(path).read_text())
