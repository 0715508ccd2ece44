"""The host driver's byte transport over Amaranth's simulator.

`AmaranthTransport` lives inside an async testbench (``sim.add_testbench``): `send` drives
the top's ``host_rx`` stream one beat per accepted cycle and `recv` takes beats from
``host_tx`` with ``ready`` held high. A transfer happens on a clock edge where ``valid`` and
``ready`` were both high (amaranth.lib.stream rules); ``ready`` is sampled after the
inputs are set, so a design whose ``ready`` depends on ``valid`` works too.

Beats are ``len(host_rx.payload)`` bits wide (the config's ``host_bits``); the driver sends
whole beats (`eie.contract`). When the design has ``host_tx_last``, every received beat is
checked against `host.protocol.ResponseFramer`: ``last`` on a response's last beat and on
no other.

The transport interface every driver transport implements (host/driver.py) is just::

    async def send(self, data: bytes) -> None
    async def recv(self, n: int) -> bytes
"""

from __future__ import annotations

from eie.contract import from_beats, to_beats
from host.protocol import ResponseFramer

__all__ = ["AmaranthTransport", "TransportTimeout", "FramingError"]


class TransportTimeout(AssertionError):
    """The design did not accept or deliver a byte within the allowed cycles."""


class FramingError(AssertionError):
    """The design's ``last`` flag does not mark the last beat of a response."""


class AmaranthTransport:
    """Parameters
    ----------
    ctx : the testbench context of ``add_testbench``
    dut : a Component with ``host_rx`` / ``host_tx`` streams (hw.top.EIETop)
    timeout_cycles : int
        Cycles one beat may wait before `TransportTimeout`.
    """

    def __init__(self, ctx, dut, timeout_cycles: int = 1_000_000):
        self.ctx, self.dut, self.timeout = ctx, dut, int(timeout_cycles)
        self.cycles = 0        # clock edges this transport has waited
        self.beat = len(dut.host_rx.payload) // 8
        self._in = bytearray()
        self._last = getattr(dut, "host_tx_last", None)
        self._framer = ResponseFramer(self.beat)

    async def _tick(self):
        await self.ctx.tick()
        self.cycles += 1

    async def send(self, data: bytes) -> None:
        ctx, rx = self.ctx, self.dut.host_rx
        for beat in to_beats(bytes(data), self.beat):
            ctx.set(rx.payload, beat)
            ctx.set(rx.valid, 1)
            for _ in range(self.timeout):
                ready = ctx.get(rx.ready)
                await self._tick()
                if ready:
                    break
            else:
                raise TransportTimeout(f"host_rx did not accept a beat in {self.timeout} cycles")
        ctx.set(rx.valid, 0)

    async def recv(self, n: int) -> bytes:
        ctx, tx = self.ctx, self.dut.host_tx
        ctx.set(tx.ready, 1)
        waited = 0
        while len(self._in) < n:
            if ctx.get(tx.valid):
                self._take(ctx.get(tx.payload))
                waited = 0
            elif waited >= self.timeout:
                ctx.set(tx.ready, 0)
                raise TransportTimeout(f"host_tx gave {len(self._in)} of {n} bytes, then nothing for "
                                       f"{self.timeout} cycles")
            else:
                waited += 1
            await self._tick()
        ctx.set(tx.ready, 0)
        out = bytes(self._in[:n])
        del self._in[:n]
        return out

    def _take(self, beat: int):
        data = from_beats([beat], self.beat)
        self._in += data
        if self._last is not None:
            last, ends = bool(self.ctx.get(self._last)), self._framer.feed(data)
            if last != ends:
                raise FramingError(f"host_tx_last is {int(last)} on a beat that "
                                   f"{'ends' if ends else 'does not end'} a response")
