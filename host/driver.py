"""Host driver of the EIE array: one async API over any byte transport.

Glasgow style: the same driver talks to the design in Amaranth's simulator
(sim/amaranth_transport.py), under cocotb/Verilator (sim/cocotb_transport.py), or on an FPGA
over a UART (fpga/serial_transport.py). A transport is any object with two coroutines::

    async def send(self, data: bytes) -> None     # bytes to the design's host_rx
    async def recv(self, n: int) -> bytes          # exactly n bytes from host_tx

The driver speaks the command protocol of docs/protocol.md through `host.protocol`: load a
compressed model (an `eie.images` folder, an in-memory `Program`, or `Memories`), write an
input vector, run, read outputs and performance counters. `read_result` and `infer` return
the model's outputs in the model's order (a balanced encoding's permutation undone);
`read_output` reads the activation file as the device holds it. It handles any host stream
width (``cfg.host_bits``): it fills each command's last beat with NOPs and drops the zeros
that fill a response's last beat (`eie.contract`, "the host stream"); the transport moves
whole beats.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from eie import format as fmt
from eie.bits import nbytes, to_signed
from eie.config import EIEConfig
from eie.contract import Mem, memory_table, beat_bytes, pad_to_beats, padded_bytes
from eie.images import read_images

from . import protocol as proto
from .load import load_frames, memories_of

__all__ = ["Transport", "EIEDriver"]


class Transport(Protocol):
    async def send(self, data: bytes) -> None: ...
    async def recv(self, n: int) -> bytes: ...


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
        self.mems = memory_table(cfg)
        self.n_layers = 0
        self.output_positions = None    # of the loaded model (`eie.images.Memories`)
        self.beat = beat_bytes(cfg)

    # ---- raw commands ----
    async def send_command(self, frame: bytes) -> None:
        """Send one command frame (or several, or NOPs), its last beat filled with NOPs."""
        await self.transport.send(pad_to_beats(frame, self.beat))

    async def read_response(self, expect_op: int | None = None) -> proto.Response:
        """Read one whole response (no status check), the padding of its last beat dropped."""
        status, op, n = proto.parse_header(await self.transport.recv(proto.RSP_HEADER_BYTES))
        body = await self.transport.recv(n) if n else b""
        pad = padded_bytes(proto.RSP_HEADER_BYTES + n, self.beat) - proto.RSP_HEADER_BYTES - n
        if pad and any(await self.transport.recv(pad)):
            raise proto.ProtocolError(f"the last beat of the response to op 0x{op:02x} is not filled with zeros")
        if expect_op is not None and op != expect_op:
            raise proto.ProtocolError(f"response to op 0x{op:02x} where 0x{int(expect_op):02x} was expected")
        return proto.Response(status, op, body)

    async def command(self, frame: bytes, expect_op: int | None = None) -> proto.Response:
        """Send one command frame and read its whole response (no status check)."""
        await self.send_command(frame)
        return await self.read_response(expect_op)

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
            parts.append(proto.decode_words(body, info.width))
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    # ---- model, inputs, outputs ----
    async def load(self, source) -> None:
        """Write every used word of a model: `eie.images.Images`, a `Program`, `Memories`,
        or an image folder (read and checked against ``cfg``)."""
        if not hasattr(source, "cfg"):
            source = read_images(source, self.cfg)
        mems = memories_of(source)
        for f in load_frames(mems):
            await self._ok(f)
        self.loaded(mems)

    def loaded(self, source) -> None:
        """Take note of a model that is in the device by other means (a simulator's
        backdoor, a baked boot ROM): its layer count and where its outputs sit."""
        mems = memories_of(source)
        self.n_layers = mems.n_layers
        self.output_positions = mems.output_positions

    async def write_input(self, x, addr: int = 0) -> None:
        for f in proto.write_act_frames(self.cfg, addr, np.asarray(x, np.int64)):
            await self._ok(f)

    async def read_output(self, count: int, addr: int = 0) -> np.ndarray:
        nb = nbytes(self.cfg.act_bits)
        parts = []
        for o, n in proto.read_chunks(count, nb):
            parts.append(proto.bytes_to_acts(await self._ok(proto.cmd_read_act(self.cfg, addr + o, n)),
                                             self.cfg))
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    async def read_result(self, count: int) -> np.ndarray:
        """Model outputs ``0 .. count-1`` of the last layer, in the model's order: the device
        positions of a balanced encoding are read and put back (`eie.format.to_model_order`)."""
        pos = self.output_positions
        if pos is None:
            return await self.read_output(count)
        pos = np.asarray(pos[:count], np.int64)
        y = await self.read_output(int(pos.max()) + 1 if len(pos) else 0)
        return fmt.to_model_order(y, pos)

    async def run(self, n_layers: int | None = None) -> int:
        """Run layers 0..n_layers-1 (default: all loaded); return the run's cycles."""
        n = self.n_layers if n_layers is None else n_layers
        return proto.decode_run(await self._ok(proto.cmd_run(n)))

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
        return to_signed(out, self.cfg.act_bits)[:count]

    async def infer(self, x, out_len: int, n_layers: int | None = None) -> np.ndarray:
        """Write an input vector, run, read ``out_len`` outputs: the model's, in its order,
        after a run of every layer; the device's after a shorter one."""
        await self.write_input(x)
        await self.run(n_layers)
        if n_layers is None or n_layers == self.n_layers:
            return await self.read_result(out_len)
        return await self.read_output(out_len)

