"""Protocol fuzzing of the host port: random and mutated command streams, checked byte for byte.

`FuzzPlan(cfg, seed, frames)` generates chunks of bytes the host sends, episode by
episode (each drawn at random):

* ``valid``: well-formed frames of every command with random arguments;
* ``malformed``: a valid frame with one thing broken: unknown opcode, a length that does not
  fit the command, a count of 0, an unknown memory, a PE past the array, an address past a
  memory's end (up to 2**32 - 1), a read whose reply would pass 65535 bytes, a RUN of 0 or
  too many layers;
* ``truncated``: a frame cut short, then random bytes that the device takes as the rest of
  its body (it consumes ``len`` bytes whatever they are);
* ``garbage``: random bytes after a valid frame (parsed as whatever frames they make);
* ``pipelined``: several frames sent without waiting for the replies (the design holds
  ``host_rx.ready`` low while it answers, so the bytes wait);
* ``run``: a small random network loaded with WRITE_MEM, an input written, then RUN with the
  next frames sent at once: bytes arriving during the RUN wait until it has answered.

`sim.fuzz_model.DeviceModel` predicts every reply byte (status, echo, length, body: read
data from its shadow of every memory; RUN results from the golden and cycle models). The
cocotb test (`sim.tb.test_fuzz`) sends the chunks, compares the replies, and at the end
reads every memory back through the protocol and the backdoor: what no valid command
addressed must still hold what it held. A transport watchdog turns a hang into a failure.

``python -m sim.fuzz --frames N --seed S [--config tiny]`` runs it on Verilator and writes
JSON + Markdown; ``--seed S --frames N`` replays a failure exactly (the seed drives the
frames and the idle/backpressure pattern).
"""

from __future__ import annotations

import random


from eie import contract as C
from eie import format as fmt
from eie.bits import nbytes
from eie.config import EIEConfig
from eie.contract import BROADCAST, MAX_BODY, Op
from host import protocol as proto
from host.load import load_frames

from .cases import Case, network_for
from .fuzz_model import DeviceModel

__all__ = ["FuzzPlan", "Chunk", "EPISODES", "DISCIPLINED", "readback_chunks"]

EPISODES = {"valid": 30, "malformed": 30, "truncated": 8, "garbage": 10, "pipelined": 12, "run": 3}
# For a host port without flow control (a UART): no frames sent while the device answers.
DISCIPLINED = {"valid": 30, "malformed": 30, "truncated": 8, "garbage": 10}
UNKNOWN_OPS = [op for op in range(256) if op not in {int(o) for o in Op}]


class Chunk:
    """Bytes the host sends at once, and the reply bytes the model expects once they are in:
    ``replies`` holds ``(index of the last byte of the frame, its reply)`` per answered frame."""

    __slots__ = ("kind", "data", "replies")

    def __init__(self, kind: str, data: bytes, replies: list):
        self.kind, self.data, self.replies = kind, data, replies

    @property
    def expect(self) -> list:
        return [b for _, reply in self.replies for b in reply]

    def frames(self):
        """(bytes, reply) pieces: each ends where a reply is due (the last may have none)."""
        start = 0
        for end, reply in self.replies:
            yield self.data[start:end + 1], reply
            start = end + 1
        if start < len(self.data):
            yield self.data[start:], []


