"""A small CNN as a user brings it: plain PyTorch, exported to ONNX, with its own data file.

Nothing here uses the project's training code: an ``nn.Sequential`` (conv 12@5x5 stride 2
padding 2, ReLU, max pool 2x2; conv 24@3x3 padding 1, ReLU, average pool 2x2 stride 2
padding 1 without the padding in the divisor; flatten; linear 384 -> 10) is trained with a
hand-written Adam loop (lr 3e-3, 10 epochs, ~96 % on the test split) on the MNIST subset's training split less a held-out validation
split, exported with ``torch.onnx.export``, and saved with its data as an .npz data file
(images as ``(N, 1, 28, 28)``). `write_example` makes the two files; ``eie compress
small_cnn.onnx --data small_cnn_data.npz`` (automatic densities) compresses it, which the
acceptance test (``tests/test_compress_own_model.py``) and the RTL regression
(`sim.cnn_regression.cnn_cases`) do.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

__all__ = ["small_cnn", "train_small_cnn", "write_example", "EPOCHS", "LR", "ONNX_NAME", "DATA_NAME"]

EPOCHS = 10
LR = 3e-3
ONNX_NAME = "small_cnn.onnx"
DATA_NAME = "small_cnn_data.npz"


def small_cnn():
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 12, 5, stride=2, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(12, 24, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2, stride=2, padding=1, count_include_pad=False),
        nn.Flatten(), nn.Linear(24 * 4 * 4, 10))


def train_small_cnn(x, y, *, seed: int = 0, epochs: int = EPOCHS):
    """A plain training loop (Adam, lr `LR`, batches of 64), one thread, seeded."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    model = small_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return model.eval()


def write_example(folder: str | Path, seed: int = 0) -> tuple[Path, Path, float]:
    """Train the small CNN, write ``small_cnn.onnx`` and ``small_cnn_data.npz`` into ``folder``;
    return both paths and the model's dense test accuracy (percent) as PyTorch computes it."""
    import torch

    from eie.atomic import atomic_write_bytes

    from .data import load_dataset, split_validation

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    mnist = load_dataset("mnist")
    tr, va = split_validation(mnist.y_train, 0.15, seed)
    shape = (-1, 1, 28, 28)
    x_tr, y_tr = mnist.x_train[tr].reshape(shape), mnist.y_train[tr]
    model = train_small_cnn(x_tr, y_tr, seed=seed)
    with torch.no_grad():
        pred = model(torch.tensor(mnist.x_test.reshape(shape))).argmax(1).numpy()
    accuracy = float(100.0 * np.mean(pred == mnist.y_test))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")    # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), buf, dynamo=False, input_names=["image"],
                          output_names=["logits"])
    atomic_write_bytes(folder / ONNX_NAME, buf.getvalue())
    data = io.BytesIO()
    np.savez(data, x_train=x_tr, y_train=y_tr, x_val=mnist.x_train[va].reshape(shape), y_val=mnist.y_train[va],
             x_test=mnist.x_test.reshape(shape), y_test=mnist.y_test)
    atomic_write_bytes(folder / DATA_NAME, data.getvalue())
    return folder / ONNX_NAME, folder / DATA_NAME, accuracy
