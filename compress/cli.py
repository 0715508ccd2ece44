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

__all__ = ["register", "parse_densities"]


def parse_densities(text: str | None):
    """``"0.08,0.09,0.26"`` or ``"8%,9%,26%"`` -> tuple of fractions; ``auto``/None -> None; ``paper``."""
    from .pipeline import OptionError

    if text is None or text.strip() == "auto":
        return None
    if text.strip() == "paper":
        return "paper"
    out = []
    for part in text.split(","):
        item = part.strip()
        try:
            value = float(item[:-1]) / 100 if item.endswith("%") else float(item)
        except ValueError:
            raise OptionError(f"--density: {item!r} is not a number (use e.g. 0.08 or 8%, or auto, or paper)") from None
        if not 0.0 < value <= 1.0:
            raise OptionError(f"--density: {item!r} is not a fraction in (0, 1] (use e.g. 0.08 or 8%)")
        out.append(value)
    return tuple(out)


def parse_bits(text: str | None):
    """``"4,4,5"`` -> (4, 4, 5); None stays None; ``paper`` (8 for conv, 5 for fully connected)."""
    from .pipeline import OptionError

    if text is None:
        return None
    if text.strip() == "paper":
        return "paper"
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise OptionError(f"--codebook-bits: {text!r} is not a list of whole numbers (e.g. 4 or 3,3,4)") from None


def _add_training_args(p, density_default: str):
    p.add_argument("--density", metavar="D[,D...]|auto|paper", default=None,
                   help="target density per layer (fractions or percentages) or one for all layers; "
                        "'auto': chosen by sensitivity analysis within --max-drop; 'paper': LeNet-300-100's "
                        f"8%%,9%%,26%% (default: {density_default})")
    p.add_argument("--max-drop", type=float, default=0.5, metavar="POINTS",
                   help="automatic densities: accuracy the compressed model may lose against the dense one, "
                        "in points (default 0.5)")
    p.add_argument("--codebook-bits", metavar="B[,B...]|paper",
                   help="bits per codebook index for each layer (2**B - 1 shared values, at most the config's "
                        "v_bits; default: v_bits); 'paper': 8 for conv layers, 5 for fully connected ones")
    p.add_argument("--allow-fixed-point-loss", action="store_true",
                   help="let values the config's number formats cannot hold saturate (or round to 0) with a "
                        "warning and the measured accuracy, instead of an error")
    p.add_argument("--init", choices=("linear", "density", "random"), default="linear",
                   help="k-means centroid initialisation (default: linear, the paper's best)")
    p.add_argument("--prune-steps", type=int, default=4, metavar="N", help="pruning steps (default 4)")
    p.add_argument("--prune-epochs", type=int, default=8, metavar="N",
                   help="retraining epochs after each pruning step (default 8)")
    p.add_argument("--finetune-epochs", type=int, default=5, metavar="N",
                   help="centroid fine-tuning epochs (default 5)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--balance", action="store_true",
                   help="load-balanced row placement in the images: each layer's rows placed to even out "
                        "the PEs' entries, padding included (image format version 2; outputs in model order)")
    p.add_argument("--balanced-prune", action="store_true",
                   help="ESE's load-balance-aware pruning: every PE's share of a layer keeps the same number "
                        "of weights, in every pruning step")