class FuzzPlan:
    """The chunks of one fuzz run: ``frames`` frames or more, a pure function of ``seed``."""

    def __init__(self, cfg: EIEConfig, seed: int, frames: int, max_filler: int = 400, episodes=None):
        self.cfg, self.seed, self.target = cfg, seed, frames
        self.weights = dict(EPISODES if episodes is None else episodes)
        self.rng = random.Random(seed)
        self.model = DeviceModel(cfg)
        self.table = C.memory_table(cfg)
        self.max_filler = max_filler
        self.episodes: dict[str, int] = {}

    # ---- chunks ------------------------------------------------------------------------

    def chunks(self):
        """Yield `Chunk`s until the model has seen ``frames`` frames (then the stream ends
        between frames)."""
        yield from self._fill()
        kinds, weights = zip(*self.weights.items())
        while self.model.frames < self.target:
            kind = self.rng.choices(kinds, weights)[0]
            self.episodes[kind] = self.episodes.get(kind, 0) + 1
            yield from getattr(self, f"_ep_{kind}")()

    def _chunk(self, kind: str, data: bytes) -> Chunk:
        return Chunk(kind, bytes(data), self.model.feed_frames(data))

    def _fill(self):
        """Write every word of every memory once, so every later read is fully predicted."""
        for mem, info in self.table.items():
            pes = range(self.cfg.n_pe) if info.per_pe else [BROADCAST]
            for k in pes:
                words = [self.rng.getrandbits(info.width) for _ in range(info.depth)]
                for f in proto.write_mem_frames(self.cfg, mem, k, 0, words):
                    yield self._chunk("fill", f)

    # ---- frames ------------------------------------------------------------------------

    def valid_frame(self) -> bytes:
        """A well-formed command (never a valid RUN: its result is only modelled for a
        network just loaded)."""
        r, cfg = self.rng, self.cfg
        op = r.choice([Op.INFO, Op.STATUS, Op.WRITE_MEM, Op.READ_MEM, Op.WRITE_ACT, Op.READ_ACT,
                       Op.READ_COUNTERS, Op.NOP])
        if op == Op.NOP:
            return proto.cmd_nop()
        if op in (Op.INFO, Op.STATUS, Op.READ_COUNTERS):
            return proto.frame(op)
        if op in (Op.WRITE_MEM, Op.READ_MEM):
            mem = r.choice(list(self.table))
            info = self.table[mem]
            count = r.randint(1, min(info.depth, 12))
            addr = r.randint(0, info.depth - count)
            pe = (r.choice([r.randrange(cfg.n_pe), BROADCAST]) if op == Op.WRITE_MEM else r.randrange(cfg.n_pe)) \
                if info.per_pe else r.randrange(1 << 16)
            if op == Op.READ_MEM:
                return proto.cmd_read_mem(cfg, mem, pe, addr, count)
            words = [r.getrandbits(info.width) for _ in range(count)]
            return proto.cmd_write_mem(cfg, mem, pe, addr, words)
        count = r.randint(1, min(cfg.max_len, 12))
        addr = r.randint(0, cfg.max_len - count)
        if op == Op.READ_ACT:
            return proto.cmd_read_act(cfg, addr, count)
        return proto.cmd_write_act(cfg, addr, [r.randint(cfg.act_min, cfg.act_max) for _ in range(count)])

    def malformed_frame(self) -> bytes:
        """A frame with one field broken; the device must reject it and change nothing."""
        r, cfg = self.rng, self.cfg
        how = r.choice(["opcode", "length", "count0", "mem", "pe", "addr", "reply", "run", "run_len"])
        if how == "opcode":
            return proto.frame(r.choice(UNKNOWN_OPS), bytes(r.getrandbits(8) for _ in range(r.randint(0, 12))))
        if how == "run":
            return proto.cmd_run(r.choice([0] + list(range(cfg.max_layers + 1, 256))))
        if how == "run_len":
            return proto.frame(Op.RUN, bytes(r.getrandbits(8) for _ in range(r.choice([0, 2, 3, 9]))))
        if how == "length":
            op = r.choice([Op.INFO, Op.STATUS, Op.READ_COUNTERS, Op.READ_MEM, Op.READ_ACT, Op.WRITE_MEM,
                           Op.WRITE_ACT])
            good = self._valid_of(op)
            body = bytearray(good[proto.CMD_HEADER_BYTES:])
            if body and r.random() < 0.5:
                del body[r.randrange(len(body)):]                     # too short
            else:
                body += bytes(r.getrandbits(8) for _ in range(r.randint(1, 5)))  # too long
            return proto.frame(op, bytes(body))
        mem_op = r.choice([Op.WRITE_MEM, Op.READ_MEM])
        mem = r.choice(list(self.table))
        info = self.table[mem]
        args = {"mem": int(mem), "pe": r.randrange(cfg.n_pe) if info.per_pe else 0,
                "addr": 0, "count": 1}
        if how == "count0":
            args["count"] = 0
        elif how == "mem":
            args["mem"] = r.randint(len(self.table), 255)
        elif how == "pe":
            mem = r.choice([m for m, i in self.table.items() if i.per_pe])
            info = self.table[mem]
            args["mem"] = int(mem)
            args["pe"] = r.choice([r.randint(cfg.n_pe, 0xFFFE), BROADCAST if mem_op == Op.READ_MEM else cfg.n_pe])
        elif how == "addr":
            args["count"] = r.randint(1, 8)
            args["addr"] = r.choice([max(0, info.depth - args["count"] + 1), info.depth, r.randint(info.depth, (1 << 32) - 1),
                                     (1 << 32) - 1])
        elif how == "reply":
            # A read whose reply would pass 65535 bytes (only words of 2 bytes or more can).
            wide = [m for m, i in self.table.items() if i.nbytes > 1]
            mem = r.choice(wide)
            info = self.table[mem]
            mem_op = Op.READ_MEM
            args.update(mem=int(mem), pe=r.randrange(cfg.n_pe) if info.per_pe else 0,
                        count=r.randint(MAX_BODY // info.nbytes + 1, 0xFFFF))
        body = proto.pack_args(mem_op, **args)
        if mem_op == Op.WRITE_MEM:
            body += bytes(r.getrandbits(8) for _ in range(args["count"] * info.nbytes))
        if r.random() < 0.1 and mem_op == Op.WRITE_MEM:
            return proto.frame(Op.WRITE_ACT, proto.pack_args(Op.WRITE_ACT, addr=cfg.max_len - r.randint(0, 2),
                                                             count=4) + bytes(4 * nbytes(cfg.act_bits)))
        return proto.frame(mem_op, body)

    def _valid_of(self, op: Op) -> bytes:
        while True:
            f = self.valid_frame()
            if f[0] == op:
                return f

    # ---- episodes ----------------------------------------------------------------------

    def _ep_valid(self):
        for _ in range(self.rng.randint(1, 6)):
            yield self._chunk("valid", self.valid_frame())

    def _ep_malformed(self):
        for _ in range(self.rng.randint(1, 6)):
            yield self._chunk("malformed", self.malformed_frame())

    def _ep_pipelined(self):
        frames = [self.rng.choice([self.valid_frame, self.malformed_frame])() for _ in range(self.rng.randint(2, 5))]
        yield self._chunk("pipelined", b"".join(frames))

    def _ep_truncated(self):
        f = self.rng.choice([self.valid_frame, self.malformed_frame])()
        if len(f) < 2:
            return
        cut = f[:self.rng.randrange(1, len(f))]
        yield from self._with_filler("truncated", cut)

    def _ep_garbage(self):
        f = self.valid_frame()
        yield self._chunk("garbage", f)
        for _ in range(50):
            junk = bytes(self.rng.getrandbits(8) for _ in range(self.rng.randint(1, 16)))
            filler = self._filler(junk)
            if filler is not None:
                yield self._chunk("garbage", junk + filler)
                return

    def _with_filler(self, kind: str, data: bytes):
        """``data``, then random bytes until the device is between frames again. A stream
        that would need too much filler, or hold a valid RUN, is drawn again."""
        for _ in range(50):
            filler = self._filler(data)
            if filler is not None:
                yield self._chunk(kind, data)
                if filler:
                    yield self._chunk(kind, filler)
                return
            data = data[:1] + bytes(self.rng.getrandbits(8) for _ in range(len(data) - 1))

    def _filler(self, data: bytes) -> bytes | None:
        """Random bytes that end the frame ``data`` leaves unfinished (a length byte high
        enough to need more than `max_filler` bytes is drawn small); None if ``data`` holds a
        valid RUN or needs too much."""
        filler = bytearray()
        while True:
            need, run, have = self.model.dry_run(data + filler)
            if run or len(filler) + need > self.max_filler:
                return None
            if need == 0:
                return bytes(filler)
            if have == 2:                                   # the length's high byte is next
                filler.append(self.rng.randint(0, self.max_filler >> 8))
            else:
                filler += bytes(self.rng.getrandbits(8) for _ in range(1 if have < 3 else need))

    def _ep_run(self):
        cfg, r = self.cfg, self.rng
        for _ in range(20):       # a network that fits the config's memories
            n_layers = r.randint(1, cfg.max_layers)
            shape = [r.randint(1, min(cfg.max_len, 40)) for _ in range(n_layers + 1)]
            case = Case(name="fuzz", cfg=cfg, shape=shape, weight_density=r.choice([0.1, 0.3, 0.6]),
                        input_density=r.choice([0.2, 0.6, 1.0]), n_vectors=1, seed=r.getrandbits(31))
            layers, x = network_for(case)
            try:
                program = fmt.encode_network(layers, cfg)
                break
            except fmt.FormatError:
                continue
        else:
            return
        for f in load_frames(program):
            yield self._chunk("run-load", f)
        for f in proto.write_act_frames(cfg, 0, x[0]):
            yield self._chunk("run-load", f)
        self.model.arm_run(program, x[0])
        during = b"".join(self.rng.choice([self.valid_frame, self.malformed_frame])()
                          for _ in range(r.randint(1, 3)))
        yield self._chunk("run", proto.cmd_run(n_layers) + during)
        # Read back what the RUN wrote (both act files) and the counters.
        for f in (proto.cmd_status(), proto.cmd_read_act(cfg, 0, shape[-1]), proto.cmd_read_counters()):
            yield self._chunk("run", f)


def readback_chunks(plan: FuzzPlan):
    """READ_MEM of every word of every memory copy the protocol reaches, and READ_ACT of
    the output file: the model predicts each from its shadow."""
    cfg = plan.cfg
    for mem, info in plan.table.items():
        for k in (range(cfg.n_pe) if info.per_pe else [0]):
            for off, n in proto.read_chunks(info.depth, info.nbytes):
                yield plan._chunk("readback", proto.cmd_read_mem(cfg, mem, k, off, n))
    yield plan._chunk("readback", proto.cmd_status())


if __name__ == "__main__":
    from .fuzz_run import main
    raise SystemExit(main())
