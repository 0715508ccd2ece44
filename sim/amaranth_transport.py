"""The host driver's byte transport over Amaranth's simulator.

`AmaranthTransport` lives inside an async testbench (``sim.add_testbench``): `send` drives
the top's ``host_rx`` stream one byte per accepted cycle and `recv` takes bytes from
``host_tx`` with ``ready`` held high. A transfer happens on a clock edge where ``valid`` and
``ready`` were both high (amaranth.lib.stream rules); ``ready`` is sampled after the
inputs are set, so a design whose ``ready`` depends on ``valid`` works too.

The transport interface every driver transport implements (host/driver.py) is just::

    async def send(self, data: bytes) -> None
    async def recv(self, n: int) -> bytes
"""

from __future__ import annotations

__all__ = ["AmaranthTransport", "TransportTimeout"]


class TransportTimeout(AssertionError):
    """The design did not accept or deliver a byte within the allowed cycles."""


class AmaranthTransport:
    """Parameters
    ----------
    ctx : the testbench context of ``add_testbench``
    dut : a Component with ``host_rx`` / ``host_tx`` byte streams (hw.top.EIETop)
    timeout_cycles : int
        Cycles one byte may wait before `TransportTimeout`.
    """

    def __init__(self, ctx, dut, timeout_cycles: int = 1_000_000):
        self.ctx, self.dut, self.timeout = ctx, dut, int(timeout_cycles)
        self.cycles = 0        # clock edges this transport has waited

    async def _tick(self):
        await self.ctx.tick()
        self.cycles += 1

    async def send(self, data: bytes) -> None:
        ctx, rx = self.ctx, self.dut.host_rx
        for b in bytes(data):
            ctx.set(rx.payload, b)
            ctx.set(rx.valid, 1)
            for _ in range(self.timeout):
                ready = ctx.get(rx.ready)
                await self._tick()
                if ready:
                    break
            else:
                raise TransportTimeout(f"host_rx did not accept a byte in {self.timeout} cycles")
        ctx.set(rx.valid, 0)

    async def recv(self, n: int) -> bytes:
        ctx, tx = self.ctx, self.dut.host_tx
        out = bytearray()
        ctx.set(tx.ready, 1)
        waited = 0
        while len(out) < n:
            if ctx.get(tx.valid):
                out.append(ctx.get(tx.payload))
                waited = 0
            elif waited >= self.timeout:
                ctx.set(tx.ready, 0)
                raise TransportTimeout(f"host_tx gave {len(out)} of {n} bytes, then nothing for "
                                       f"{self.timeout} cycles")
            else:
                waited += 1
            await self._tick()
        ctx.set(tx.ready, 0)
        return bytes(out)