def register(sub):
    p = sub.add_parser("compress", help="Deep Compression of a model file (MLP or conv net), then EIE images "
                                        "and a report",
                       description="Prune, retrain, share weights (k-means), fine-tune and Huffman-account a "
                                   "model of Linear layers (with or without ReLU after each), or a conv net "
                                   "(Conv, ReLU, MaxPool, AveragePool, Flatten, Gemm in ONNX); encode it for an EIE "
                                   "config; write images/, report.md, report.json, plots/ into --out. "
                                   "Classification with cross-entropy on your data (--data FILE.npz).")
    p.add_argument("model", metavar="MODEL",
                   help="state_dict (.pt/.pth) or .npz with <name>.weight/<name>.bias keys (Linear layers), or an "
                        "ONNX file (.onnx; conv nets too)")
    p.add_argument("--config", default="eie", help="preset name or JSON file (default: eie)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (written atomically)")
    p.add_argument("--data", metavar="FILE.npz|mnist|digits",
                   help="your data (.npz with x_train, y_train, x_test, y_test, optionally x_val, y_val) or a "
                        "built-in dataset (default: chosen by the input size: 784 mnist, 64 digits)")
    p.add_argument("--one-shot", action="store_true",
                   help="no training data: prune and quantize without retraining (accuracy may drop)")
    _add_training_args(p, "auto")
    p.set_defaults(handler=run_compress)

    d = sub.add_parser("demo", help="train LeNet-300-100 (or LeNet-5) on the built-in MNIST subset, compress, "
                                    "encode, run the golden model",
                       description="End to end on a built-in model: dense training, Deep Compression, EIE "
                                   "images, report, and dense / compressed / fixed-point accuracy.")
    d.add_argument("--out", required=True, metavar="DIR", help="output folder (written atomically)")
    d.add_argument("--config", default="eie", help="preset name or JSON file (default: eie)")
    d.add_argument("--net", choices=("lenet300", "lenet5"), default="lenet300",
                   help="the built-in network: LeNet-300-100 (default) or LeNet-5 (a conv net: each conv runs on "
                        "the array once per im2col patch)")
    d.add_argument("--dense-epochs", type=int, default=None, metavar="N",
                   help="dense training epochs (default 30 for LeNet-300-100, 15 for LeNet-5)")
    _add_training_args(d, "paper")
    d.set_defaults(handler=run_demo)


def _options(args, one_shot=False, density_default=None):
    from .pipeline import CompressOptions

    densities = parse_densities(args.density if args.density is not None else density_default)
    return CompressOptions(densities=densities, one_shot=one_shot, init=args.init,
                           max_drop=args.max_drop, codebook_bits=parse_bits(args.codebook_bits),
                           allow_fixed_point_loss=args.allow_fixed_point_loss,
                           prune_steps=args.prune_steps, prune_epochs=args.prune_epochs,
                           finetune_epochs=args.finetune_epochs, seed=args.seed, progress=not args.quiet,
                           balance=args.balance, balanced_prune=args.balanced_prune)


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


def _data_for(args, layers, input_shape):
    """The --data argument as a `Dataset` (a file, a built-in name, or chosen by input size)."""
    from .data import dataset_for_inputs, load_dataset
    from .datafile import dataset_from_arrays, load_data_file
    from .pipeline import OptionError

    from .convnet import input_size, output_size

    name = args.data
    n_in = input_size(layers)
    if name is None and not args.one_shot:
        name = dataset_for_inputs(n_in)
        if name is None:
            raise OptionError(f"{args.model}: layer {layers[0].name!r} takes {n_in} inputs and no built-in "
                              "dataset has that many (mnist 784, digits 64); give your data with "
                              "--data FILE.npz, or use --one-shot")
    if name is None:
        return None
    if name in ("mnist", "digits"):
        return load_dataset(name)
    arrays = load_data_file(name)
    return dataset_from_arrays(arrays, input_shape, output_size(layers), source=str(name))


def run_compress(args):
    from eie.config import get_config

    from .pipeline import check_out_dir
    from .loader import load_network
    from .pipeline import compress_layers, write_outputs

    out = Path(args.out)
    check_out_dir(out)
    cfg = get_config(args.config)
    options = _options(args, one_shot=args.one_shot)
    layers, input_shape = load_network(args.model)
    data = _data_for(args, layers, input_shape)
    result = compress_layers(layers, cfg, data, options, source=str(args.model), input_shape=input_shape)
    for w in result.warnings:
        print(f"eie: warning: {w}", file=sys.stderr)
    rep = write_outputs(result, out, config_name=args.config)
    _summary(rep, out)
    return 0


def run_demo(args):
    import dataclasses

    from .demo import DENSE_EPOCHS, LENET5_EPOCHS, LENET5_WEIGHT_DECAY, run_lenet, run_lenet5
    from .pipeline import check_out_dir

    out = Path(args.out)
    check_out_dir(out)
    options = _options(args, density_default="paper")
    run, epochs = (run_lenet5, LENET5_EPOCHS) if args.net == "lenet5" else (run_lenet, DENSE_EPOCHS)
    if args.net == "lenet5":
        options = dataclasses.replace(options, prune_weight_decay=LENET5_WEIGHT_DECAY)
    rep = run(out, args.config, options=options,
              dense_epochs=epochs if args.dense_epochs is None else args.dense_epochs, progress=not args.quiet)
    for w in rep["warnings"]:
        print(f"eie: warning: {w}", file=sys.stderr)
    _summary(rep, out)
    return 0
