"""MLP models for Deep Compression: Linear layers with ReLU between them.

`MLP` holds named `torch.nn.Linear` layers in forward order, each followed by a ReLU or
not (default: ReLU after every layer but the last, the model-file convention of
`compress.loader`; ONNX files and `nn.Sequential`s say it per layer). Built-in architectures: LeNet-300-100 (784-300-100-10, Han et al.) for
the MNIST subset and a 64-32-10 MLP for scikit-learn's digits.

`fit` is the one training loop (dense training, retraining under pruning masks, centroid
fine-tuning); callers plug in what differs through ``after_backward`` / ``after_step``.
Runs are deterministic: fixed seeds, deterministic algorithms, one thread.
"""

from __future__ import annotations

import collections

import numpy as np
import torch
from torch import nn

__all__ = ["MLP", "ARCHITECTURES", "named_state", "set_determinism", "fit", "evaluate", "predict", "train_dense"]

# name -> (layer sizes, built-in dataset); LeNet-5 is a conv net (`compress.demo.lenet5`).
ARCHITECTURES = {
    "lenet300": ((784, 300, 100, 10), "mnist"),
    "digits": ((64, 32, 10), "digits"),
}


def set_determinism(seed: int):
    """Seed torch and numpy; deterministic kernels; one thread (results don't depend on cores)."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


def named_state(names, layers) -> "collections.OrderedDict[str, torch.Tensor]":
    """``<name>.weight`` and ``<name>.bias`` of each layer, in order (the model file convention;
    `MLP` and `compress.convnet.ConvNet` both give their state this way)."""
    out = collections.OrderedDict()
    for name, layer in zip(names, layers):
        out[f"{name}.weight"] = layer.weight.detach().clone()
        out[f"{name}.bias"] = layer.bias.detach().clone()
    return out


class MLP(nn.Module):
    """Linear layers in order, each optionally followed by a ReLU (``relus``).

    Layer names are kept apart from the module tree because names read from model files
    may contain dots (``net.0``); `named_state` gives back ``<name>.weight/.bias`` keys.
    """

    def __init__(self, sizes, names=None, relus=None):
        super().__init__()
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"an MLP needs at least an input and an output size, not {sizes}")
        n = len(sizes) - 1
        self.names = list(names) if names is not None else [f"fc{i + 1}" for i in range(n)]
        if len(self.names) != n:
            raise ValueError(f"{n} layers but {len(self.names)} names")
        self.relus = [bool(r) for r in relus] if relus is not None else [i < n - 1 for i in range(n)]
        if len(self.relus) != n:
            raise ValueError(f"{n} layers but {len(self.relus)} ReLU flags")
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))

    @classmethod
    def from_arrays(cls, layers, relus=None) -> "MLP":
        """From ``[(name, weight (out, in), bias (out,)), ...]`` (numpy or torch)."""
        sizes = [np.shape(layers[0][1])[1]] + [np.shape(w)[0] for _, w, _ in layers]
        model = cls(sizes, [name for name, _, _ in layers], relus)
        with torch.no_grad():
            for lin, (_, w, b) in zip(model.layers, layers):
                lin.weight.copy_(torch.as_tensor(np.asarray(w, np.float32)))
                lin.bias.copy_(torch.as_tensor(np.asarray(b, np.float32)))
        return model

    @property
    def sizes(self) -> list[int]:
        return [self.layers[0].in_features] + [l.out_features for l in self.layers]

    def forward(self, x):
        for layer, relu in zip(self.layers, self.relus):
            x = layer(x)
            if relu:
                x = torch.relu(x)
        return x

    def pre_activations(self, x) -> list[torch.Tensor]:
        """Every layer's outputs before its ReLU (calibration)."""
        out = []
        for layer, relu in zip(self.layers, self.relus):
            y = layer(x)
            out.append(y)
            x = torch.relu(y) if relu else y
        return out

    def named_state(self) -> "collections.OrderedDict[str, torch.Tensor]":
        """``<name>.weight`` and ``<name>.bias`` in forward order (the model file convention)."""
        return named_state(self.names, self.layers)

    def arrays(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        return [(n, l.weight.detach().numpy().copy(), l.bias.detach().numpy().copy())
                for n, l in zip(self.names, self.layers)]


def _batches(n: int, batch_size: int, generator: torch.Generator):
    order = torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def fit(model: MLP, x: np.ndarray, y: np.ndarray, optimizer: torch.optim.Optimizer, *,
        epochs: int, batch_size: int = 64, seed: int = 0, desc: str = "train",
        progress: bool = True, after_backward=None, after_step=None, scheduler=None):
    """Train with cross-entropy; shuffling is seeded by ``seed``.

    ``after_backward()`` runs between ``backward`` and the optimizer step (gradient
    masking, centroid gradients); ``after_step()`` after it (re-applying masks, writing
    shared weights back). ``scheduler`` (per epoch) is optional.
    """
    from tqdm.auto import tqdm

    xt = torch.as_tensor(np.asarray(x, np.float32))
    yt = torch.as_tensor(np.asarray(y, np.int64))
    gen = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False, unit="epoch")
    for _ in bar:
        total, count = 0.0, 0
        for idx in _batches(len(xt), batch_size, gen):
            optimizer.zero_grad(set_to_none=False)
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            if after_backward is not None:
                after_backward()
            optimizer.step()
            if after_step is not None:
                after_step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        if scheduler is not None:
            scheduler.step()
        bar.set_postfix(loss=f"{total / max(count, 1):.4f}")
    model.eval()


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    model.eval()
    xt = torch.as_tensor(np.asarray(x, np.float32))
    out = [model(xt[i:i + batch_size]).argmax(dim=1) for i in range(0, len(xt), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros(0, np.int64)


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy in percent."""
    return float(100.0 * np.mean(predict(model, x) == np.asarray(y)))


def train_dense(sizes, data, *, epochs: int = 30, lr: float = 1e-3, weight_decay: float = 1e-4,
                batch_size: int = 64, seed: int = 0, progress: bool = True, names=None, model=None) -> nn.Module:
    """The dense baseline: Adam with L2 weight decay (small weights prune better).

    An MLP of ``sizes``, or ``model`` (a callable returning a fresh module, called after the
    seed is set: a conv net) instead."""
    set_determinism(seed)
    model = MLP(sizes, names) if model is None else model()
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    fit(model, data.x_train, data.y_train, opt, epochs=epochs, batch_size=batch_size, seed=seed,
        desc="dense training", progress=progress)
    return model
