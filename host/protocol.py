"""The host side of the command protocol: frame encoders, reply decoders, validation rules.

The device contract (opcodes, memories, argument and reply fields) is `eie.contract`; this
module turns it into bytes and back (docs/protocol.md). Commands are frames
``op u8 | len u16 | body[len]`` (NOP is the single byte 0x00); every command except NOP
gets exactly one response ``status u8 | op u8 | len u16 | body[len]``. `expected_status`
states the device's validation order, so tests can predict the reply to any malformed
command.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eie import contract as C
from eie.bits import bytes_to_words, nbytes, pack_fields, to_signed, to_unsigned, unpack_fields, \
    words_to_bytes, fields_width
from eie.config import EIEConfig
from eie.contract import BROADCAST, MAX_BODY, VERSION, Mem, Op, Status
from eie.errors import EIEError

__all__ = [
    "VERSION", "MAX_BODY", "BROADCAST", "Op", "Status", "Mem", "ProtocolError", "Response",
    "Info", "DeviceStatus", "Counters", "CMD_HEADER_BYTES", "RSP_HEADER_BYTES",
    "frame", "pack_args", "unpack_args", "cmd_nop", "cmd_info", "cmd_status", "cmd_write_mem",
    "cmd_read_mem", "cmd_write_act", "cmd_read_act", "cmd_run", "cmd_read_counters",
    "write_mem_frames", "write_act_frames", "read_chunks", "acts_to_bytes", "bytes_to_acts",
    "parse_header", "response_bytes", "decode_info", "info_body", "decode_status", "decode_run",
    "decode_counters", "decode_words", "expected_status",
    "expected_reply_bytes", "split_frames", "ResponseFramer",
]

CMD_HEADER_BYTES = C.header_bytes(C.CMD_HEADER)
RSP_HEADER_BYTES = C.header_bytes(C.RSP_HEADER)


class ProtocolError(EIEError):
    """The device answered with an error status, or sent something malformed."""

    def __init__(self, message: str, status: "Status | int | None" = None):
        super().__init__(message)
        self.status = status


# ---- fields <-> bytes ----------------------------------------------------------------------

def _fields_to_bytes(values: dict, fields, what: str) -> bytes:
    word = int(pack_fields(values, fields, what=what))
    return word.to_bytes(fields_width(fields) // 8, "little")


def _bytes_to_fields(raw: bytes, fields) -> dict[str, int]:
    word = int.from_bytes(bytes(raw), "little")
    return {k: int(v) for k, v in unpack_fields(word, fields).items()}


def pack_args(op: Op, **values) -> bytes:
    """The argument bytes of ``op`` (`eie.contract.ARGS`)."""
    try:
        return _fields_to_bytes(values, C.ARGS[Op(op)], f"{Op(op).name} argument")
    except ValueError as e:
        raise ProtocolError(str(e)) from None


def unpack_args(op: Op, body: bytes) -> dict[str, int]:
    """The arguments at the start of a command body (missing bytes read as zero)."""
    n = C.arg_bytes(op)
    return _bytes_to_fields(bytes(body[:n]).ljust(n, b"\0"), C.ARGS[Op(op)])


# ---- commands ------------------------------------------------------------------------------

def frame(op: int, body: bytes = b"") -> bytes:
    """A raw command frame (also for malformed ones in tests)."""
    if len(body) > MAX_BODY:
        raise ProtocolError(f"a command body holds at most {MAX_BODY} bytes, not {len(body)}")
    return _fields_to_bytes({"op": int(op), "len": len(body)}, C.CMD_HEADER, "header field") + bytes(body)


def cmd_nop() -> bytes:
    return bytes([Op.NOP])


def cmd_info() -> bytes:
    return frame(Op.INFO)


def cmd_status() -> bytes:
    return frame(Op.STATUS)


def cmd_read_counters() -> bytes:
    return frame(Op.READ_COUNTERS)


def cmd_run(n_layers: int) -> bytes:
    return frame(Op.RUN, pack_args(Op.RUN, n_layers=n_layers))


def _mem_words_bytes(cfg: EIEConfig, mem: Mem, words) -> bytes:
    try:
        return words_to_bytes(words, C.memory_table(cfg)[Mem(mem)].width)
    except ValueError as e:
        raise ProtocolError(f"{Mem(mem).key}: {e}") from None


def cmd_write_mem(cfg: EIEConfig, mem: Mem, pe: int, addr: int, words) -> bytes:
    words = np.asarray(words)
    return frame(Op.WRITE_MEM, pack_args(Op.WRITE_MEM, mem=int(mem), pe=pe, addr=addr, count=len(words))
                 + _mem_words_bytes(cfg, mem, words))


def cmd_read_mem(cfg: EIEConfig, mem: Mem, pe: int, addr: int, count: int) -> bytes:
    return frame(Op.READ_MEM, pack_args(Op.READ_MEM, mem=int(mem), pe=pe, addr=addr, count=count))


def cmd_write_act(cfg: EIEConfig, addr: int, values) -> bytes:
    values = np.asarray(values)
    return frame(Op.WRITE_ACT, pack_args(Op.WRITE_ACT, addr=addr, count=len(values))
                 + acts_to_bytes(values, cfg))


def cmd_read_act(cfg: EIEConfig, addr: int, count: int) -> bytes:
    return frame(Op.READ_ACT, pack_args(Op.READ_ACT, addr=addr, count=count))


def read_chunks(count: int, word_bytes: int, args: int = 0) -> list[tuple[int, int]]:
    """Split ``count`` words into (offset, n) chunks whose bytes fit one body."""
    per = max(1, (MAX_BODY - args) // word_bytes)
    return [(o, min(per, count - o)) for o in range(0, count, per)]


def write_mem_frames(cfg: EIEConfig, mem: Mem, pe: int, addr: int, words) -> list[bytes]:
    """WRITE_MEM frames for any number of words (split to fit the body limit)."""
    info = C.memory_table(cfg)[Mem(mem)]
    words = np.asarray(words)
    return [cmd_write_mem(cfg, mem, pe, addr + o, words[o:o + n])
            for o, n in read_chunks(len(words), info.nbytes, C.arg_bytes(Op.WRITE_MEM))]


def write_act_frames(cfg: EIEConfig, addr: int, values) -> list[bytes]:
    values = np.asarray(values)
    return [cmd_write_act(cfg, addr + o, values[o:o + n])
            for o, n in read_chunks(len(values), nbytes(cfg.act_bits), C.arg_bytes(Op.WRITE_ACT))]


def acts_to_bytes(values, cfg: EIEConfig) -> bytes:
    """Signed activations to two's complement words on the wire."""
    v = np.asarray(values, dtype=np.int64)
    if v.size and (v.min() < cfg.act_min or v.max() > cfg.act_max):
        raise ProtocolError(f"activation values must lie in {cfg.act_min}..{cfg.act_max}")
    return words_to_bytes(to_unsigned(v, cfg.act_bits), cfg.act_bits)


