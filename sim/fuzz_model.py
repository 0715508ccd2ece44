"""A byte-level reference of the device's host port, for fuzzing: bytes in, expected bytes out.

`DeviceModel` parses a command byte stream exactly as docs/protocol.md says the device
does (NOP is a lone 0x00 between frames; every other frame is ``op, len, body[len]``,
whatever its body holds), answers every frame with the status
`host.protocol.expected_status` gives, and keeps a shadow of every host-visible memory so a
read can be predicted word for word. Words it cannot know (memories the host never wrote,
the free-running cycle counter, write-back rows past a layer's end) are ``None``: their
bytes are not compared.

A valid RUN is modelled only for a network the fuzzer has just loaded (`DeviceModel.arm_run`):
the golden model gives the act files afterwards and the cycle model the RUN's cycles. A
valid RUN of anything else is refused (`UnmodelledRun`): the generator never sends one.
"""

from __future__ import annotations

import numpy as np

from eie import contract as C
from eie.bits import nbytes, to_unsigned
from eie.config import EIEConfig
from eie.contract import BROADCAST, Mem, Op, Status
from eie.cycle_model import CycleModel
from eie.golden import GoldenModel
from host import protocol as proto

__all__ = ["DeviceModel", "UnmodelledRun"]


class UnmodelledRun(Exception):
    """A valid RUN the model was not armed for (its result cannot be predicted)."""


