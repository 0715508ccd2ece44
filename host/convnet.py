"""A conv net on the device: the host runs the plan of `eie.network` through the driver.

For each step of the plan (`eie.network.Network.plan`): a conv layer's im2col patches go to
the array one by one (WRITE_ACT of the patch, RUN of that one layer-table entry with
``first``, READ_ACT of its outputs); a chain of dense layers is one RUN; pooling and
flattening run here, with the functions the golden model uses (`eie.hostops`), so the
device's results can be compared with `eie.convnet` bit for bit. docs/hw.md ("Conv nets
on the array") gives the cycles this costs.

``on_run(index, run)`` (optional) sees every RUN as a `DeviceRun` when its outputs are in:
the testbench checks each against the golden model and the cycle model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eie import hostops
from eie.convnet import as_images

__all__ = ["DeviceRun", "infer_network"]


@dataclass
class DeviceRun:
    """One RUN the host sent: its step of the plan, layers, input vector, outputs, cycles."""

    step: int
    first: int
    n_layers: int
    input: np.ndarray
    output: np.ndarray
    cycles: int


async def _run(driver, x, first: int, n_layers: int, out_len: int) -> tuple[np.ndarray, int]:
    await driver.write_input(x)
    cycles = await driver.run(n_layers, first=first)
    return np.asarray(await driver.read_output(out_len), np.int64), int(cycles)


async def infer_network(driver, program, image, on_run=None) -> np.ndarray:
    """Outputs (flattened) of a conv net's ``program`` (loaded in the device) for one image:
    ``(C, H, W)`` or flattened, fixed-point integers."""
    net = program.network
    out_lens = [e.out_len for e in program.layers]
    x, _ = as_images(image, net, program.cfg)
    a = x
    count = 0

    def seen(step, first, n, inp, out, cycles):
        nonlocal count
        if on_run is not None:
            on_run(count, DeviceRun(step, first, n, inp, out, cycles))
        count += 1

    for i, s in enumerate(net.plan(out_lens)):
        if s.kind == "patches":
            patches = hostops.im2col(a, s.op)[0]
            outs = []
            for p in patches:
                y, cycles = await _run(driver, p, s.first, 1, out_lens[s.first])
                seen(i, s.first, 1, p, y, cycles)
                outs.append(y)
            a = hostops.col2im(np.stack(outs)[None], s.out_shape[1:])
        elif s.kind == "vector":
            v = a.reshape(-1)
            y, cycles = await _run(driver, v, s.first, s.n_layers, out_lens[s.first + s.n_layers - 1])
            seen(i, s.first, s.n_layers, v, y, cycles)
            a = y[None]
        elif s.kind == "pool":
            a = hostops.pool(a, s.op)
        else:
            a = hostops.flatten(a)
    return hostops.flatten(a)[0]
