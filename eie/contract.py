"""The hardware/software contract of the EIE array, defined once (docs/protocol.md).

What the gateware and every host-side part must agree on, derived from one `EIEConfig`:

* the memories (`Mem`): id, name, width, depth, per PE or global, signedness;
* the command protocol: opcodes (`Op`), status codes (`Status`), the frame headers and the
  argument fields of every command, which commands take data after their arguments;
* the reply bodies: INFO, STATUS, RUN and the READ_COUNTERS groups;
* the host stream: how the byte protocol travels in beats of ``host_bits`` (`beat_bytes`,
  `to_beats`, `from_beats`) and which beat carries ``last``.

Field lists are ``[(name, width), ...]`` LSB first, packed little-endian, as the storage
format's entry and layer fields are (`eie.bits`). The CCU (``hw/``) builds its decoding
from them, and the host side (``host/``), the boot ROM (``fpga/``), the backdoor loader and
the tests encode and decode with them, so no offset, length or id is written anywhere else.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .bits import fields_width, nbytes, pack_fields
from .config import EIEConfig
from . import format as fmt

__all__ = [
    "VERSION", "MAX_BODY", "BROADCAST", "Mem", "MemInfo", "memory_table", "image_memories",
    "PE_IMAGE_MEMS", "GLOBAL_MEMS", "Op", "Status", "CMD_HEADER", "RSP_HEADER", "MEM_ARGS",
    "ACT_ARGS", "RUN_ARGS", "ARGS", "DATA_OPS", "arg_bytes", "header_bytes", "INFO_FIELDS",
    "STATUS_FIELDS", "RUN_REPLY_FIELDS", "COUNTER_BITS", "counter_groups", "counter_offset",
    "n_counters", "counters_bytes", "check_config", "info_values", "info_word", "reply_bytes", "host_data_bits",
    "host_addr_bits", "PAD", "beat_bytes", "padded_bytes", "pad_to_beats", "to_beats", "from_beats",
]

VERSION = 1
MAX_BODY = 0xFFFF          # largest body of a command or a response
BROADCAST = 0xFFFF         # PE number that writes every PE's copy of a per-PE memory


# ---- memories --------------------------------------------------------------------------------

class Mem(enum.IntEnum):
    """Memory ids of WRITE_MEM / READ_MEM."""

    PTR = 0
    SPMAT = 1
    BIAS = 2
    CODEBOOK = 3
    LAYERS = 4
    ACT0 = 5
    ACT1 = 6

    @property
    def key(self) -> str:
        """Lower-case name: image file names, hardware memory names, reports."""
        return self.name.lower()

    @property
    def per_pe(self) -> bool:
        """One copy per PE (addressed by the ``pe`` argument) or one global memory."""
        return self not in (Mem.CODEBOOK, Mem.LAYERS)

    @property
    def signed(self) -> bool:
        """Holds two's complement values."""
        return self in (Mem.BIAS, Mem.CODEBOOK, Mem.ACT0, Mem.ACT1)

    @property
    def in_images(self) -> bool:
        """Filled by the image files (the act files hold run-time data)."""
        return self not in (Mem.ACT0, Mem.ACT1)


PE_IMAGE_MEMS = (Mem.PTR, Mem.SPMAT, Mem.BIAS)
GLOBAL_MEMS = (Mem.CODEBOOK, Mem.LAYERS)


@dataclass(frozen=True)
class MemInfo:
    """One memory as a config sizes it."""

    mem: Mem
    width: int      # bits of one word
    depth: int      # words

    @property
    def key(self) -> str:
        return self.mem.key

    @property
    def per_pe(self) -> bool:
        return self.mem.per_pe

    @property
    def signed(self) -> bool:
        return self.mem.signed

    @property
    def nbytes(self) -> int:
        """Bytes of one word in files and on the wire (little-endian, upper bits zero)."""
        return nbytes(self.width)


