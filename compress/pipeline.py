"""The Deep Compression flow, end to end: prune, retrain, share weights, fine-tune, encode.

`compress_layers` takes Linear layers (from `compress.loader`), an `EIEConfig` and,
optionally, a built-in dataset, and returns a `CompressResult`: the compressed layers
as `eie.format.QuantizedLayer`s, the encoded `Program`, accuracies, and what the report
and plots need. `write_outputs` writes images, report and plots into one folder
atomically, running the fixed-point golden model on the images it just wrote.

Without training data (``one_shot``) the flow prunes and quantizes in one step with no
retraining and no fine-tuning, and says so in a warning.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from eie import format as fmt
from eie.config import EIEConfig
from eie.errors import EIEError

from .data import Dataset, DataError
from .loader import LinearLayer
from .models import MLP, evaluate, set_determinism
from .prune import MaskedTraining, iterative_prune, magnitude_mask, prune_once
from .quantize import INIT_METHODS, CentroidTraining, LayerCodes, quantize_model

__all__ = ["CompressOptions", "CompressResult", "OptionError", "default_densities", "compress_layers",
           "write_outputs", "ONE_SHOT_WARNING"]

# Per-layer target densities of known architectures: LeNet-300-100 as in the paper
# (8 %, 9 %, 26 %: 8 % overall).
KNOWN_DENSITIES = {
    (784, 300, 100, 10): (0.08, 0.09, 0.26),
    (64, 32, 10): (0.30, 0.50),
}

ONE_SHOT_WARNING = ("one-shot mode: weights were pruned and quantized without retraining or "
                    "centroid fine-tuning, so accuracy can drop a lot (the paper's LeNet-300-100 "
                    "keeps its accuracy only with retraining); use training data when you have it")


class OptionError(EIEError, ValueError):
    """Compression options that don't fit the model."""


def default_densities(sizes) -> tuple[float, ...]:
    """Target densities: the paper's for LeNet-300-100, else 10 % per layer and 30 % for the last."""
    sizes = tuple(int(s) for s in sizes)
    if sizes in KNOWN_DENSITIES:
        return KNOWN_DENSITIES[sizes]
    n = len(sizes) - 1
    return tuple([0.10] * (n - 1) + [0.30])


@dataclass
class CompressOptions:
    """Knobs of the flow (defaults reach the paper's LeNet-300-100 figures)."""

    densities: tuple[float, ...] | None = None   # per layer; None: `default_densities`
    one_shot: bool = False
    prune_steps: int = 4
    prune_epochs: int = 8           # retraining epochs after each pruning step
    prune_lr: float = 5e-4
    finetune_epochs: int = 5        # centroid fine-tuning epochs
    finetune_lr: float = 1e-4
    init: str = "linear"            # centroid initialisation: linear, density, random
    batch_size: int = 64
    seed: int = 0
    progress: bool = True

    def check(self, n_layers: int):
        if self.init not in INIT_METHODS:
            raise OptionError(f"unknown centroid initialisation {self.init!r}: use one of {', '.join(INIT_METHODS)}")
        if self.densities is not None:
            if len(self.densities) not in (1, n_layers):
                raise OptionError(f"{len(self.densities)} densities given for {n_layers} layers: "
                                  "give one for all layers or one per layer")
            for d in self.densities:
                if not (isinstance(d, (int, float)) and 0.0 < d <= 1.0):
                    raise OptionError(f"a density must be a fraction in (0, 1], not {d!r}")
        for name in ("prune_steps", "batch_size"):
            if getattr(self, name) < 1:
                raise OptionError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("prune_epochs", "finetune_epochs"):
            if getattr(self, name) < 0:
                raise OptionError(f"{name} must not be negative, not {getattr(self, name)}")


@dataclass
class CompressResult:
    """Everything the flow produced; `write_outputs` turns it into files."""

    cfg: EIEConfig
    options: CompressOptions
    densities: tuple[float, ...]
    dense: list[LinearLayer]               # the model as given
    pruned: list[np.ndarray]               # weights after pruning (and retraining), before sharing
    codes: list[LayerCodes]                # final shared weights
    quantized: list[fmt.QuantizedLayer]    # what the encoder got
    program: fmt.Program
    data: Dataset | None
    accuracy: dict = field(default_factory=dict)   # percent; keys dense, pruned, compressed_float
    timings: dict = field(default_factory=dict)    # seconds per stage
    warnings: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def names(self) -> list[str]:
        return [l.name for l in self.dense]


def _check_data(layers: list[LinearLayer], data: Dataset):
    n_in, n_out = layers[0].weight.shape[1], layers[-1].weight.shape[0]
    if data.n_features != n_in:
        raise DataError(f"dataset {data.name} has {data.n_features} features per image but layer "
                        f"{layers[0].name!r} expects {n_in} inputs")
    if data.n_classes > n_out:
        raise DataError(f"dataset {data.name} has {data.n_classes} classes but layer "
                        f"{layers[-1].name!r} has only {n_out} outputs")


def _precheck_capacity(layers: list[LinearLayer], densities, cfg: EIEConfig):
    """Fail before any training if the pruned model cannot fit the config's memories.

    Encodes the one-shot magnitude masks at the target densities (placeholder codebook);
    retraining keeps the densities, so only padding can differ from the final encoding.
    """
    qs = []
    for l, d in zip(layers, densities):
        mask = magnitude_mask(torch.as_tensor(l.weight), d).numpy()
        cb = np.r_[0.0, np.full(cfg.codebook_size - 1, 0.5)]
        qs.append(fmt.QuantizedLayer(l.name, mask.astype(np.int64), cb, np.zeros(l.weight.shape[0]), l.relu))
    fmt.encode_network(qs, cfg)