def bytes_to_acts(raw: bytes, cfg: EIEConfig) -> np.ndarray:
    return to_signed(decode_words(raw, cfg.act_bits), cfg.act_bits)


def decode_words(raw: bytes, width: int) -> np.ndarray:
    """Words of a READ_MEM (or counters) reply; ProtocolError unless whole words."""
    try:
        return bytes_to_words(raw, width)
    except ValueError as e:
        raise ProtocolError(str(e)) from None


def split_frames(data: bytes) -> list[bytes]:
    """Cut a stream of whole command frames into frames (NOPs are frames of one byte).

    Raises ProtocolError when the stream ends inside a frame.
    """
    data, out, i = bytes(data), [], 0
    while i < len(data):
        if data[i] == Op.NOP:
            out.append(data[i:i + 1])
            i += 1
            continue
        if i + CMD_HEADER_BYTES > len(data):
            raise ProtocolError(f"command stream ends inside a frame header at byte {i}")
        length = _bytes_to_fields(data[i:i + CMD_HEADER_BYTES], C.CMD_HEADER)["len"]
        end = i + CMD_HEADER_BYTES + length
        if end > len(data):
            raise ProtocolError(f"command stream ends inside the body of the frame at byte {i} "
                                f"(op 0x{data[i]:02x}, len {length})")
        out.append(data[i:end])
        i = end
    return out


