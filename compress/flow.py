"""One run of the Deep Compression stages at given densities: prune, share weights, encode.

`run_stages` is what `compress.pipeline` calls once for fixed densities and once per
candidate during the automatic density search. It starts from the given float layers
with the same seed every time (so each run is reproducible on its own), and returns a
`Stages` record: the masks (ESE-balanced over the PEs with ``options.balanced_prune``), the weights after pruning, the shared-weight codes, the
layers handed to the encoder, the encoded `Program` and the float test accuracies of each
stage. Fixed-point values that the config cannot hold raise
`eie.numerics.FixedPointError`, unless ``options.allow_fixed_point_loss`` (then each loss is
listed in ``warnings``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from eie import format as fmt
from eie import numerics
from eie.config import EIEConfig

from .convnet import ConvNet, is_conv_net, matrix, network_of
from .loader import LinearLayer
from .models import MLP, evaluate, set_determinism
from .prune import MaskedTraining, iterative_prune, layer_mask, prune_once
from .quantize import CentroidTraining, LayerCodes, quantize_model

__all__ = ["Stages", "run_stages", "build_model", "fixed_point_accuracy", "check_fits"]


@dataclass
class Stages:
    """What one run produced."""

    model: object                          # the compressed float model (shared weights): MLP or ConvNet
    masks: list[torch.Tensor]
    pruned: list[np.ndarray]               # weights after pruning (and retraining), before sharing
    codes: list[LayerCodes]
    quantized: list[fmt.QuantizedLayer]    # what the encoder got
    program: fmt.Program
    accuracy: dict = field(default_factory=dict)   # test split, percent: dense, pruned, quantized, compressed_float
    timings: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def kept_pct(self) -> float:
        kept = sum(int(m.sum()) for m in self.masks)
        return 100.0 * kept / sum(m.numel() for m in self.masks)


def build_model(layers: list[LinearLayer]):
    """The float PyTorch model: an `MLP`, or a `compress.convnet.ConvNet` for a conv net."""
    if is_conv_net(layers):
        return ConvNet(layers)
    return MLP.from_arrays([(l.name, l.weight, l.bias) for l in layers], relus=[l.relu for l in layers])


def check_fits(layers: list[LinearLayer], densities, cfg: EIEConfig, options=None):
    """Raise CapacityError if the pruned model cannot fit the config's memories.

    Encodes the one-shot magnitude masks at the densities (placeholder codebook), balanced
    as ``options`` say; retraining keeps the densities, so only padding can differ from the
    final encoding.
    """
    qs = []
    n_pe = cfg.n_pe if options is not None and options.balanced_prune else None
    for l, d in zip(layers, densities):
        mask = layer_mask(torch.as_tensor(matrix(l)), d, n_pe=n_pe).numpy()
        cb = np.r_[0.0, np.full(cfg.codebook_size - 1, 0.5)]
        qs.append(fmt.QuantizedLayer(l.name, mask.astype(np.int64), cb, np.zeros(l.weight.shape[0]), l.relu))
    fmt.encode_network(qs, cfg, balance=options is not None and options.balance, network=network_of(layers))


def fixed_point_accuracy(program: fmt.Program, x, y) -> float:
    """Accuracy (percent) of the bit-exact golden model on float samples ``x``."""
    from eie.golden import GoldenModel

    pred = GoldenModel(program).classify(np.asarray(x, np.float64))
    return float(100.0 * np.mean(pred == np.asarray(y)))


def _encode(layers, codes, model, cfg: EIEConfig, allow_loss: bool, warnings: list,
            balance: bool = False) -> tuple:
    # A layer with fewer shared values than the config's codebook leaves the top entries unused (0).
    quantized = [fmt.QuantizedLayer(name=l.name, indices=c.indices.reshape(c.indices.shape[0], -1),
                                    codebook=np.r_[c.codebook, np.zeros(cfg.codebook_size - len(c.codebook))],
                                    bias=lin.bias.detach().numpy().astype(np.float64), relu=l.relu)
                 for l, c, lin in zip(layers, codes, model.layers)]
    for q in quantized:
        frac = numerics.choose_weight_frac(q.codebook, cfg)
        used = np.unique(q.indices)
        if allow_loss:
            warnings += [f"layer {q.name}: {p}" for p in
                         numerics.layer_value_problems(q.codebook, frac, q.bias, cfg, used)]
        else:
            numerics.check_layer_values(q.name, q.codebook, frac, q.bias, cfg, used)
    return quantized, fmt.encode_network(quantized, cfg, balance=balance, allow_loss=allow_loss,
                                         network=network_of(layers))


def run_stages(layers: list[LinearLayer], cfg: EIEConfig, data, densities, options) -> Stages:
    """Prune to ``densities`` (retraining unless one-shot), share weights, fine-tune, encode."""
    set_determinism(options.seed)
    model = build_model(layers)
    acc, timings, warnings = {}, {}, []
    test = (lambda: evaluate(model, data.x_test, data.y_test)) if data is not None else None
    if test:
        acc["dense"] = test()
    train_args = dict(batch_size=options.batch_size, progress=options.progress)

    t = time.perf_counter()
    n_pe = cfg.n_pe if options.balanced_prune else None     # ESE: the same count in every PE
    if options.one_shot:
        masks = prune_once(model, densities, n_pe)
    else:
        masks = iterative_prune(model, densities, data, steps=options.prune_steps,
                                epochs=options.prune_epochs, lr=options.prune_lr,
                                weight_decay=options.prune_weight_decay, seed=options.seed,
                                n_pe=n_pe, **train_args)
    MaskedTraining(model, masks).apply()
    timings["prune"] = time.perf_counter() - t
    pruned = [l.weight.detach().numpy().copy() for l in model.layers]
    if test:
        acc["pruned"] = test()

    t = time.perf_counter()
    clusters = options.clusters(cfg, len(layers))
    codes = quantize_model(model, masks, clusters, options.init, options.seed)
    if test:
        acc["quantized"] = test()
    if not options.one_shot and options.finetune_epochs > 0:
        trainer = CentroidTraining(model, codes)
        trainer.train(data.x_train, data.y_train, epochs=options.finetune_epochs, lr=options.finetune_lr,
                      seed=options.seed + 100, desc="centroid fine-tuning", **train_args)
        codes = trainer.codes([c.initial for c in codes])
    timings["quantize"] = time.perf_counter() - t
    if test:
        acc["compressed_float"] = test()

    t = time.perf_counter()
    quantized, program = _encode(layers, codes, model, cfg, options.allow_fixed_point_loss, warnings,
                                 balance=options.balance)
    timings["encode"] = time.perf_counter() - t
    return Stages(model=model, masks=masks, pruned=pruned, codes=codes, quantized=quantized,
                  program=program, accuracy=acc, timings=timings, warnings=warnings)
