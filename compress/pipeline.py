"""The Deep Compression flow, end to end: checks, densities, the stages, the outputs.

`compress_layers` takes Linear layers (from `compress.loader`, `compress.onnx_reader` or
`compress.api`), an `EIEConfig` and, optionally, a `Dataset` (built-in or your own
file), and returns a `CompressResult`. In order:

1. the data is checked against the model, and the float model's weights, biases, inputs
   and activations against the config's number formats (`compress.calibrate`), before any
   training;
2. densities: given ones (``--density``; ``paper`` for LeNet-300-100's 8 %, 9 %, 26 %), or
   automatic (`compress.sensitivity`: sensitivity analysis on the validation split, then
   the sparsest candidate whose fixed-point validation accuracy stays within ``max_drop``
   points of the dense model's);
3. the stages (`compress.flow.run_stages`): prune + retrain, k-means + fine-tune, encode;
4. the encoded network is run on the calibration data in exact integer arithmetic: any
   saturation is an error naming the layer (or, allowed, a warning); the fixed-point
   accuracy is measured on the test split, and a result that misses the budget is warned.

`write_outputs` writes images, report and plots into one folder atomically, running the
fixed-point golden model on the images it just wrote. Without training data
(``one_shot``) the flow prunes and quantizes in one step and says so in a warning.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from eie import format as fmt
from eie import numerics
from eie.config import EIEConfig
from eie.errors import EIEError

from . import calibrate
from .data import Dataset, DataError, with_validation
from .flow import build_model, check_fits, fixed_point_accuracy, run_stages
from .convnet import input_size, is_conv_net, output_size
from .loader import ConvLayer, LinearLayer
from .quantize import INIT_METHODS, LayerCodes
from .selection import select_densities

__all__ = ["CompressOptions", "CompressResult", "OptionError", "OutputFolderError", "check_out_dir", "default_densities", "compress_layers",
           "write_outputs", "ONE_SHOT_WARNING", "CARVED_WARNING", "PAPER_DENSITIES", "PAPER_BITS",
           "architecture", "paper_bits"]

# The paper's per-layer densities (Deep Compression, Tables 2 and 3), by the layers' weight
# shapes: LeNet-300-100 8 %, 9 %, 26 % (8 % overall); LeNet-5 66 %, 12 %, 8 %, 19 % (8 %).
PAPER_DENSITIES = {
    ((300, 784), (100, 300), (10, 100)): (0.08, 0.09, 0.26),
    ((20, 1, 5, 5), (50, 20, 5, 5), (500, 800), (10, 500)): (0.66, 0.12, 0.08, 0.19),
}
PAPER_NAMES = {((300, 784), (100, 300), (10, 100)): "LeNet-300-100 (784-300-100-10)",
               ((20, 1, 5, 5), (50, 20, 5, 5), (500, 800), (10, 500)): "LeNet-5 (conv 20@5x5, conv 50@5x5, "
                                                                        "fc 500, fc 10)"}
# The paper's codebook bits: 8 for conv layers, 5 for fully connected ones (Table 3).
PAPER_BITS = {"conv": 8, "fc": 5}

ONE_SHOT_WARNING = ("one-shot mode: weights were pruned and quantized without retraining or "
                    "centroid fine-tuning, so accuracy can drop a lot (the paper's LeNet-300-100 "
                    "keeps its accuracy only with retraining); use training data when you have it")


CARVED_WARNING = ("automatic densities without a validation split: it was held out of the training split, "
                  "which the given model was trained on, so the search sees accuracies on samples the model "
                  "has memorised and may prune too hard; give x_val/y_val held out of your own training "
                  "(the test accuracy below shows the real cost)")


class OptionError(EIEError, ValueError):
    """Compression options that don't fit the model."""


class OutputFolderError(EIEError):
    """An --out folder that is not ours to replace."""


def check_out_dir(path: Path):
    """Refuse to replace a folder that isn't an earlier output of ours."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or (any(path.iterdir()) and not (path / "report.json").exists())):
        raise OutputFolderError(f"--out {str(path)!r} exists and is not an earlier `eie compress`/`eie demo` "
                                "output; choose a new folder (it would be replaced)")


def architecture(layers) -> tuple:
    """The layers' weight shapes: what `PAPER_DENSITIES` is keyed by."""
    return tuple(tuple(int(d) for d in l.weight.shape) for l in layers)