# ---- responses -----------------------------------------------------------------------------

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
    """(status, op, len) of a response header."""
    if len(raw) != RSP_HEADER_BYTES:
        raise ProtocolError(f"a response header has {RSP_HEADER_BYTES} bytes, not {len(raw)}")
    h = _bytes_to_fields(raw, C.RSP_HEADER)
    return h["status"], h["op"], h["len"]


def response_bytes(status: int, op: int, body: bytes = b"") -> bytes:
    """A whole response frame, as the device sends it (for device models and tests)."""
    return _fields_to_bytes({"status": int(status), "op": int(op), "len": len(body)}, C.RSP_HEADER,
                            "header field") + bytes(body)


class ResponseFramer:
    """Where responses end in the device's stream of ``beat``-byte beats: `feed` takes the
    bytes of one beat and says whether that beat is a response's last (the beat the device
    must mark with tlast, `eie.contract`)."""

    def __init__(self, beat: int):
        self.beat = int(beat)
        self._seen = bytearray()       # bytes of the response in progress

    def feed(self, data: bytes) -> bool:
        self._seen += data
        if len(self._seen) < RSP_HEADER_BYTES:
            return False
        _, _, n = parse_header(bytes(self._seen[:RSP_HEADER_BYTES]))
        total = C.padded_bytes(RSP_HEADER_BYTES + n, self.beat)
        if len(self._seen) < total:
            return False
        del self._seen[:total]
        return True


@dataclass(frozen=True)
class Info:
    version: int
    n_pe: int
    queue_depth: int
    max_layers: int
    entries_per_word: int
    config_hash: str


def _check_len(body: bytes, op: Op, cfg: EIEConfig | None = None):
    """INFO and STATUS replies have a fixed size; READ_COUNTERS' depends on ``cfg``."""
    want = C.reply_bytes(cfg, op)
    if len(body) != want:
        raise ProtocolError(f"{op.name} body has {want} bytes, not {len(body)}")


def decode_info(body: bytes) -> Info:
    _check_len(body, Op.INFO)
    f = _bytes_to_fields(body, C.INFO_FIELDS)
    return Info(version=f["version"], n_pe=f["n_pe"], queue_depth=f["queue_depth"],
                max_layers=f["max_layers"], entries_per_word=f["entries_per_word"],
                config_hash=f["config_hash"].to_bytes(6, "little").hex())


def info_body(cfg: EIEConfig) -> bytes:
    """The INFO reply body of a device built from ``cfg``."""
    return C.info_word(cfg).to_bytes(C.reply_bytes(cfg, Op.INFO), "little")


@dataclass(frozen=True)
class DeviceStatus:
    ready: bool        # every PE has finished its reset sweep
    out_sel: int       # act file holding the last RUN's output (READ_ACT reads it)
    last_layers: int   # layers run by the last RUN (0: none since reset)


def decode_status(body: bytes) -> DeviceStatus:
    _check_len(body, Op.STATUS)
    f = _bytes_to_fields(body, C.STATUS_FIELDS)
    return DeviceStatus(ready=bool(f["ready"]), out_sel=f["out_sel"], last_layers=f["last_layers"])


def decode_run(body: bytes) -> int:
    """The RUN reply: the run's cycles."""
    _check_len(body, Op.RUN)
    return _bytes_to_fields(body, C.RUN_REPLY_FIELDS)["run_cycles"]


