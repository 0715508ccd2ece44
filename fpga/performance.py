"""Modeled throughput of a compressed model on a built array, for the build report.

`model_performance` runs the model's layers over real test inputs: the golden model
(`eie.golden`) gives the activations, whose non-zeros against the non-zero weights are the
useful multiply-accumulates, and the cycle model (`eie.cycle_model`, exact against the RTL)
gives the cycles per input, so GOP/s at a clock are counted as EIE counts them, on the
compressed model.
"""

from __future__ import annotations

import numpy as np

from compress.data import dataset_for_inputs, load_dataset
from eie import format as fmt
from eie import numerics
from eie.cycle_model import CycleModel
from eie.golden import GoldenModel

__all__ = ["model_performance"]


def model_performance(images, f_hz: float, *, n_inputs: int = 100, log=print) -> dict:
    """Modeled throughput of ``images`` at ``f_hz`` over real test inputs.

    Cycles come from the cycle model (`eie.cycle_model`, exact against the RTL); the inputs
    are the built-in dataset whose images match the first layer (MNIST for LeNet-300-100),
    quantized as the golden model takes them. Without such a dataset the result says so and
    holds no modeled figures.
    """
    program = images.program()
    cfg = images.cfg
    result = {"layers": [{"name": e.name, "in": e.in_len, "out": e.out_len} for e in program.layers]}
    name = dataset_for_inputs(program.layers[0].in_len)
    if name is None:
        result["note"] = "no built-in dataset matches the first layer: no modeled figures"
        return result
    x = numerics.act_from_float(load_dataset(name).x_test[:n_inputs], cfg)
    result["inputs"] = f"{len(x)} {name} test images"

    macs, dense_macs = _useful_macs(images, program, x)
    result["useful_macs_per_input"] = macs / len(x)
    result["dense_macs_per_input"] = dense_macs / len(x)
    per_input = float(np.mean(CycleModel(program).run(x).total_cycles))
    seconds = per_input / f_hz
    result.update({
        "cycles_per_input": per_input,
        "us_per_input": 1e6 * seconds,
        "inputs_per_second": 1.0 / seconds,
        "gops": 2 * result["useful_macs_per_input"] / seconds / 1e9,
        "dense_equivalent_gops": 2 * result["dense_macs_per_input"] / seconds / 1e9,
        "pe_utilisation": result["useful_macs_per_input"] / (per_input * cfg.n_pe),
    })
    return result


def _useful_macs(images, program, x) -> tuple[int, int]:
    """(useful, dense) MACs over the inputs ``x``: non-zero weight times non-zero input, per
    layer, on the actual activations; and every weight times every input."""
    cfg = images.cfg
    acts = [x] + GoldenModel(images).run_layers(x)
    macs = dense_macs = 0
    for e, a in zip(program.layers, acts):
        nz_w = (fmt.decode_layer(e, cfg.n_pe) != 0)            # out x in
        macs += int(((a[:, :e.in_len] != 0).astype(np.int64) @ nz_w.T.astype(np.int64)).sum())
        dense_macs += e.in_len * e.out_len * len(x)
    return macs, dense_macs
