"""`eie compress` and `eie demo`: Deep Compression from the command line.

``eie compress MODEL --config NAME|FILE --out DIR`` compresses a model file (see
`compress.loader` for the convention), encodes it for the config and writes images,
report and plots into DIR atomically. ``eie demo --out DIR`` does the same for a
LeNet-300-100 it first trains on the built-in MNIST subset, and prints the dense,
compressed and fixed-point accuracies. Heavy imports happen inside the handlers.
"""

from __future__ import annotations

import sys
from pathlib import Path

from eie.errors import EIEError

__all__ = ["register", "parse_densities"]


class OutputFolderError(EIEError):
    """An --out folder that is not ours to replace."""


def parse_densities(text: str | None):
    """``"0.08,0.09,0.26"`` or ``"8%,9%,26%"`` -> tuple of fractions (None stays None)."""
    from .pipeline import OptionError

    if text is None:
        return None
    out = []
    for part in text.split(","):
        item = part.strip()
        try:
            value = float(item[:-1]) / 100 if item.endswith("%") else float(item)
        except ValueError:
            raise OptionError(f"--density: {item!r} is not a number (use e.g. 0.08 or 8%)") from None
        if not 0.0 < value <= 1.0:
            raise OptionError(f"--density: {item!r} is not a fraction in (0, 1] (use e.g. 0.08 or 8%)")
        out.append(value)
    return tuple(out)


def _check_out(path: Path):
    """Refuse to replace a folder that isn't an earlier output of ours."""
    if path.exists() and (not path.is_dir() or (any(path.iterdir()) and not (path / "report.json").exists())):
        raise OutputFolderError(f"--out {str(path)!r} exists and is not an earlier `eie compress`/`eie demo` "
                                "output; choose a new folder (it would be replaced)")


def _add_training_args(p):
    p.add_argument("--density", metavar="D[,D...]",
                   help="target density per layer (fractions or percentages), or one for all layers "
                        "(default: the paper's 8%%,9%%,26%% for LeNet-300-100, else 10%% and 30%% for the last)")
    p.add_argument("--init", choices=("linear", "density", "random"), default="linear",
                   help="k-means centroid initialisation (default: linear, the paper's best)")
    p.add_argument("--prune-steps", type=int, default=4, metavar="N", help="pruning steps (default 4)")
    p.add_argument("--prune-epochs", type=int, default=8, metavar="N",
                   help="retraining epochs after each pruning step (default 8)")
    p.add_argument("--finetune-epochs", type=int, default=5, metavar="N",
                   help="centroid fine-tuning epochs (default 5)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def register(sub):
    p = sub.add_parser("compress", help="Deep Compression of an MLP model file, then EIE images and a report",
                       description="Prune, retrain, share weights (k-means), fine-tune and Huffman-account a "
                                   "model of Linear layers with ReLU between them; encode it for an EIE config; "
                                   "write images/, report.md, report.json, plots/ into --out.")
    p.add_argument("model", metavar="MODEL", help="state_dict (.pt/.pth) or .npz with <name>.weight/<name>.bias keys")
    p.add_argument("--config", default="eie", help="preset name or JSON file (default: eie)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (written atomically)")
    p.add_argument("--data", choices=("mnist", "digits"),
                   help="built-in training/test data (default: chosen by the input size: 784 mnist, 64 digits)")
    p.add_argument("--one-shot", action="store_true",
                   help="no training data: prune and quantize without retraining (accuracy may drop)")
    _add_training_args(p)
    p.set_defaults(handler=run_compress)

    d = sub.add_parser("demo", help="train LeNet-300-100 on the built-in MNIST subset, compress, encode, "
                                    "run the golden model",
                       description="End to end on a built-in model: dense training, Deep Compression, EIE "
                                   "images, report, and dense / compressed / fixed-point accuracy.")
    d.add_argument("--out", required=True, metavar="DIR", help="output folder (written atomically)")
    d.add_argument("--config", default="eie", help="preset name or JSON file (default: eie)")
    d.add_argument("--dense-epochs", type=int, default=30, metavar="N", help="dense training epochs (default 30)")
    _add_training_args(d)
    d.set_defaults(handler=run_demo)


def _options(args, one_shot=False):
    from .pipeline import CompressOptions

    return CompressOptions(densities=parse_densities(args.density), one_shot=one_shot, init=args.init,
                           prune_steps=args.prune_steps, prune_epochs=args.prune_epochs,
                           finetune_epochs=args.finetune_epochs, seed=args.seed, progress=not args.quiet)


def _summary(rep: dict, out: Path):
    acc = rep["accuracy"]
    t = rep["total"]
    fmt_acc = lambda k: f"{acc[k]:.2f} %" if k in acc else "n/a"
    print(f"dense accuracy:             {fmt_acc('dense')}")
    print(f"compressed accuracy, float: {fmt_acc('compressed_float')}")
    where = f"  (golden model on {out / 'images'})" if "fixed_point" in acc else ""
    print(f"fixed-point accuracy:       {fmt_acc('fixed_point')}{where}")
    print(f"weights kept:               {t['kept_pct']:.1f} %")
    print(f"compression:                {t['ratio_pruned']:.1f}x pruned, {t['ratio_pq']:.1f}x + quantized, "
          f"{t['ratio_pqh']:.1f}x + Huffman")
    print(f"EIE images:                 {rep['eie_total']['sram_bits'] / 8 / 1024:.1f} KiB "
          f"(dense float32 / images: {rep['eie_total']['ratio']:.1f}x)")
    print(f"report:                     {out / 'report.md'}")


def run_compress(args):
    from eie.config import get_config

    from .data import dataset_for_inputs, load_dataset
    from .loader import load_model
    from .pipeline import ONE_SHOT_WARNING, OptionError, compress_layers, write_outputs

    out = Path(args.out)
    _check_out(out)
    cfg = get_config(args.config)
    options = _options(args, one_shot=args.one_shot)
    layers = load_model(args.model)
    data_name = args.data
    if data_name is None and not args.one_shot:
        data_name = dataset_for_inputs(layers[0].weight.shape[1])
        if data_name is None:
            raise OptionError(f"{args.model}: layer {layers[0].name!r} takes {layers[0].weight.shape[1]} inputs "
                              "and no built-in dataset has that many (mnist 784, digits 64); "
                              "retraining needs data, so use --one-shot")
    data = load_dataset(data_name) if data_name else None
    if args.one_shot:
        print(f"eie: warning: {ONE_SHOT_WARNING}", file=sys.stderr)
    result = compress_layers(layers, cfg, data, options, source=str(args.model))
    rep = write_outputs(result, out, config_name=args.config)
    _summary(rep, out)
    return 0


def run_demo(args):
    from .demo import run_lenet

    out = Path(args.out)
    _check_out(out)
    rep = run_lenet(out, args.config, options=_options(args), dense_epochs=args.dense_epochs,
                    progress=not args.quiet)
    _summary(rep, out)
    return 0