def _width_depth(cfg: EIEConfig, mem: Mem) -> tuple[int, int]:
    return {
        Mem.PTR: (cfg.ptr_bits, cfg.ptr_depth),
        Mem.SPMAT: (cfg.word_bits, cfg.spmat_depth),
        Mem.BIAS: (cfg.act_bits, cfg.bias_depth),
        Mem.CODEBOOK: (cfg.weight_bits, cfg.max_layers * cfg.codebook_size),
        Mem.LAYERS: (fmt.layer_word_bits(cfg), cfg.max_layers),
        Mem.ACT0: (cfg.act_bits, cfg.act_depth),
        Mem.ACT1: (cfg.act_bits, cfg.act_depth),
    }[mem]


def memory_table(cfg: EIEConfig) -> dict[Mem, MemInfo]:
    """Every memory the host reaches, in id order."""
    return {mem: MemInfo(mem, *_width_depth(cfg, mem)) for mem in Mem}


def image_memories(cfg: EIEConfig) -> dict[Mem, MemInfo]:
    """The memories an image folder fills (`eie.images`)."""
    return {mem: info for mem, info in memory_table(cfg).items() if mem.in_images}


def host_data_bits(cfg: EIEConfig) -> int:
    """Width of the CCU's bus to the memories: the widest word."""
    return max(info.width for info in memory_table(cfg).values())


def host_addr_bits(cfg: EIEConfig) -> int:
    """Width of the CCU's bus address: enough for the deepest memory."""
    return max(max(1, (info.depth - 1).bit_length()) for info in memory_table(cfg).values())


# ---- commands --------------------------------------------------------------------------------

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


CMD_HEADER = [("op", 8), ("len", 16)]
RSP_HEADER = [("status", 8), ("op", 8), ("len", 16)]

MEM_ARGS = [("mem", 8), ("pe", 16), ("addr", 32), ("count", 16)]
ACT_ARGS = [("addr", 32), ("count", 16)]
RUN_ARGS = [("n_layers", 8)]

# The argument fields at the start of each command's body (NOP has no frame at all).
ARGS: dict[Op, list[tuple[str, int]]] = {
    Op.INFO: [], Op.STATUS: [], Op.READ_COUNTERS: [],
    Op.WRITE_MEM: MEM_ARGS, Op.READ_MEM: MEM_ARGS,
    Op.WRITE_ACT: ACT_ARGS, Op.READ_ACT: ACT_ARGS,
    Op.RUN: RUN_ARGS,
}
# Commands whose body carries words after the arguments; every other body is exactly its
# arguments.
DATA_OPS = (Op.WRITE_MEM, Op.WRITE_ACT)


def arg_bytes(op: Op) -> int:
    """Bytes of a command's arguments."""
    return fields_width(ARGS[Op(op)]) // 8


def header_bytes(fields) -> int:
    return fields_width(fields) // 8


# ---- replies ---------------------------------------------------------------------------------

INFO_FIELDS = [("version", 8), ("n_pe", 16), ("queue_depth", 16), ("max_layers", 16),
               ("entries_per_word", 8), ("config_hash", 48)]
STATUS_FIELDS = [("ready", 1), ("out_sel", 1), ("reserved", 6), ("last_layers", 8)]
RUN_REPLY_FIELDS = [("run_cycles", 32)]
COUNTER_BITS = 32


def counter_groups(cfg: EIEConfig) -> list[tuple[str, int]]:
    """READ_COUNTERS: (name, count) of each group of 32-bit counters, in reply order."""
    return [("cycle", 1), ("run_cycles", 1), ("broadcasts", 1), ("layer_cycles", cfg.max_layers),
            ("busy", cfg.n_pe), ("stall", cfg.n_pe)]


def counter_offset(cfg: EIEConfig, group: str) -> int:
    """Index of a group's first counter in the READ_COUNTERS reply."""
    offset = 0
    for name, count in counter_groups(cfg):
        if name == group:
            return offset
        offset += count
    raise KeyError(f"no counter group {group!r}")