class DeviceModel:
    """Shadow of the device's state as the host can see it."""

    def __init__(self, cfg: EIEConfig):
        self.cfg = cfg
        self.table = C.memory_table(cfg)
        n_copies = lambda info: cfg.n_pe if info.per_pe else 1
        # mem -> list (per PE copy) of lists of words (None: unknown).
        self.mems = {mem: [[None] * info.depth for _ in range(n_copies(info))]
                     for mem, info in self.table.items()}
        self.out_sel, self.last_layers = 0, 0
        self.counters: list | None = None          # after a RUN: the counters it leaves
        self._armed = None
        self._pending = bytearray()                # bytes of an incomplete frame
        self.frames = 0
        self.statuses: dict[str, int] = {}

    # ---- the act files are indexed by slot per PE: flat index i = slot * N + pe -----------

    def _act(self, f: int, i: int):
        return self.mems[Mem.ACT0 + f][i % self.cfg.n_pe][i // self.cfg.n_pe]

    def _set_act(self, f: int, i: int, value):
        self.mems[Mem.ACT0 + f][i % self.cfg.n_pe][i // self.cfg.n_pe] = value

    # ---- the byte stream ---------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Bytes the device still waits for to finish the frame it is in (0 between frames)."""
        p = self._pending
        if not p:
            return 0
        if len(p) < 3:
            return 3 - len(p)
        return 3 + (p[1] | p[2] << 8) - len(p)

    def dry_run(self, data: bytes) -> tuple[int, bool, int]:
        """What `feed` would do with ``data``, without doing it: (bytes then still pending,
        whether a valid RUN would complete, bytes of the unfinished frame so far)."""
        pending, run = bytearray(self._pending), False
        for b in bytes(data):
            if not pending and b == Op.NOP:
                continue
            pending.append(b)
            need = 3 - len(pending) if len(pending) < 3 else 3 + (pending[1] | pending[2] << 8) - len(pending)
            if need == 0:
                frame, pending = bytes(pending), bytearray()
                run |= frame[0] == Op.RUN and proto.expected_status(self.cfg, frame) == Status.OK
        left = 0 if not pending else (3 - len(pending) if len(pending) < 3
                                      else 3 + (pending[1] | pending[2] << 8) - len(pending))
        return left, run, len(pending)

    def feed(self, data: bytes) -> list:
        """Process bytes; the expected reply bytes of every frame they complete (ints, or
        None where the byte cannot be known), in order."""
        return [b for _, reply in self.feed_frames(data) for b in reply]

    def feed_frames(self, data: bytes) -> list[tuple[int, list]]:
        """As `feed`, one ``(index of the frame's last byte in data, reply)`` per frame
        answered: a host that keeps the request/response discipline waits there."""
        out = []
        for i, b in enumerate(bytes(data)):
            if not self._pending and b == Op.NOP:
                self.frames += 1
                continue
            self._pending.append(b)
            if self.pending == 0:
                frame, self._pending = bytes(self._pending), bytearray()
                self.frames += 1
                out.append((i, self.answer(frame)))
        return out

    def answer(self, frame: bytes) -> list:
        """The reply to one whole frame (not NOP), applying its effect."""
        status = proto.expected_status(self.cfg, frame)
        op = frame[0]
        name = Status(status).name
        self.statuses[name] = self.statuses.get(name, 0) + 1
        if status != Status.OK:
            return list(proto.response_bytes(status, op))
        op = Op(op)
        body = frame[proto.CMD_HEADER_BYTES:]
        a = proto.unpack_args(op, body)
        data = body[C.arg_bytes(op):]
        reply = getattr(self, f"_{op.name.lower()}")(a, data)
        header = list(proto.response_bytes(Status.OK, op, bytes(len(reply))))[:proto.RSP_HEADER_BYTES]
        return header + reply

    # ---- commands: each returns its reply body (ints or None) ---------------------------

    def _info(self, a, data):
        return list(proto.info_body(self.cfg))

    def _status(self, a, data):
        word = self.out_sel << 1 | 1 | self.last_layers << 8       # ready: the fuzzer waits for it
        return list(word.to_bytes(2, "little"))

    def _copies(self, mem: Mem, pe: int, write: bool) -> list[int]:
        if not self.table[mem].per_pe:
            return list(range(len(self.mems[mem]))) if write else [0]
        return list(range(self.cfg.n_pe)) if pe == BROADCAST else [pe]

    def _write_mem(self, a, data):
        mem = Mem(a["mem"])
        info = self.table[mem]
        words = [int.from_bytes(data[i:i + info.nbytes], "little") & ((1 << info.width) - 1)
                 for i in range(0, len(data), info.nbytes)]
        for k in self._copies(mem, a["pe"], True):
            self.mems[mem][k][a["addr"]:a["addr"] + len(words)] = words
        return []

    def _read_mem(self, a, data):
        mem = Mem(a["mem"])
        info = self.table[mem]
        # A global memory reads PE 0's copy (the codebook's copies are all written alike).
        words = self.mems[mem][self._copies(mem, a["pe"], False)[0]][a["addr"]:a["addr"] + a["count"]]
        return _word_bytes(words, info.nbytes)

    def _write_act(self, a, data):
        nb = nbytes(self.cfg.act_bits)
        for j in range(a["count"]):
            self._set_act(0, a["addr"] + j, int.from_bytes(data[j * nb:(j + 1) * nb], "little")
                          & ((1 << self.cfg.act_bits) - 1))
        return []

    def _read_act(self, a, data):
        words = [self._act(self.out_sel, a["addr"] + j) for j in range(a["count"])]
        return _word_bytes(words, nbytes(self.cfg.act_bits))

    def _read_counters(self, a, data):
        n = C.n_counters(self.cfg)
        counters = self.counters or [None] + [0] * (n - 1)          # all zero until a RUN
        return _word_bytes(counters, C.COUNTER_BITS // 8)

    # ---- RUN ----------------------------------------------------------------------------

    def arm_run(self, program, x) -> None:
        """The next valid RUN runs ``program`` (just loaded) on input ``x`` (just written)."""
        self._armed = (program, np.asarray(x, np.int64))

    def _run(self, a, data):
        if self._armed is None or a["n_layers"] != len(self._armed[0].layers):
            raise UnmodelledRun(f"a valid RUN of {a['n_layers']} layer(s) the model was not armed for")
        program, x = self._armed
        self._armed = None
        cfg, N = self.cfg, self.cfg.n_pe
        outs = GoldenModel(program).run_layers(x)
        timing = CycleModel(program).timing(x)
        for l, (layer, y) in enumerate(zip(program.layers, outs)):
            dst = (l + 1) % 2
            rows = -(-layer.out_len // N)
            # Every PE writes back rows < ceil(out_len / N): past out_len the value is the
            # padding rows' (not the host's business), so it is unknown here.
            for i in range(rows * N):
                self._set_act(dst, i, int(to_unsigned(np.array([y[i]]), cfg.act_bits)[0])
                              if i < layer.out_len else None)
        self.out_sel, self.last_layers = len(outs) % 2, len(outs)
        cycles = int(sum(t.cycles for t in timing))
        groups = dict(C.counter_groups(cfg))
        counters = [None, cycles, int(sum(t.broadcasts for t in timing))]
        counters += [t.cycles for t in timing] + [0] * (groups["layer_cycles"] - len(timing))
        counters += [int(v) for v in sum(t.busy for t in timing)]
        counters += [int(v) for v in sum(t.stall for t in timing)]
        self.counters = counters
        return list(cycles.to_bytes(4, "little"))


def _word_bytes(words, nb: int) -> list:
    out = []
    for w in words:
        out.extend([None] * nb if w is None else list(int(w).to_bytes(nb, "little")))
    return out
