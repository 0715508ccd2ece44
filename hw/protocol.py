"""The host command protocol of the EIE array: Python encoder and decoder (docs/protocol.md).

The hardware's host interface is one byte stream in (``host_rx``) and one byte stream out
(``host_tx``). The host sends command frames ``op u8 | len u16 | body[len]`` (NOP is the
single byte 0x00) and the device answers every command except NOP with exactly one
response frame ``status u8 | op u8 | len u16 | body[len]`` (all integers little-endian).
This module is the one place the host side of that protocol is written down: the drivers
(sim/driver.py and the cocotb / serial transports built on it) use the encoders and
decoders here, and `expected_status` states the device's validation order so tests can
predict the reply to any malformed command.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from eie.config import EIEConfig
from eie.errors import EIEError
from eie import format as fmt

__all__ = [
    "VERSION", "MAX_BODY", "BROADCAST", "Op", "Status", "Mem", "MemInfo", "memory_table",
    "ARG_BYTES", "ProtocolError", "Response", "Info", "DeviceStatus", "Counters",
    "frame", "cmd_nop", "cmd_info", "cmd_status", "cmd_write_mem", "cmd_read_mem",
    "cmd_write_act", "cmd_read_act", "cmd_run", "cmd_read_counters",
    "write_mem_frames", "write_act_frames", "read_chunks",
    "words_to_bytes", "bytes_to_words", "acts_to_bytes", "bytes_to_acts",
    "parse_header", "decode_info", "decode_status", "decode_counters", "counters_len",
    "expected_status", "check_config",
]

VERSION = 1
MAX_BODY = 0xFFFF          # largest body of a command or response
BROADCAST = 0xFFFF         # PE number that writes every PE's copy of a per-PE memory
HEADER_BYTES = 3           # op, len (command)
RESPONSE_HEADER_BYTES = 4  # status, op, len (response)
INFO_BYTES = 14


class Op(enum.IntEnum):
    NOP = 0x00            # one byte, no length, no response
    INFO = 0x01
    STATUS = 0x02
    WRITE_MEM = 0x03
    READ_MEM = 0x04
    WRITE_ACT = 0x05
    READ_ACT = 0x06
    RUN = 0x07
    READ_COUNTERS = 0x08


class Status(enum.IntEnum):
    OK = 0x00
    ERR_OPCODE = 0x01     # unknown opcode
    ERR_LENGTH = 0x02     # len does not fit the command, count 0, or reply too long
    ERR_MEM = 0x03        # unknown memory id
    ERR_PE = 0x04         # PE number out of range (or broadcast on a read)
    ERR_ADDR = 0x05       # addr + count past the end of the memory / activation vector
    ERR_VALUE = 0x06      # a value out of range (RUN's layer count)


class Mem(enum.IntEnum):
    PTR = 0
    SPMAT = 1
    BIAS = 2
    CODEBOOK = 3
    LAYERS = 4
    ACT0 = 5
    ACT1 = 6


# Fixed argument bytes at the start of each command's body.
ARG_BYTES = {
    Op.INFO: 0, Op.STATUS: 0, Op.READ_COUNTERS: 0,
    Op.WRITE_MEM: 9, Op.READ_MEM: 9,       # mem u8, pe u16, addr u32, count u16
    Op.WRITE_ACT: 6, Op.READ_ACT: 6,       # addr u32, count u16
    Op.RUN: 1,                             # n_layers u8
}


class ProtocolError(EIEError):
    """The device answered with an error status, or sent something malformed."""

    def __init__(self, message: str, status: "Status | int | None" = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class MemInfo:
    """How one memory looks over the protocol."""

    mem: Mem
    width: int      # bits of one word
    depth: int      # words
    per_pe: bool    # one copy per PE (addressed by the pe field) or global
    signed: bool

    @property
    def nbytes(self) -> int:
        """Bytes of one word on the wire (little-endian, upper bits zero)."""
        return (self.width + 7) // 8


def memory_table(cfg: EIEConfig) -> dict[Mem, MemInfo]:
    """Every memory the protocol reaches, built from `eie.format.memory_specs`."""
    specs = fmt.memory_specs(cfg)
    out = {}
    for mem, name in ((Mem.PTR, "ptr"), (Mem.SPMAT, "spmat"), (Mem.BIAS, "bias"),
                      (Mem.CODEBOOK, "codebook"), (Mem.LAYERS, "layers")):
        s = specs[name]
        out[mem] = MemInfo(mem, s["width"], s["depth"], s["per_pe"], s["signed"])
    for mem in (Mem.ACT0, Mem.ACT1):
        out[mem] = MemInfo(mem, cfg.act_bits, cfg.act_depth, True, True)
    return out


def act_nbytes(cfg: EIEConfig) -> int:
    return (cfg.act_bits + 7) // 8


def counters_len(cfg: EIEConfig) -> int:
    """Body bytes of the READ_COUNTERS response."""
    return 4 * (3 + cfg.max_layers + 2 * cfg.n_pe)


def check_config(cfg: EIEConfig):
    """Raise ValueError if the protocol cannot serve this config."""
    if counters_len(cfg) > MAX_BODY:
        raise ValueError(f"the counters of {cfg.n_pe} PEs and {cfg.max_layers} layers do not fit "
                         f"one response ({counters_len(cfg)} > {MAX_BODY} bytes)")


# ---- word packing ------------------------------------------------------------------------

def words_to_bytes(words, width: int) -> bytes:
    """Unsigned words to little-endian bytes, ``ceil(width/8)`` each."""
    nb = (width + 7) // 8
    words = np.asarray(words)
    if words.dtype != object and width <= 63 and words.size:
        w = words.astype(np.int64) & ((1 << width) - 1)
        return w.astype("<u8").view(np.uint8).reshape(-1, 8)[:, :nb].tobytes()
    mask = (1 << width) - 1
    return b"".join((int(w) & mask).to_bytes(nb, "little") for w in words.reshape(-1))


def bytes_to_words(raw: bytes, width: int) -> np.ndarray:
    """Little-endian bytes to unsigned words (int64, or Python ints when > 63 bits)."""
    nb = (width + 7) // 8
    if len(raw) % nb:
        raise ProtocolError(f"{len(raw)} bytes are not a whole number of {nb}-byte words")
    arr = np.frombuffer(bytes(raw), dtype=np.uint8).reshape(-1, nb)
    if width <= 63:
        padded = np.zeros((arr.shape[0], 8), dtype=np.uint8)
        padded[:, :nb] = arr
        return padded.view("<u8").reshape(-1).astype(np.int64) & ((1 << width) - 1)
    return np.array([int.from_bytes(bytes(r), "little") & ((1 << width) - 1) for r in arr],
                    dtype=object)


def acts_to_bytes(values, cfg: EIEConfig) -> bytes:
    """Signed activations to two's complement words on the wire."""
    v = np.asarray(values, dtype=np.int64)
    if v.size and (v.min() < cfg.act_min or v.max() > cfg.act_max):
        raise ProtocolError(f"activation values must lie in {cfg.act_min}..{cfg.act_max}")
    return words_to_bytes(v & ((1 << cfg.act_bits) - 1), cfg.act_bits)


