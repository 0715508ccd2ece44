"""The host driver's byte transport over cocotb: the top's two streams, cycle by cycle.

`CocotbTransport` drives the top's input stream (host to design: ``s_axis_tvalid``,
``s_axis_tdata``; the design answers ``s_axis_tready``) and consumes its output stream
(design to host: the design drives ``m_axis_tvalid``, ``m_axis_tdata`` and
``m_axis_tlast``, we drive ``m_axis_tready``), following `amaranth.lib.stream`'s rules: a
beat moves on a rising clock edge where ``valid`` and ``ready`` are both high. Bytes travel
in beats as wide as ``tdata`` (`eie.contract`, "the host stream"): `write` takes whole
beats, and every beat received is checked to carry ``tlast`` exactly when it ends a
response (`host.protocol.ResponseFramer`); a wrong one fails the next `read`.

Two knobs stress the design's handshakes, as in cocotbext-axi:

* ``idle``: probability that the driver holds ``valid`` low for a cycle although it has a
  byte to send (random idle cycles on the input stream);
* ``backpressure``: probability that the monitor holds ``ready`` low for a cycle (random
  backpressure on the output stream).

Both draw from one ``random.Random(seed)``, so a seed replays the exact same cycle
pattern. The monitor side is always running: every byte the design sends lands in the
receive buffer, so the scoreboard can tell a missing byte (a `read` that times out) from
an extra one (`assert_quiet` / `extra`). Values are sampled just after the rising edge,
where cocotb still shows the signal values the edge saw.

The ports are found by their AXI4-Stream names (`hw.ports.VERILOG_PORTS`), or by Amaranth's
flattened stream names (``host_rx__valid`` ...) in a design without them (`stream_ports`).
"""

from __future__ import annotations

import random
from collections import deque

import cocotb
from cocotb.triggers import Event, RisingEdge, ClockCycles, ReadOnly, Timer
from cocotb.utils import get_sim_time

from eie.contract import from_beats, to_beats
from host.protocol import ResponseFramer
from hw.ports import VERILOG_PORTS

__all__ = ["CocotbTransport", "TransportTimeout", "FramingError", "stream_ports"]

_ROLES = {"rx_payload": "host_rx__payload", "rx_valid": "host_rx__valid", "rx_ready": "host_rx__ready",
          "rx_last": "host_rx_last", "tx_payload": "host_tx__payload", "tx_valid": "host_tx__valid",
          "tx_ready": "host_tx__ready", "tx_last": "host_tx_last"}


class TransportTimeout(AssertionError):
    """The design did not accept or deliver bytes within the allowed cycles."""


class FramingError(AssertionError):
    """The design's ``tlast`` does not mark the last beat of a response."""


def stream_ports(dut) -> dict:
    """cocotb handles of the host streams by role (``rx_valid`` ... ``tx_last``): the
    AXI4-Stream names of the EIE top, else Amaranth's stream names (``tx_last`` None when
    the design has none)."""
    axis = hasattr(dut, VERILOG_PORTS[_ROLES["rx_payload"]])
    out = {}
    for role, name in _ROLES.items():
        name = VERILOG_PORTS[name] if axis else name
        out[role] = getattr(dut, name) if hasattr(dut, name) else None
    return out