def compress_layers(layers: list[LinearLayer], cfg: EIEConfig, data: Dataset | None = None,
                    options: CompressOptions | None = None, source: str = "") -> CompressResult:
    """Run the flow on ``layers``; retraining needs ``data`` unless ``options.one_shot``."""
    options = options or CompressOptions()
    options.check(len(layers))
    if data is None and not options.one_shot:
        raise OptionError("retraining needs training data: give a built-in dataset "
                          "(--data mnist|digits) or use --one-shot")
    if data is not None:
        _check_data(layers, data)
    sizes = [layers[0].weight.shape[1]] + [l.weight.shape[0] for l in layers]
    densities = tuple(options.densities or default_densities(sizes))
    if len(densities) == 1:
        densities = densities * len(layers)
    if len(densities) != len(layers):
        raise OptionError(f"{len(densities)} densities for {len(layers)} layers")
    timings, accuracy, warnings = {}, {}, []

    t0 = time.perf_counter()
    _precheck_capacity(layers, densities, cfg)
    set_determinism(options.seed)
    model = MLP.from_arrays([(l.name, l.weight, l.bias) for l in layers])
    if data is not None:
        accuracy["dense"] = evaluate(model, data.x_test, data.y_test)
    train_args = dict(batch_size=options.batch_size, progress=options.progress)

    # 1. Pruning (+ retraining under the masks).
    t = time.perf_counter()
    if options.one_shot:
        warnings.append(ONE_SHOT_WARNING)
        masks = prune_once(model, densities)
    else:
        masks = iterative_prune(model, densities, data, steps=options.prune_steps,
                                epochs=options.prune_epochs, lr=options.prune_lr, seed=options.seed,
                                **train_args)
    MaskedTraining(model, masks).apply()
    timings["prune"] = time.perf_counter() - t
    pruned = [l.weight.detach().numpy().copy() for l in model.layers]
    if data is not None:
        accuracy["pruned"] = evaluate(model, data.x_test, data.y_test)

    # 2. Weight sharing (+ centroid fine-tuning).
    t = time.perf_counter()
    k = cfg.codebook_size - 1
    codes = quantize_model(model, masks, k, options.init, options.seed)
    if data is not None:
        accuracy["quantized"] = evaluate(model, data.x_test, data.y_test)
    if not options.one_shot and options.finetune_epochs > 0:
        trainer = CentroidTraining(model, codes)
        trainer.train(data.x_train, data.y_train, epochs=options.finetune_epochs, lr=options.finetune_lr,
                      seed=options.seed + 100, desc="centroid fine-tuning", **train_args)
        codes = trainer.codes([c.initial for c in codes])
    timings["quantize"] = time.perf_counter() - t
    if data is not None:
        accuracy["compressed_float"] = evaluate(model, data.x_test, data.y_test)

    # 3. The EIE encoding (raises CapacityError naming the layer if it doesn't fit).
    t = time.perf_counter()
    quantized = [fmt.QuantizedLayer(name=l.name, indices=c.indices, codebook=c.codebook,
                                    bias=lin.bias.detach().numpy().astype(np.float64), relu=l.relu)
                 for l, c, lin in zip(layers, codes, model.layers)]
    program = fmt.encode_network(quantized, cfg)
    timings["encode"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    return CompressResult(cfg=cfg, options=options, densities=densities, dense=layers, pruned=pruned,
                          codes=codes, quantized=quantized, program=program, data=data,
                          accuracy=accuracy, timings=timings, warnings=warnings, source=source)


def fixed_point_accuracy(images_dir: Path, cfg: EIEConfig, data: Dataset) -> float:
    """Test accuracy of the bit-exact golden model reading the written images."""
    from eie import numerics
    from eie.images import read_images
    from eie.golden import GoldenModel

    golden = GoldenModel(read_images(images_dir, cfg))
    out = golden.run(numerics.act_from_float(data.x_test, cfg))
    return float(100.0 * np.mean(np.argmax(out, axis=1) == data.y_test))


def write_outputs(result: CompressResult, out_dir: str | Path, config_name: str = "",
                  extra_files=None) -> dict:
    """Write ``images/``, ``report.md``, ``report.json``, ``plots/`` and ``compressed.npz``.

    All or nothing: the folder appears only when everything succeeded. ``extra_files``
    is an optional callback ``f(tmp_dir)`` that adds more files (the demo's dense model).
    Returns the report (a dict).
    """
    from eie.atomic import atomic_dir
    from eie.images import write_images

    from . import plots, report

    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        t = time.perf_counter()
        write_images(result.program, tmp / "images",
                     extra={"source": result.source or "compress", "tool": "eie compress"})
        result.timings["images"] = time.perf_counter() - t
        if result.data is not None:
            t = time.perf_counter()
            result.accuracy["fixed_point"] = fixed_point_accuracy(tmp / "images", result.cfg, result.data)
            result.timings["golden"] = time.perf_counter() - t
        np.savez(tmp / "compressed.npz", **{
            f"{q.name}.{what}": arr for q in result.quantized
            for what, arr in (("indices", np.asarray(q.indices, np.uint8 if result.cfg.v_bits <= 8 else np.int64)),
                              ("codebook", np.asarray(q.codebook, np.float32)),
                              ("bias", np.asarray(q.bias, np.float32)))})
        rep = report.build_report(result, config_name)
        report.write_report(rep, tmp)
        plots.plot_weights(result, tmp / "plots")
        if extra_files is not None:
            extra_files(tmp)
    return rep


def options_dict(options: CompressOptions) -> dict:
    return asdict(options)
