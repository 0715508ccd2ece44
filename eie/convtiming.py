"""Cycles per image of a conv net on the array: the cycle model per RUN, and the host traffic.

For one image, every RUN the host sends (`eie.convnet.image_runs`) is timed by the cycle
model (`eie.cycle_model.layer_timing`, exact against the RTL) and counted in bytes on the
host link: WRITE_ACT of its input vector, the RUN, READ_ACT of its outputs, and their
responses (sizes from `eie.contract`), each command and each response filled up to whole
beats of the config's ``host_bits`` stream (as `host.driver` sends them and the device
answers). The RTL testbench measures the cycles they take (docs/hw.md, "Conv nets on the
array"): the command engine reads headers and arguments a byte a cycle, write bodies up to
a beat a cycle, and sends replies a byte a cycle.

`on_chip_bytes` is the traffic if im2col, pooling and flattening ran next to the array: the
image written once and the last outputs read once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import contract as C
from .bits import nbytes
from .contract import Op
from .convnet import image_runs
from .cycle_model import layer_timing

__all__ = ["StepTiming", "ImageTiming", "image_timing", "run_bytes", "act_transfer_bytes", "on_chip_bytes"]


def _exchange(cfg, command: int, response: int) -> int:
    """Bytes on the link of one command of ``command`` bytes and its response, each filled
    up to whole beats."""
    beat = C.beat_bytes(cfg)
    return C.padded_bytes(command, beat) + C.padded_bytes(response, beat)


def act_transfer_bytes(cfg, count: int, write: bool) -> int:
    """Bytes on the link (both directions) of WRITE_ACT / READ_ACT of ``count`` activations,
    split into the fewest frames that fit a body (as `host.protocol` splits them)."""
    if count <= 0:
        return 0
    nb = nbytes(cfg.act_bits)
    args = C.arg_bytes(Op.WRITE_ACT if write else Op.READ_ACT)
    per = max(1, (C.MAX_BODY - (args if write else 0)) // nb)
    cmd, rsp = C.header_bytes(C.CMD_HEADER) + args, C.header_bytes(C.RSP_HEADER)
    total = 0
    for start in range(0, count, per):
        body = min(per, count - start) * nb
        total += _exchange(cfg, cmd + body, rsp) if write else _exchange(cfg, cmd, rsp + body)
    return total


def _run_exchange(cfg) -> int:
    return _exchange(cfg, C.header_bytes(C.CMD_HEADER) + C.arg_bytes(Op.RUN),
                     C.header_bytes(C.RSP_HEADER) + C.reply_bytes(cfg, Op.RUN))


def run_bytes(cfg, in_len: int, out_len: int) -> int:
    """Bytes on the link of one RUN of an input of ``in_len`` and outputs of ``out_len``."""
    return act_transfer_bytes(cfg, in_len, True) + _run_exchange(cfg) + act_transfer_bytes(cfg, out_len, False)


def on_chip_bytes(cfg, network, out_len: int) -> int:
    """Bytes per image if the host only wrote the image and read the last outputs."""
    return (act_transfer_bytes(cfg, network.input_size, True) + _run_exchange(cfg)
            + act_transfer_bytes(cfg, out_len, False))


@dataclass
class StepTiming:
    """The RUNs of one step of the plan (a conv layer's patches, or a chain of dense layers)."""

    name: str
    runs: int
    cycles: int            # cycle model, sum over the RUNs
    bound: int             # DESIGN.md's lower bound, summed
    broadcasts: int
    host_bytes: int


@dataclass
class ImageTiming:
    steps: list[StepTiming] = field(default_factory=list)
    runs: int = 0
    cycles: int = 0        # the array's cycles (sum over every RUN)
    host_bytes: int = 0    # bytes on the host link for every RUN (in and out)
    on_chip_bytes: int = 0  # bytes if the host only sent the image and read the result

    def to_dict(self) -> dict:
        return {"runs": self.runs, "cycles": self.cycles, "host_bytes": self.host_bytes,
                "on_chip_bytes": self.on_chip_bytes,
                "steps": [vars(s).copy() for s in self.steps]}


def image_timing(golden, program, image) -> ImageTiming:
    """Cycle model and host bytes of one image of a conv net (``golden``: its `GoldenModel`)."""
    cfg = program.cfg
    runs = image_runs(golden, image)
    out = ImageTiming()
    by_step: dict[int, StepTiming] = {}
    for r in runs:
        names = [program.layers[l].name for l in range(r.first, r.first + r.n_layers)]
        st = by_step.setdefault(r.step, StepTiming("+".join(names), 0, 0, 0, 0, 0))
        st.runs += 1
        for l, a in zip(range(r.first, r.first + r.n_layers), r.inputs):
            t = layer_timing(cfg, program.layers[l], a)
            st.cycles += t.cycles
            st.bound += t.bound
            st.broadcasts += t.broadcasts
        st.host_bytes += run_bytes(cfg, program.layers[r.first].in_len, int(np.size(r.output)))
    out.steps = [by_step[k] for k in sorted(by_step)]
    out.runs = len(runs)
    out.cycles = sum(s.cycles for s in out.steps)
    out.host_bytes = sum(s.host_bytes for s in out.steps)
    out.on_chip_bytes = on_chip_bytes(cfg, program.network, program.layers[-1].out_len)
    return out