def bytes_to_acts(raw: bytes, cfg: EIEConfig) -> np.ndarray:
    w = bytes_to_words(raw, cfg.act_bits)
    return np.where(w >= (1 << (cfg.act_bits - 1)), w - (1 << cfg.act_bits), w).astype(np.int64)


# ---- commands ----------------------------------------------------------------------------

def frame(op: int, body: bytes = b"") -> bytes:
    """A raw command frame (also for malformed ones in tests)."""
    if len(body) > MAX_BODY:
        raise ProtocolError(f"a command body holds at most {MAX_BODY} bytes, not {len(body)}")
    return bytes([op]) + len(body).to_bytes(2, "little") + bytes(body)


def cmd_nop() -> bytes:
    return bytes([Op.NOP])


def cmd_info() -> bytes:
    return frame(Op.INFO)


def cmd_status() -> bytes:
    return frame(Op.STATUS)


def cmd_read_counters() -> bytes:
    return frame(Op.READ_COUNTERS)


def cmd_run(n_layers: int) -> bytes:
    return frame(Op.RUN, bytes([n_layers & 0xFF]))


def _mem_args(mem: int, pe: int, addr: int, count: int) -> bytes:
    return (bytes([mem]) + int(pe).to_bytes(2, "little") + int(addr).to_bytes(4, "little")
            + int(count).to_bytes(2, "little"))


def cmd_write_mem(cfg: EIEConfig, mem: Mem, pe: int, addr: int, words) -> bytes:
    info = memory_table(cfg)[Mem(mem)]
    words = np.asarray(words)
    return frame(Op.WRITE_MEM, _mem_args(mem, pe, addr, len(words)) + words_to_bytes(words, info.width))


