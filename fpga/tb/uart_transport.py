"""The host driver's byte transport over the board's UART pins, in cocotb.

`UARTPinTransport` is what a USB-serial chip does, written against the pins: it bit-bangs
8N1 frames onto the design's ``rx`` pin and decodes frames from its ``tx`` pin, with no
knowledge of the RTL's UART. The host driver (`host.driver.EIEDriver`) runs on top
unchanged (``send``/``recv``), so the whole path is tested: driver, protocol, line
framing, the bridge and the array.

Timing is in simulated time, not clock cycles (a USB-serial chip does not see the FPGA's
clock): a bit lasts ``divisor`` clock periods times ``1 + skew``, so a host a little off
the FPGA's baud rate is modelled too. Frames from the host leave back to back, optionally
with idle time between them (``gap_bits``). The receiver reads each bit's level at its
middle and records framing errors (a low stop bit), which the test treats as failures.
Both sides wait once per change of the line, not once per bit (a simulator callback
costs far more than the simulated cycles between them).
"""

from __future__ import annotations

import random

import cocotb
from cocotb.triggers import Event, FallingEdge, First, RisingEdge, Timer, with_timeout
from cocotb.utils import get_sim_time

__all__ = ["UARTPinTransport", "UARTTimeout"]


class UARTTimeout(AssertionError):
    """The design did not send the bytes asked for in time (missing data)."""


class UARTPinTransport:
    """Host side of the serial line: ``send``/``recv`` for `host.driver`.

    Parameters
    ----------
    rx, tx : cocotb handles
        The design's receive pin (driven here) and transmit pin (decoded here).
    clk_period_ps : int
        The design's clock period.
    divisor : int
        The design's UART divisor (clock cycles per bit).
    skew : float
        The host's bit time is ``divisor * clk_period * (1 + skew)``.
    gap_bits : float
        Largest random idle time between frames sent, in bits (0: back to back).
    seed : int
        Seed of the random gaps.
    timeout_bits : int
        Bit times a `recv` may wait for its next byte before it fails.
    """

    def __init__(self, rx, tx, *, clk_period_ps: int, divisor: int, skew: float = 0.0,
                 gap_bits: float = 0.0, seed: int = 0, timeout_bits: int = 200_000):
        if not -0.05 < skew < 0.05:
            raise ValueError(f"skew must be within +-5 %, not {skew!r}")
        self.rx, self.tx = rx, tx
        self.bit_ps = int(round(divisor * clk_period_ps * (1.0 + skew)))
        # The receiver uses the design's exact bit time (it decodes what the design sends).
        self.rx_bit_ps = int(divisor * clk_period_ps)
        self.gap_bits = float(gap_bits)
        self.rng = random.Random(seed)
        self.timeout_ps = int(timeout_bits) * self.rx_bit_ps
        self._in = bytearray()
        self._event = Event()
        self.framing_errors = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self._task = None
        self.rx.value = 1

    def start(self):
        self._task = cocotb.start_soon(self._receive())
        return self

    def stop(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None

    # ---- the transport API ----------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        for byte in bytes(data):
            if self.gap_bits:
                gap = int(self.rng.random() * self.gap_bits * self.bit_ps)
                if gap:
                    await Timer(gap, "ps")
            # One wait per run of equal bits, not per bit: a zero byte is two waits.
            levels = [0] + [(byte >> i) & 1 for i in range(8)] + [1]
            i = 0
            while i < 10:
                j = i
                while j < 10 and levels[j] == levels[i]:
                    j += 1
                self.rx.value = levels[i]
                await Timer((j - i) * self.bit_ps, "ps")
                i = j
            self.bytes_sent += 1

    async def recv(self, n: int) -> bytes:
        while len(self._in) < n:
            self._event.clear()
            try:
                await with_timeout(self._event.wait(), self.timeout_ps, "ps")
            except Exception as e:           # cocotb's SimTimeoutError
                if type(e).__name__ != "SimTimeoutError":
                    raise
                raise UARTTimeout(f"no byte from the design for {self.timeout_ps // self.rx_bit_ps} bit "
                                  f"times ({n - len(self._in)} of {n} outstanding; sent {self.bytes_sent}, "
                                  f"received {self.bytes_received})") from None
        out = bytes(self._in[:n])
        del self._in[:n]
        return out

    write, read = send, recv

    @property
    def extra(self) -> bytes:
        """Bytes received that nobody has read."""
        return bytes(self._in)

    def take(self) -> bytes:
        """Every byte received so far and not yet read (for a bridge to a real port)."""
        out = bytes(self._in)
        self._in.clear()
        return out

    # ---- the receiver -----------------------------------------------------------------------

    async def _receive(self):
        # Edges, not samples: after a start bit's falling edge, wait for the line's edges (or
        # the middle of the stop bit) and read each bit's level at its middle from them.
        bit = self.rx_bit_ps
        while True:
            await FallingEdge(self.tx)
            t0 = get_sim_time("ps")
            edges = [(t0, 0)]
            end = t0 + bit * 19 // 2                         # middle of the stop bit
            while True:
                now = get_sim_time("ps")
                if now >= end:
                    break
                change = self.tx.value_change
                fired = await First(change, Timer(end - now, "ps"))
                if fired is change:
                    edges.append((get_sim_time("ps"), int(self.tx.value)))

            def level(t):
                value = edges[0][1]
                for when, v in edges:
                    if when > t:
                        break
                    value = v
                return value

            if level(t0 + bit // 2) != 0:
                continue                                     # a glitch, not a start bit
            byte = sum(level(t0 + bit * (2 * i + 3) // 2) << i for i in range(8))
            if level(end) != 1:
                self.framing_errors += 1
                # Wait for the line to go idle before looking for the next start bit.
                if int(self.tx.value) == 0:
                    await RisingEdge(self.tx)
                continue
            self._in.append(byte)
            self.bytes_received += 1
            self._event.set()