def default_densities(layers) -> tuple[float, ...]:
    """One-shot without data: the paper's for its networks, else 10 % per layer and 30 % for the last."""
    key = architecture(layers)
    if key in PAPER_DENSITIES:
        return PAPER_DENSITIES[key]
    n = len(layers)
    return tuple([0.10] * (n - 1) + [0.30])


def paper_bits(layers) -> tuple[int, ...]:
    """The paper's codebook bits per layer: 8 for a conv, 5 for a fully connected layer."""
    return tuple(PAPER_BITS["conv" if isinstance(l, ConvLayer) else "fc"] for l in layers)


@dataclass
class CompressOptions:
    """Knobs of the flow.

    ``densities``: one per layer or one for all; ``"paper"`` (LeNet-300-100 and LeNet-5); None:
    automatic with data (one-shot without data: `default_densities`). ``codebook_bits``:
    bits of each layer's codebook index for storage (``2**b - 1`` shared values, at most
    the config's ``v_bits``); None: ``v_bits`` for every layer; ``"paper"``: 8 for conv
    layers, 5 for fully connected ones (`paper_bits`; a config with ``v_bits >= 8`` holds
    them). ``balance``: the images place each layer's rows to even out the PEs' entries
    (`eie.format.encode_network(..., balance=True)`, image format version 2; fully connected
    networks only). ``balanced_prune``: ESE's load-balance-aware pruning, every PE's share of
    a layer keeping the same count (`compress.prune.balanced_mask`), in every pruning step.
    """

    densities: tuple[float, ...] | str | None = None
    max_drop: float = 0.5           # points of accuracy the automatic densities may lose
    allow_fixed_point_loss: bool = False
    one_shot: bool = False
    prune_steps: int = 4
    prune_epochs: int = 8           # retraining epochs after each pruning step
    prune_lr: float = 5e-4
    prune_weight_decay: float = 1e-4  # L2 (Adam's weight_decay) while retraining under the masks
    finetune_epochs: int = 5        # centroid fine-tuning epochs
    finetune_lr: float = 1e-4
    init: str = "linear"            # centroid initialisation: linear, density, random
    codebook_bits: tuple[int, ...] | str | None = None
    batch_size: int = 64
    seed: int = 0
    progress: bool = True
    balance: bool = False           # load-balanced row placement in the images
    balanced_prune: bool = False    # ESE's load-balance-aware pruning

    def check(self, n_layers: int, cfg: EIEConfig | None = None):
        if self.init not in INIT_METHODS:
            raise OptionError(f"unknown centroid initialisation {self.init!r}: use one of {', '.join(INIT_METHODS)}")
        if isinstance(self.densities, str):
            if self.densities != "paper":
                raise OptionError(f"densities must be numbers, 'paper' or None (automatic), not {self.densities!r}")
        elif self.densities is not None:
            _check_count("densities", self.densities, n_layers)
            for d in self.densities:
                if not (isinstance(d, (int, float)) and 0.0 < d <= 1.0):
                    raise OptionError(f"a density must be a fraction in (0, 1], not {d!r}")
        if isinstance(self.codebook_bits, str):
            raise OptionError(f"codebook bits must be numbers or 'paper', not {self.codebook_bits!r}")
        if self.codebook_bits is not None:
            _check_count("codebook bits", self.codebook_bits, n_layers)
            top = cfg.v_bits if cfg is not None else 8
            for b in self.codebook_bits:
                if not (isinstance(b, int) and 1 <= b <= top):
                    raise OptionError(f"codebook bits must be whole numbers 1 .. {top} (the config's v_bits; "
                                      f"the paper's 8-bit conv codebooks need a config with v_bits = 8), "
                                      f"not {b!r}")
        if not (isinstance(self.max_drop, (int, float)) and 0 <= self.max_drop < 100):
            raise OptionError(f"max_drop is points of accuracy, 0 <= max_drop < 100, not {self.max_drop!r}")
        for name in ("prune_steps", "batch_size"):
            if getattr(self, name) < 1:
                raise OptionError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("prune_epochs", "finetune_epochs"):
            if getattr(self, name) < 0:
                raise OptionError(f"{name} must not be negative, not {getattr(self, name)}")
        for name, flag in (("balance", "--balance"), ("balanced_prune", "--balanced-prune")):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise OptionError(f"{name} must be True or False, not {value!r}")
            if value and cfg is not None and cfg.n_pe < 2:
                raise OptionError(f"{flag} ({name}=True) balances work over PEs, but the config has "
                                  f"{cfg.n_pe} PE: use a config with 2 or more PEs, or leave it out")

    def clusters(self, cfg: EIEConfig, n_layers: int) -> list[int]:
        """Shared values per layer: ``2**bits - 1`` (entry 0 is the zero weight)."""
        bits = self.codebook_bits or (cfg.v_bits,)
        bits = bits * n_layers if len(bits) == 1 else bits
        return [(1 << b) - 1 for b in bits]


