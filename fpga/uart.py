"""UART receiver and transmitter (8N1) as Amaranth components with byte streams.

`UARTRx` turns the serial line into an ``amaranth.lib.stream`` of bytes; `UARTTx` turns a
stream of bytes into the serial line. Both count ``divisor`` clock cycles per bit (the
clock frequency divided by the baud rate, rounded: `baud_divisor` computes it and says how
far off the real baud rate is). The receiver samples each bit once, in its middle, after
a two-flop synchroniser; it checks the start bit again half a bit after the falling edge
(a glitch is not a byte) and the stop bit (a low stop bit is a framing error: the byte is
dropped, ``framing_error`` pulses, and the receiver waits for the line to go idle so a
held-low line, a "break", yields one error and no bytes).

A UART cannot be told to wait: if the receiver's previous byte still waits on its stream
when the next one completes, the new byte is dropped and ``overrun`` pulses. The bridge
(`fpga.bridge`) puts a FIFO behind the receiver so that never happens in normal use.
"""


from amaranth.hdl import Module, Signal, Const, Cat
from amaranth.lib import wiring, stream
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from .params import CheckedArgs

__all__ = ["UARTRx", "UARTTx", "baud_divisor", "check_divisor", "MIN_DIVISOR"]

# Below 4 cycles per bit the mid-bit sample point is less than one cycle away from an
# edge once the synchroniser's delay is counted; nothing real needs it.
MIN_DIVISOR = 4


def check_divisor(divisor) -> int:
    """``divisor``, or TypeError / ValueError when it is not a usable number of cycles per bit."""
    if not isinstance(divisor, int) or isinstance(divisor, bool):
        raise TypeError(f"UART divisor must be an integer, not {divisor!r}")
    if divisor < MIN_DIVISOR:
        raise ValueError(f"UART divisor must be at least {MIN_DIVISOR} clock cycles per bit, not {divisor}")
    return divisor


def baud_divisor(clk_freq: float, baud: int, *, tolerance: float = 0.02) -> int:
    """Clock cycles per bit for ``baud`` at ``clk_freq`` Hz.

    Raises `ValueError` when the nearest divisor misses the baud rate by more than
    ``tolerance`` (2 %: a frame of 10 bits then drifts at most a fifth of a bit), or is
    below `MIN_DIVISOR`.
    """
    if not baud > 0:
        raise ValueError(f"baud rate must be positive, not {baud!r}")
    if not clk_freq > 0:
        raise ValueError(f"clock frequency must be positive, not {clk_freq!r}")
    divisor = round(clk_freq / baud)
    if divisor < MIN_DIVISOR:
        raise ValueError(f"{baud} baud needs at least {MIN_DIVISOR * baud / 1e6:g} MHz; "
                         f"the clock is {clk_freq / 1e6:g} MHz")
    error = abs(clk_freq / divisor - baud) / baud
    if error > tolerance:
        raise ValueError(f"{baud} baud at {clk_freq / 1e6:g} MHz: divisor {divisor} is "
                         f"{100 * error:.1f}% off (more than {100 * tolerance:g}%)")
    return divisor


class _UARTHalf(CheckedArgs, wiring.Component):
    """What the receiver and the transmitter share: ``divisor`` clock cycles per bit."""

    @staticmethod
    def check(divisor: int):
        check_divisor(divisor)

    def __init__(self, divisor: int):
        self._divisor = divisor
        super().__init__()

    @property
    def divisor(self) -> int:
        """Clock cycles per bit."""
        return self._divisor


class UARTRx(_UARTHalf):
    """8N1 receiver.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (at least `MIN_DIVISOR`).

    Attributes
    ----------
    rx : In(1)
        The serial line (idle high), asynchronous: it is synchronised here.
    o : Out(stream.Signature(8))
        Received bytes.
    framing_error : Out(1)
        One-cycle pulse: a frame whose stop bit was low (the byte is dropped).
    overrun : Out(1)
        One-cycle pulse: a byte completed while the previous one still waited on ``o``
        (the new byte is dropped).
    """

    rx: In(1, init=1)
    o: Out(stream.Signature(8))
    framing_error: Out(1)
    overrun: Out(1)

    def elaborate(self, platform):
        m = Module()
        div = self._divisor

        rx = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, rx, init=1)

        timer = Signal(range(div))
        bit = Signal(range(8))
        shreg = Signal(8)

        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    # Half a bit to the middle of the start bit (the synchroniser's two
                    # cycles delay the edge and the samples alike, so they cancel).
                    m.d.sync += timer.eq(div // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(rx):
                    m.next = "IDLE"            # a glitch, not a start bit
                with m.Else():
                    m.d.sync += [timer.eq(div - 1), bit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    # LSB first: shift in from the top.
                    m.d.sync += [shreg.eq((shreg >> 1) | (rx << 7)), timer.eq(div - 1),
                                 bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(rx):
                    # Back to IDLE in the middle of the stop bit, so a sender whose clock
                    # runs a little fast can start its next frame right away.
                    with m.If(self.o.valid & ~self.o.ready):
                        m.d.comb += self.overrun.eq(1)
                    with m.Else():
                        m.d.sync += [self.o.payload.eq(shreg), self.o.valid.eq(1)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.comb += self.framing_error.eq(1)
                    m.next = "BREAK"
            with m.State("BREAK"):
                # Wait for the line to be idle again before looking for a start bit.
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UARTTx(_UARTHalf):
    """8N1 transmitter.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (at least `MIN_DIVISOR`).

    Attributes
    ----------
    i : In(stream.Signature(8))
        Bytes to send; a byte is taken as soon as the previous stop bit is complete, so
        back-to-back bytes leave with no idle time between frames.
    tx : Out(1)
        The serial line (idle high, also during reset).
    """

    i: In(stream.Signature(8))
    tx: Out(1, init=1)

    def elaborate(self, platform):
        m = Module()
        div = self._divisor

        timer = Signal(range(div))
        # start bit, 8 data bits (LSB first), stop bit; tx is the register's LSB so the
        # line comes straight from a flop (no glitches on the pin).
        shreg = Signal(10, init=1)
        bits_left = Signal(range(11))

        m.d.comb += self.tx.eq(shreg[0])
        # Ready in the last cycle of the stop bit too, so frames can follow with no gap:
        # ``bits_left == 0 or (bits_left == 1 and timer == 0)``, kept in a register (set a
        # cycle ahead), so the design's reply logic behind ``ready`` does not start from the
        # timer's compare (the OrangeCrab's critical path at 100 MHz, 10.17 ns).
        ready = Signal(init=1)
        m.d.comb += self.i.ready.eq(ready)

        with m.If(self.i.valid & ready):
            m.d.sync += [shreg.eq(Cat(Const(0, 1), self.i.payload, Const(1, 1))),
                         bits_left.eq(10), timer.eq(div - 1), ready.eq(0)]
        with m.Elif(bits_left == 0):
            pass
        with m.Elif(timer != 0):
            m.d.sync += [timer.eq(timer - 1), ready.eq((bits_left == 1) & (timer == 1))]
        with m.Else():
            m.d.sync += [shreg.eq((shreg >> 1) | (1 << 9)), bits_left.eq(bits_left - 1),
                         timer.eq(div - 1), ready.eq(bits_left == 1)]
        return m