def cmd_read_mem(cfg: EIEConfig, mem: Mem, pe: int, addr: int, count: int) -> bytes:
    return frame(Op.READ_MEM, _mem_args(mem, pe, addr, count))


def cmd_write_act(cfg: EIEConfig, addr: int, values) -> bytes:
    values = np.asarray(values)
    return frame(Op.WRITE_ACT, int(addr).to_bytes(4, "little") + len(values).to_bytes(2, "little")
                 + acts_to_bytes(values, cfg))


def cmd_read_act(cfg: EIEConfig, addr: int, count: int) -> bytes:
    return frame(Op.READ_ACT, int(addr).to_bytes(4, "little") + int(count).to_bytes(2, "little"))


def read_chunks(count: int, nbytes: int, args: int = 0) -> list[tuple[int, int]]:
    """Split ``count`` words into (offset, n) chunks whose bytes fit one body."""
    per = max(1, (MAX_BODY - args) // nbytes)
    return [(o, min(per, count - o)) for o in range(0, count, per)]


def write_mem_frames(cfg: EIEConfig, mem: Mem, pe: int, addr: int, words) -> list[bytes]:
    """WRITE_MEM frames for any number of words (split to fit the body limit)."""
    info = memory_table(cfg)[Mem(mem)]
    words = np.asarray(words)
    return [cmd_write_mem(cfg, mem, pe, addr + o, words[o:o + n])
            for o, n in read_chunks(len(words), info.nbytes, ARG_BYTES[Op.WRITE_MEM])]


def write_act_frames(cfg: EIEConfig, addr: int, values) -> list[bytes]:
    values = np.asarray(values)
    return [cmd_write_act(cfg, addr + o, values[o:o + n])
            for o, n in read_chunks(len(values), act_nbytes(cfg), ARG_BYTES[Op.WRITE_ACT])]


# ---- responses ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Response:
    status: int
    op: int
    body: bytes

    def check(self, op: int | None = None) -> "Response":
        """Raise ProtocolError unless the status is OK (and the op echo matches)."""
        if op is not None and self.op != op:
            raise ProtocolError(f"response to op 0x{self.op:02x} where 0x{int(op):02x} was expected")
        if self.status != Status.OK:
            try:
                name = Status(self.status).name
            except ValueError:
                name = f"status 0x{self.status:02x}"
            raise ProtocolError(f"device answered {name} to op 0x{self.op:02x}", self.status)
        return self


def parse_header(raw: bytes) -> tuple[int, int, int]:
    """(status, op, len) of a 4-byte response header."""
    if len(raw) != RESPONSE_HEADER_BYTES:
        raise ProtocolError(f"a response header has 4 bytes, not {len(raw)}")
    return raw[0], raw[1], int.from_bytes(raw[2:4], "little")


@dataclass(frozen=True)
class Info:
    version: int
    n_pe: int
    queue_depth: int
    max_layers: int
    entries_per_word: int
    config_hash: str


def info_body(cfg: EIEConfig) -> bytes:
    """The INFO response body the device built from ``cfg`` sends."""
    return (bytes([VERSION]) + cfg.n_pe.to_bytes(2, "little") + cfg.queue_depth.to_bytes(2, "little")
            + cfg.max_layers.to_bytes(2, "little") + bytes([cfg.entries_per_word])
            + bytes.fromhex(cfg.hash))


def decode_info(body: bytes) -> Info:
    if len(body) != INFO_BYTES:
        raise ProtocolError(f"INFO body has {INFO_BYTES} bytes, not {len(body)}")
    return Info(version=body[0], n_pe=int.from_bytes(body[1:3], "little"),
                queue_depth=int.from_bytes(body[3:5], "little"),
                max_layers=int.from_bytes(body[5:7], "little"),
                entries_per_word=body[7], config_hash=body[8:14].hex())


@dataclass(frozen=True)
class DeviceStatus:
    ready: bool        # every PE has finished its reset sweep
    out_sel: int       # act file holding the last RUN's output (READ_ACT reads it)
    last_layers: int   # layers run by the last RUN (0: none since reset)


def decode_status(body: bytes) -> DeviceStatus:
    if len(body) != 2:
        raise ProtocolError(f"STATUS body has 2 bytes, not {len(body)}")
    return DeviceStatus(ready=bool(body[0] & 1), out_sel=(body[0] >> 1) & 1, last_layers=body[1])


@dataclass(frozen=True)
class Counters:
    cycle: int                 # free-running cycle counter (wraps at 2**32)
    run_cycles: int            # cycles of the last RUN (sum of its layer cycles)
    broadcasts: int            # non-zero inputs broadcast by the last RUN
    layer_cycles: list[int]    # per layer-table entry, cycles in the last RUN (0 if not run)
    busy: list[int]            # per PE: cycles it issued a sparse-matrix entry (last RUN)
    stall: list[int]           # per PE: cycles the broadcast waited because its queue was full


def decode_counters(cfg: EIEConfig, body: bytes) -> Counters:
    if len(body) != counters_len(cfg):
        raise ProtocolError(f"READ_COUNTERS body has {counters_len(cfg)} bytes, not {len(body)}")
    w = [int(x) for x in bytes_to_words(body, 32)]
    L, N = cfg.max_layers, cfg.n_pe
    return Counters(cycle=w[0], run_cycles=w[1], broadcasts=w[2], layer_cycles=w[3:3 + L],
                    busy=w[3 + L:3 + L + N], stall=w[3 + L + N:3 + L + 2 * N])


# ---- the device's validation rules -----------------------------------------------------

def expected_status(cfg: EIEConfig, cmd: bytes) -> Status:
    """The status the device answers to one whole command frame (not NOP).

    Checks in the device's order; the first failing one decides (docs/protocol.md).
    """
    op, n = cmd[0], int.from_bytes(cmd[1:3], "little")
    body = cmd[3:3 + n]
    try:
        op = Op(op)
    except ValueError:
        return Status.ERR_OPCODE
    if op == Op.NOP:
        raise ValueError("NOP has no response")
    need = ARG_BYTES[op]
    fixed_len = op in (Op.INFO, Op.STATUS, Op.READ_COUNTERS, Op.READ_MEM, Op.READ_ACT, Op.RUN)
    if n < need or (fixed_len and n != need):
        return Status.ERR_LENGTH
    if op == Op.RUN:
        return Status.OK if 1 <= body[0] <= cfg.max_layers else Status.ERR_VALUE
    if op in (Op.WRITE_MEM, Op.READ_MEM):
        mem, pe = body[0], int.from_bytes(body[1:3], "little")
        addr, count = int.from_bytes(body[3:7], "little"), int.from_bytes(body[7:9], "little")
        table = memory_table(cfg)
        if mem not in table.keys():
            return Status.ERR_MEM
        info = table[Mem(mem)]
        if info.per_pe and not (pe < cfg.n_pe or (op == Op.WRITE_MEM and pe == BROADCAST)):
            return Status.ERR_PE
        if count == 0:
            return Status.ERR_LENGTH
        if op == Op.WRITE_MEM and n != need + count * info.nbytes:
            return Status.ERR_LENGTH
        if op == Op.READ_MEM and count * info.nbytes > MAX_BODY:
            return Status.ERR_LENGTH
        if addr + count > info.depth:
            return Status.ERR_ADDR
        return Status.OK
    if op in (Op.WRITE_ACT, Op.READ_ACT):
        addr, count = int.from_bytes(body[0:4], "little"), int.from_bytes(body[4:6], "little")
        nb = act_nbytes(cfg)
        if count == 0:
            return Status.ERR_LENGTH
        if op == Op.WRITE_ACT and n != need + count * nb:
            return Status.ERR_LENGTH
        if op == Op.READ_ACT and count * nb > MAX_BODY:
            return Status.ERR_LENGTH
        if addr + count > cfg.max_len:
            return Status.ERR_ADDR
        return Status.OK
    return Status.OK


def expected_response_len(cfg: EIEConfig, cmd: bytes) -> int:
    """Body length of the device's answer to a well-formed command (0 for errors)."""
    if expected_status(cfg, cmd) != Status.OK:
        return 0
    op, body = Op(cmd[0]), cmd[3:]
    if op == Op.INFO:
        return INFO_BYTES
    if op == Op.STATUS:
        return 2
    if op == Op.READ_COUNTERS:
        return counters_len(cfg)
    if op == Op.RUN:
        return 4
    if op == Op.READ_MEM:
        return int.from_bytes(body[7:9], "little") * memory_table(cfg)[Mem(body[0])].nbytes
    if op == Op.READ_ACT:
        return int.from_bytes(body[4:6], "little") * act_nbytes(cfg)
    return 0