def _check_count(what: str, values, n_layers: int):
    if len(values) not in (1, n_layers):
        raise OptionError(f"{len(values)} {what} given for {n_layers} layers: "
                          "give one for all layers or one per layer")


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
    accuracy: dict = field(default_factory=dict)   # test split, percent
    validation: dict = field(default_factory=dict)  # validation split, percent (dense, fixed_point)
    selection: dict | None = None          # automatic densities: sensitivity curves and trials
    timings: dict = field(default_factory=dict)    # seconds per stage
    warnings: list[str] = field(default_factory=list)
    source: str = ""
    input_shape: tuple[int, ...] = ()
    report: dict | None = None             # set by `write_outputs`

    @property
    def names(self) -> list[str]:
        return [l.name for l in self.dense]


def _check_data(layers: list[LinearLayer], data: Dataset):
    n_in, n_out = input_size(layers), output_size(layers)
    if data.n_features != n_in:
        raise DataError(f"data {data.name} has {data.n_features} features per sample but layer "
                        f"{layers[0].name!r} expects {n_in} inputs")
    if data.n_classes > n_out:
        raise DataError(f"data {data.name} has labels up to {data.n_classes - 1} but layer "
                        f"{layers[-1].name!r} has only {n_out} outputs")


def _densities(layers: list[LinearLayer], options: CompressOptions, data) -> tuple[float, ...] | None:
    """The given densities per layer, or None for the automatic selection."""
    key = architecture(layers)
    d = options.densities
    if d == "paper":
        if key not in PAPER_DENSITIES:
            what = ("weights " + ", ".join("x".join(map(str, k)) for k in key) if is_conv_net(layers) else
                    "-".join(map(str, [int(layers[0].weight.shape[1])] + [int(l.weight.shape[0]) for l in layers])))
            raise OptionError(f"the paper's densities are known for {' and '.join(PAPER_NAMES.values())}, "
                              f"not for {what}; give densities or leave them automatic")
        return PAPER_DENSITIES[key]
    if d is None:
        return default_densities(layers) if options.one_shot else None
    return tuple(d) * len(layers) if len(d) == 1 else tuple(d)


def _problems(found: list[str], allow: bool, warnings: list[str], when: str):
    if not found:
        return
    if not allow:
        raise numerics.FixedPointError(
            f"{when}: " + "; ".join(found) + " (use a config with wider number formats, rescale the data, "
            "or accept the loss with --allow-fixed-point-loss / allow_fixed_point_loss=True)")
    warnings += [f"fixed point ({when}): {p}" for p in found]