@dataclass(frozen=True)
class Counters:
    cycle: int                 # free-running cycle counter (wraps at 2**32)
    run_cycles: int            # cycles of the last RUN (sum of its layer cycles)
    broadcasts: int            # non-zero inputs broadcast by the last RUN
    layer_cycles: list[int]    # per layer-table entry, cycles in the last RUN (0 if not run)
    busy: list[int]            # per PE: cycles it issued a sparse-matrix entry (last RUN)
    stall: list[int]           # per PE: cycles the broadcast waited because its queue was full


def decode_counters(cfg: EIEConfig, body: bytes) -> Counters:
    _check_len(body, Op.READ_COUNTERS, cfg)
    words = [int(x) for x in decode_words(body, C.COUNTER_BITS)]
    groups, offset = {}, 0
    for name, count in C.counter_groups(cfg):
        groups[name] = words[offset:offset + count]
        offset += count
    return Counters(cycle=groups["cycle"][0], run_cycles=groups["run_cycles"][0],
                    broadcasts=groups["broadcasts"][0], layer_cycles=groups["layer_cycles"],
                    busy=groups["busy"], stall=groups["stall"])


# ---- the device's validation rules ---------------------------------------------------------

def expected_status(cfg: EIEConfig, cmd: bytes) -> Status:
    """The status the device answers to one whole command frame (not NOP).

    Checks in the device's order; the first failing one decides (docs/protocol.md).
    """
    h = _bytes_to_fields(cmd[:CMD_HEADER_BYTES], C.CMD_HEADER)
    op, n = h["op"], h["len"]
    body = cmd[CMD_HEADER_BYTES:CMD_HEADER_BYTES + n]
    try:
        op = Op(op)
    except ValueError:
        return Status.ERR_OPCODE
    if op == Op.NOP:
        raise ValueError("NOP has no response")
    need = C.arg_bytes(op)
    if n < need or (op not in C.DATA_OPS and n != need):
        return Status.ERR_LENGTH
    a = unpack_args(op, body)
    if op == Op.RUN:
        return Status.OK if 1 <= a["n_layers"] <= cfg.max_layers else Status.ERR_VALUE
    if op in (Op.WRITE_MEM, Op.READ_MEM):
        return _mem_status(cfg, op, n, a)
    if op in (Op.WRITE_ACT, Op.READ_ACT):
        return _transfer_status(op, n, a["count"], nbytes(cfg.act_bits), a["addr"], cfg.max_len)
    return Status.OK


def _mem_status(cfg: EIEConfig, op: Op, n: int, a: dict) -> Status:
    table = C.memory_table(cfg)
    if a["mem"] not in table.keys():
        return Status.ERR_MEM
    info = table[Mem(a["mem"])]
    pe = a["pe"]
    if info.per_pe and not (pe < cfg.n_pe or (op == Op.WRITE_MEM and pe == BROADCAST)):
        return Status.ERR_PE
    return _transfer_status(op, n, a["count"], info.nbytes, a["addr"], info.depth)


def _transfer_status(op: Op, n: int, count: int, word_bytes: int, addr: int, depth: int) -> Status:
    if count == 0:
        return Status.ERR_LENGTH
    if op in C.DATA_OPS and n != C.arg_bytes(op) + count * word_bytes:
        return Status.ERR_LENGTH
    if op not in C.DATA_OPS and count * word_bytes > MAX_BODY:
        return Status.ERR_LENGTH
    if addr + count > depth:
        return Status.ERR_ADDR
    return Status.OK


def expected_reply_bytes(cfg: EIEConfig, cmd: bytes) -> int:
    """Body length of the device's answer to a command (0 for errors)."""
    if expected_status(cfg, cmd) != Status.OK:
        return 0
    op = Op(cmd[0])
    a = unpack_args(op, cmd[CMD_HEADER_BYTES:])
    return C.reply_bytes(cfg, op, a.get("count", 0), a.get("mem"))
