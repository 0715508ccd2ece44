"""Host driver of the EIE array: one async API over any byte transport.

Glasgow style: the same driver talks to the design in Amaranth's simulator
(sim/amaranth_transport.py), under cocotb/Verilator, or on an FPGA over a UART. A transport
is any object with two coroutines::

    async def send(self, data: bytes) -> None     # bytes to the design's host_rx
    async def recv(self, n: int) -> bytes          # exactly n bytes from host_tx

The driver speaks the command protocol of docs/protocol.md through hw.protocol's encoders:
load a compressed model (from `eie.images` folders or an in-memory `Program`), write an
input vector, run, read outputs and performance counters.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from eie.config import EIEConfig
from eie import format as fmt
from hw import protocol as proto
from hw.protocol import Mem, Op

__all__ = ["Transport", "EIEDriver", "Driver", "memories_of_program", "memories_of_images"]


class Transport(Protocol):
    async def send(self, data: bytes) -> None: ...
    async def recv(self, n: int) -> bytes: ...


def _entry_words(codes: np.ndarray, cfg: EIEConfig) -> np.ndarray:
    """(words, entries_per_word) entry codes to packed words (object ints when wide)."""
    codes = np.asarray(codes, dtype=np.int64).reshape(-1, cfg.entries_per_word)
    if cfg.word_bits <= 63:
        shifts = np.arange(cfg.entries_per_word, dtype=np.int64) * cfg.entry_bits
        return (codes << shifts).sum(axis=1) if len(codes) else np.zeros(0, np.int64)
    return np.array([sum(int(c) << (i * cfg.entry_bits) for i, c in enumerate(row)) for row in codes],
                    dtype=object)


def memories_of_program(program: fmt.Program) -> dict:
    """Memory contents of a Program: ``{"pe": [{"ptr", "spmat", "bias"}...], "codebook", "layers"}``
    (spmat as packed words)."""
    from eie.images import program_memories
    mems = program_memories(program)
    cfg = program.cfg
    pe = [{"ptr": p["ptr"], "spmat": _entry_words(p["spmat"], cfg), "bias": p["bias"]} for p in mems["pe"]]
    return {"pe": pe, "codebook": mems["global"]["codebook"], "layers": mems["global"]["layers"]}


def memories_of_images(images) -> dict:
    """The same from an `eie.images.Images` folder."""
    cfg = images.cfg
    pe = [{name: images.pe_memory(name, k) for name in ("ptr", "spmat", "bias")} for k in range(cfg.n_pe)]
    return {"pe": pe, "codebook": images.global_memory("codebook"), "layers": images.global_memory("layers")}


class EIEDriver:
    """Async driver of one device.

    Parameters
    ----------
    transport : Transport
    cfg : EIEConfig
        The device's configuration (`check_info` verifies it against the device).
    """

    def __init__(self, transport: Transport, cfg: EIEConfig):
        self.transport, self.cfg = transport, cfg
        self.mems = proto.memory_table(cfg)
        self.n_layers = 0

    # ---- raw commands ----
    async def command(self, frame: bytes, expect_op: int | None = None) -> proto.Response:
        """Send one command frame and read its whole response (no status check)."""
        await self.transport.send(frame)
        status, op, n = proto.parse_header(await self.transport.recv(proto.RESPONSE_HEADER_BYTES))
        body = await self.transport.recv(n) if n else b""
        if expect_op is not None and op != expect_op:
            raise proto.ProtocolError(f"response to op 0x{op:02x} where 0x{int(expect_op):02x} was expected")
        return proto.Response(status, op, body)

    async def _ok(self, frame: bytes) -> bytes:
        return (await self.command(frame, frame[0])).check().body

    async def info(self) -> proto.Info:
        return proto.decode_info(await self._ok(proto.cmd_info()))

    async def check_info(self) -> proto.Info:
        """Read INFO and raise ProtocolError unless the device was built from ``cfg``."""
        info = await self.info()
        if info.version != proto.VERSION or info.config_hash != self.cfg.hash:
            raise proto.ProtocolError(f"device speaks protocol {info.version} with config {info.config_hash}; "
                                      f"the driver expects {proto.VERSION} with {self.cfg.hash}")
        return info

    async def status(self) -> proto.DeviceStatus:
        return proto.decode_status(await self._ok(proto.cmd_status()))

    async def write_mem(self, mem: Mem, pe: int, addr: int, words) -> None:
        for f in proto.write_mem_frames(self.cfg, mem, pe, addr, words):
            await self._ok(f)

    async def read_mem(self, mem: Mem, pe: int, addr: int, count: int) -> np.ndarray:
        info = self.mems[Mem(mem)]
        parts = []
        for o, n in proto.read_chunks(count, info.nbytes):
            body = await self._ok(proto.cmd_read_mem(self.cfg, mem, pe, addr + o, n))
            parts.append(proto.bytes_to_words(body, info.width))
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    # ---- model, inputs, outputs ----
    async def load(self, mems: dict) -> None:
        """Write every memory of `memories_of_program` / `memories_of_images` contents."""
        for k, pe in enumerate(mems["pe"]):
            for mem, name in ((Mem.PTR, "ptr"), (Mem.SPMAT, "spmat"), (Mem.BIAS, "bias")):
                if len(pe[name]):
                    await self.write_mem(mem, k, 0, pe[name])
        await self.write_mem(Mem.CODEBOOK, proto.BROADCAST, 0, mems["codebook"])
        await self.write_mem(Mem.LAYERS, proto.BROADCAST, 0, mems["layers"])
        self.n_layers = len(mems["layers"])

    async def load_program(self, program: fmt.Program) -> None:
        await self.load(memories_of_program(program))

    async def load_images(self, images) -> None:
        """Load an `eie.images.Images` (or a folder path, read and checked against ``cfg``)."""
        if not hasattr(images, "pe_memory"):
            from eie.images import read_images
            images = read_images(images, self.cfg)
        await self.load(memories_of_images(images))
        self.n_layers = images.n_layers

    async def write_input(self, x, addr: int = 0) -> None:
        for f in proto.write_act_frames(self.cfg, addr, np.asarray(x, np.int64)):
            await self._ok(f)

    async def read_output(self, count: int, addr: int = 0) -> np.ndarray:
        nb = (self.cfg.act_bits + 7) // 8
        parts = []
        for o, n in proto.read_chunks(count, nb):
            parts.append(proto.bytes_to_acts(await self._ok(proto.cmd_read_act(self.cfg, addr + o, n)),
                                             self.cfg))
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    async def run(self, n_layers: int | None = None) -> int:
        """Run layers 0..n_layers-1 (default: all loaded); return the run's cycles."""
        n = self.n_layers if n_layers is None else n_layers
        body = await self._ok(proto.cmd_run(n))
        return int.from_bytes(body, "little")

    async def counters(self) -> proto.Counters:
        return proto.decode_counters(self.cfg, await self._ok(proto.cmd_read_counters()))

    async def wait_ready(self, polls: int = 10_000) -> None:
        """Poll STATUS until every PE has finished its reset sweep."""
        for _ in range(polls):
            if (await self.status()).ready:
                return
        raise proto.ProtocolError("device never became ready")

    async def read_act_file(self, file: int, count: int) -> np.ndarray:
        """Activations ``0 .. count-1`` of act file 0 or 1 (global index order), over READ_MEM."""
        N = self.cfg.n_pe
        slots = -(-count // N)
        mem = Mem.ACT1 if file else Mem.ACT0
        out = np.zeros(slots * N, np.int64)
        for k in range(min(N, count)):
            raw = await self.read_mem(mem, k, 0, slots)
            out[k::N] = raw
        bits = self.cfg.act_bits
        out = np.where(out >= (1 << (bits - 1)), out - (1 << bits), out)
        return out[:count]

    # Names the cocotb testbench uses.
    write_inputs = write_input
    read_outputs = read_output
    read_counters = counters

    async def infer(self, x, out_len: int, n_layers: int | None = None) -> np.ndarray:
        """Write an input vector, run, read ``out_len`` outputs."""
        await self.write_input(x)
        await self.run(n_layers)
        return await self.read_output(out_len)


Driver = EIEDriver