def compress_layers(layers: list[LinearLayer], cfg: EIEConfig, data: Dataset | None = None,
                    options: CompressOptions | None = None, source: str = "",
                    input_shape=None) -> CompressResult:
    """Run the flow on ``layers``; retraining needs ``data`` unless ``options.one_shot``."""
    options = options or CompressOptions()
    if options.codebook_bits == "paper":
        options = dataclasses.replace(options, codebook_bits=paper_bits(layers))
    options.check(len(layers), cfg)
    if data is None and not options.one_shot:
        raise OptionError("retraining needs training data: give a data file (--data FILE.npz), a "
                          "built-in dataset (--data mnist|digits), or use --one-shot")
    if data is not None:
        _check_data(layers, data)
    densities = _densities(layers, options, data)
    timings, warnings = {}, [ONE_SHOT_WARNING] if options.one_shot else []
    t0 = time.perf_counter()
    if densities is not None:
        check_fits(layers, densities, cfg, options)
    if data is not None:
        what = f"the calibration data ({data.name}: training and validation splits)"
        _problems(calibrate.dense_range_problems(build_model(layers), data.calibration(), cfg, what),
                  options.allow_fixed_point_loss, warnings, "before compression, float model")

    selection = None
    if densities is None:
        if not data.has_validation:
            warnings.append(CARVED_WARNING)
        data = with_validation(data, seen_by_model=True)   # no-op when it has one
        t = time.perf_counter()
        stages, densities, selection = select_densities(layers, cfg, data, options, warnings)
        timings["density_selection"] = time.perf_counter() - t
    else:
        stages = run_stages(layers, cfg, data, densities, options)
    timings.update(stages.timings)
    warnings += stages.warnings
    accuracy, validation = dict(stages.accuracy), {}
    if data is not None:
        what = f"the calibration data ({data.name}: training and validation splits)"
        _problems(calibrate.fixed_point_problems(stages.program, data.calibration(), what),
                  options.allow_fixed_point_loss, warnings, "compressed model")
        accuracy["fixed_point"] = fixed_point_accuracy(stages.program, data.x_test, data.y_test)
        if data.has_validation:
            validation = {"dense": selection["dense_val"] if selection else
                          _float_accuracy(layers, data.x_val, data.y_val),
                          "fixed_point": fixed_point_accuracy(stages.program, data.x_val, data.y_val)}
        _budget(accuracy, options, warnings)
    else:
        warnings.append("no data: activation ranges were not calibrated and no accuracy was measured")
    timings["total"] = time.perf_counter() - t0
    return CompressResult(cfg=cfg, options=options, densities=tuple(densities), dense=layers,
                          pruned=stages.pruned, codes=stages.codes, quantized=stages.quantized,
                          program=stages.program, data=data, accuracy=accuracy, validation=validation,
                          selection=selection, timings=timings, warnings=warnings, source=source,
                          input_shape=tuple(input_shape or _input_shape(layers)))


def _input_shape(layers) -> tuple[int, ...]:
    first = layers[0]
    return tuple(first.in_shape) if isinstance(first, ConvLayer) else (int(first.weight.shape[1]),)


def _float_accuracy(layers, x, y) -> float:
    from .models import evaluate

    return evaluate(build_model(layers), x, y)


def _budget(accuracy: dict, options: CompressOptions, warnings: list[str]):
    """Warn, with the figures, when the fixed-point test accuracy misses the budget."""
    if options.one_shot:
        return
    drop = accuracy["dense"] - accuracy["fixed_point"]
    if drop > options.max_drop + 1e-9:
        warnings.append(f"the result misses the accuracy budget: fixed-point test accuracy "
                        f"{accuracy['fixed_point']:.2f} % is {drop:.2f} points below the dense model's "
                        f"{accuracy['dense']:.2f} % (budget {options.max_drop:g} points)")


def fixed_point_accuracy_of_images(images_dir: Path, cfg: EIEConfig, data: Dataset) -> float:
    """Test accuracy of the bit-exact golden model reading the written images."""
    from eie.golden import GoldenModel
    from eie.images import read_images

    golden = GoldenModel(read_images(images_dir, cfg))
    return float(100.0 * np.mean(golden.classify(data.x_test.astype(np.float64)) == data.y_test))


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
            from_images = fixed_point_accuracy_of_images(tmp / "images", result.cfg, result.data)
            if from_images != result.accuracy["fixed_point"]:   # the images are not the program: a bug
                raise RuntimeError(f"golden model on the written images: {from_images} %, on the program "
                                   f"in memory: {result.accuracy['fixed_point']} %")
            result.timings["golden"] = time.perf_counter() - t
        np.savez(tmp / "compressed.npz", **{
            f"{q.name}.{what}": arr for q in result.quantized
            for what, arr in (("indices", np.asarray(q.indices, np.uint8 if result.cfg.v_bits <= 8 else np.int64)),
                              ("codebook", np.asarray(q.codebook, np.float32)),
                              ("bias", np.asarray(q.bias, np.float32)))})
        rep = report.build_report(result, config_name)
        report.write_report(rep, tmp)
        plots.plot_weights(result, tmp / "plots")
        if result.selection is not None:
            plots.plot_sensitivity(result.selection, result.densities, result.names, tmp / "plots")
        if extra_files is not None:
            extra_files(tmp)
    result.report = rep
    return rep


def options_dict(options: CompressOptions) -> dict:
    return asdict(options)