def n_counters(cfg: EIEConfig) -> int:
    return sum(count for _, count in counter_groups(cfg))


def counters_bytes(cfg: EIEConfig) -> int:
    return n_counters(cfg) * COUNTER_BITS // 8


def check_config(cfg: EIEConfig):
    """Raise ValueError if the protocol cannot serve this config."""
    if counters_bytes(cfg) > MAX_BODY:
        raise ValueError(f"the counters of {cfg.n_pe} PEs and {cfg.max_layers} layers do not fit "
                         f"one response ({counters_bytes(cfg)} > {MAX_BODY} bytes)")


def info_values(cfg: EIEConfig) -> dict[str, int]:
    """What INFO reports for a device built from ``cfg``."""
    return {"version": VERSION, "n_pe": cfg.n_pe, "queue_depth": cfg.queue_depth,
            "max_layers": cfg.max_layers, "entries_per_word": cfg.entries_per_word,
            "config_hash": int.from_bytes(bytes.fromhex(cfg.hash), "little")}


def info_word(cfg: EIEConfig) -> int:
    """The INFO reply body as one integer (bytes little-endian)."""
    return int(pack_fields(info_values(cfg), INFO_FIELDS, what="INFO field"))


def reply_bytes(cfg: EIEConfig, op: Op, count: int = 0, mem: Mem | None = None) -> int:
    """Body bytes of the OK reply to ``op`` (``count`` words of ``mem`` for reads)."""
    op = Op(op)
    if op == Op.INFO:
        return fields_width(INFO_FIELDS) // 8
    if op == Op.STATUS:
        return fields_width(STATUS_FIELDS) // 8
    if op == Op.RUN:
        return fields_width(RUN_REPLY_FIELDS) // 8
    if op == Op.READ_COUNTERS:
        return counters_bytes(cfg)
    if op == Op.READ_MEM:
        return count * memory_table(cfg)[Mem(mem)].nbytes
    if op == Op.READ_ACT:
        return count * nbytes(cfg.act_bits)
    return 0


# ---- the host stream: bytes in beats ---------------------------------------------------------
#
# The frames above are bytes; the host streams (AXI4-Stream style: tdata, tvalid, tready, tlast)
# carry them in beats of B = host_bits / 8 bytes, the first byte in the lowest 8 bits of tdata.
# * Host to device: every command frame starts a beat; the host fills the rest of a frame's
#   last beat with PAD bytes (0x00: NOPs, which the device skips). tlast is not looked at:
#   commands are framed by their len field.
# * Device to host: every response starts a beat; the device fills the rest of its last beat
#   with zero bytes and raises tlast with that beat (and with no other).
# With B = 1 this is the byte stream itself, tlast on the last byte of every response.

PAD = Op.NOP          # the byte that fills a command's last beat


def beat_bytes(cfg: EIEConfig) -> int:
    """Bytes in one beat of ``cfg``'s host streams."""
    return cfg.host_bits // 8


def padded_bytes(n: int, beat: int) -> int:
    """Bytes ``n`` bytes of a frame or a response take on a stream of ``beat``-byte beats."""
    return -(-int(n) // beat) * beat


def pad_to_beats(data: bytes, beat: int) -> bytes:
    """``data`` (one or more whole command frames) filled up to whole beats with `PAD`."""
    return bytes(data) + bytes([PAD]) * (padded_bytes(len(data), beat) - len(data))


def to_beats(data: bytes, beat: int) -> list[int]:
    """Whole beats of ``data`` (a multiple of ``beat`` bytes) as tdata values."""
    if len(data) % beat:
        raise ValueError(f"{len(data)} bytes are not whole {beat}-byte beats")
    return [int.from_bytes(data[i:i + beat], "little") for i in range(0, len(data), beat)]


def from_beats(beats, beat: int) -> bytes:
    """The bytes of tdata values, in stream order."""
    return b"".join(int(b).to_bytes(beat, "little") for b in beats)