class CocotbTransport:
    """Byte transport to the design's host streams, with random idle cycles and backpressure.

    Parameters
    ----------
    dut : cocotb handle of the top
    clk : the clock handle
    idle : float
        Probability of an idle cycle on the input stream while beats wait to be sent.
    backpressure : float
        Probability that the output stream's ``ready`` is low in a cycle.
    seed : int
        Seed of the cycle pattern.
    timeout_cycles : int
        Cycles a `write` or `read` may go without any byte moving before it fails.
    period_ns : float
        Clock period (cycle numbers are derived from simulation time).

    Python runs only while bytes move: with nothing to send the driver side waits on an
    event, and with ``host_tx.valid`` low the monitor side waits for it to rise (a
    value-change callback), so a long RUN simulates without Python in the loop.
    """

    def __init__(self, dut, clk, *, idle: float = 0.0, backpressure: float = 0.0, seed: int = 0,
                 timeout_cycles: int = 200_000, period_ns: float = 10.0):
        if not 0.0 <= idle < 1.0:
            raise ValueError(f"idle must be in [0, 1), not {idle!r}")
        if not 0.0 <= backpressure < 1.0:
            raise ValueError(f"backpressure must be in [0, 1), not {backpressure!r}")
        self.dut, self.clk = dut, clk
        self.idle, self.backpressure = float(idle), float(backpressure)
        self.rng = random.Random(seed)
        self.timeout_cycles = int(timeout_cycles)
        self.period_ns = float(period_ns)
        ports = stream_ports(dut)
        self.rx_valid, self.rx_ready, self.rx_payload = ports["rx_valid"], ports["rx_ready"], ports["rx_payload"]
        self.tx_valid, self.tx_ready, self.tx_payload = ports["tx_valid"], ports["tx_ready"], ports["tx_payload"]
        self.rx_last, self.tx_last = ports["rx_last"], ports["tx_last"]
        self.beat = len(self.rx_payload) // 8
        self._framer = ResponseFramer(self.beat)
        self.framing_errors: list[str] = []
        self._out: deque[tuple[int, int]] = deque()     # (beat, tlast) waiting to go to the design
        self._in = bytearray()              # bytes received from the design
        self._out_event = Event()
        self._sent_event = Event()
        self._in_event = Event()
        self.bytes_sent = 0
        self.bytes_received = 0
        self._tasks = []
        self._want = 0
        self._timed_out = False
        self._t0 = get_sim_time("ns")
        self.rx_valid.value = 0
        self.rx_payload.value = 0
        if self.rx_last is not None:
            self.rx_last.value = 0
        self.tx_ready.value = 0
        self._ready_shown = False

    @property
    def cycle(self) -> int:
        """Clock cycles since this transport was made (from simulation time)."""
        return int((get_sim_time("ns") - self._t0) // self.period_ns)

    # ---- life cycle ------------------------------------------------------------------------

    def start(self):
        self._tasks = [cocotb.start_soon(self._drive()), cocotb.start_soon(self._monitor())]
        return self

    def stop(self):
        for t in self._tasks:
            t.cancel()
        self._tasks = []
        self.rx_valid.value = 0
        self.tx_ready.value = 0
        self._ready_shown = False

    def set_stress(self, idle: float, backpressure: float):
        self.idle, self.backpressure = float(idle), float(backpressure)

    # ---- the byte-transport API the host driver uses -------------------------------------

    async def write(self, data: bytes | bytearray) -> None:
        """Send ``data`` (whole beats); returns when the design has accepted every byte."""
        if not data:
            return
        # tlast with the last beat of each write, as a DMA marks a transfer's end (the EIE
        # top does not look at it).
        beats = to_beats(bytes(data), self.beat)
        self._out.extend((b, int(i == len(beats) - 1)) for i, b in enumerate(beats))
        self._out_event.set()
        await self.flush()

    async def flush(self) -> None:
        """Wait until every queued byte has been accepted (fails after a stall: a hang)."""
        if self._out:
            self._sent_event.clear()
            await self._wait(self._sent_event, "accept", lambda: len(self._out))

    async def read(self, n: int) -> bytes:
        """Receive exactly ``n`` bytes (fails if they do not come in time: missing data, or
        if a beat came with a wrong ``tlast``)."""
        self._check_framing()
        if len(self._in) < n:
            self._want = n
            self._in_event.clear()
            try:
                await self._wait(self._in_event, "deliver", lambda: n - len(self._in))
            finally:
                self._want = 0
        self._check_framing()
        out = bytes(self._in[:n])
        del self._in[:n]
        return out

    def _check_framing(self):
        if self.framing_errors:
            raise FramingError(self.framing_errors[0])

    # The driver calls these names (host/driver.py's Transport).
    send = write
    recv = read

    @property
    def extra(self) -> bytes:
        """Bytes received that nobody has read (yet)."""
        return bytes(self._in)

    async def assert_quiet(self, cycles: int = 64) -> None:
        """Fail if the design sends anything within ``cycles`` (extra data)."""
        await ClockCycles(self.clk, cycles)
        self._check_framing()
        if self._in:
            raise AssertionError(f"extra bytes from the design nobody asked for: {bytes(self._in).hex()}")

    async def wait_cycles(self, n: int) -> None:
        await ClockCycles(self.clk, n)

    # ---- internals -------------------------------------------------------------------------

    async def _wait(self, event: Event, what: str, left):
        # A watchdog fires ``event`` when no byte moved for ``timeout_cycles`` cycles:
        # a hang becomes a clear failure instead of a simulation that never ends.
        dog = cocotb.start_soon(self._watchdog(event))
        try:
            await event.wait()
        finally:
            dog.cancel()
        if self._timed_out:
            self._timed_out = False
            raise TransportTimeout(
                f"the design did not {what} bytes for {self.timeout_cycles} cycles "
                f"({left()} byte(s) outstanding, cycle {self.cycle}, sent {self.bytes_sent}, "
                f"received {self.bytes_received})")

    async def _watchdog(self, event: Event):
        last = (self.bytes_sent, self.bytes_received)
        while True:
            await Timer(self.timeout_cycles * self.period_ns, "ns")
            now = (self.bytes_sent, self.bytes_received)
            if now == last:
                self._timed_out = True
                event.set()
                return
            last = now

    async def _drive(self):
        """Input stream: present a beat when we have one (or idle at random); watch for ready.

        Signals are written only when they change (a VPI write a cycle costs more than the
        model's evaluation of a small design)."""
        clk, rng = self.clk, self.rng
        valid = False          # what tvalid shows
        shown = False          # tdata (and tlast) show the head of the queue
        while True:
            if not valid and not self._out:
                self._out_event.clear()
                await self._out_event.wait()
                # Align to the clock: the new beat goes out after the next edge.
                await RisingEdge(clk)
            else:
                await RisingEdge(clk)
                if valid and self.rx_ready.value:      # the edge just took the beat
                    self._out.popleft()
                    self.bytes_sent += self.beat
                    shown = False
                    if not self._out:
                        self._sent_event.set()
            # Choose this cycle's beat. A beat once offered stays offered (stream rule).
            if self._out and ((valid and shown) or self.idle == 0.0 or rng.random() >= self.idle):
                if not shown:
                    beat, last = self._out[0]
                    self.rx_payload.value = beat
                    if self.rx_last is not None:
                        self.rx_last.value = last
                    shown = True
                if not valid:
                    self.rx_valid.value = 1
                    valid = True
            elif valid:
                self.rx_valid.value = 0
                valid = False

    async def _monitor(self):
        """Output stream: ready low at random (backpressure); collect every beat.

        While ``valid`` is low nothing can move, so the monitor sleeps until it rises."""
        clk = self.clk
        ready = self._choose_ready()
        while True:
            await RisingEdge(clk)
            if self.tx_valid.value:                      # valid as the edge saw it
                if ready:
                    self._receive(int(self.tx_payload.value), self.tx_last is not None and bool(self.tx_last.value))
                    if self._want and len(self._in) >= self._want:
                        self._in_event.set()
                ready = self._choose_ready()
            else:
                ready = self._choose_ready()             # (no writes after ReadOnly)
                await ReadOnly()                         # valid after the edge
                if not self.tx_valid.value:
                    await RisingEdge(self.tx_valid)

    def _receive(self, beat: int, last: bool):
        data = from_beats([beat], self.beat)
        self._in += data
        self.bytes_received += self.beat
        if self.tx_last is not None and last != self._framer.feed(data):
            self.framing_errors.append(
                f"tlast {int(last)} on the beat ending at byte {self.bytes_received} of the output stream, "
                f"which {'does not end' if last else 'ends'} a response")

    def _choose_ready(self) -> bool:
        ready = self.backpressure == 0.0 or self.rng.random() >= self.backpressure
        if ready != self._ready_shown:
            self.tx_ready.value = 1 if ready else 0
            self._ready_shown = ready
        return ready
