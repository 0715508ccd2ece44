"""UART bridge: the serial pins on one side, the EIE top's two host byte streams on the other.

The bridge carries the host protocol unchanged: every byte the host sends comes out of
``host_rx`` in order, every byte pushed into ``host_tx`` goes out on the line in order.
Between the receiver and ``host_rx`` sits a small FIFO, because a UART cannot be told to
wait while the design is briefly busy; if the FIFO does fill up, bytes are lost and the
sticky ``overrun`` flag says so (the board top shows it on an LED). ``framing_error``
is sticky too. Both clear only on reset: they are for a person looking at the board.
The transmitter holds ``host_tx`` off with ``ready``; a transmit FIFO (``tx_fifo_depth``,
one byte is enough) puts a register between the design's ``host_tx`` and the transmitter's
shift register, so the design's reply logic does not drive the enables of flops placed by
the pin (the OrangeCrab's critical path at 100 MHz on one seed, 10.80 ns).
"""


from amaranth.hdl import Module
from amaranth.lib import wiring, stream
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .params import CheckedArgs
from .uart import UARTRx, UARTTx

__all__ = ["UARTBridge"]


class UARTBridge(CheckedArgs, wiring.Component):
    """UART pins to and from byte streams.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (see `fpga.uart.baud_divisor`).
    fifo_depth : int
        Bytes the receive FIFO holds (in flops: on the iCE40 every block RAM is
        precious). 0 means no FIFO.
    tx_fifo_depth : int
        Bytes the transmit FIFO holds; 0 (the default) means none.

    Attributes
    ----------
    rx : In(1)
        Serial line from the host (idle high).
    tx : Out(1)
        Serial line to the host (idle high).
    host_rx : Out(stream.Signature(8))
        Bytes from the host, to the design's ``host_rx``.
    host_tx : In(stream.Signature(8))
        Bytes from the design's ``host_tx``, to the host.
    overrun : Out(1)
        Sticky: a received byte was lost because the FIFO was full.
    framing_error : Out(1)
        Sticky: a frame had a low stop bit (bad baud rate, noise or a break).
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    host_rx: Out(stream.Signature(8))
    host_tx: In(stream.Signature(8))
    overrun: Out(1)
    framing_error: Out(1)

    @staticmethod
    def check(divisor: int, *, fifo_depth: int = 16, tx_fifo_depth: int = 0):
        for name, depth in (("fifo_depth", fifo_depth), ("tx_fifo_depth", tx_fifo_depth)):
            if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
                raise ValueError(f"{name} must be a non-negative integer, not {depth!r}")
        UARTRx.check(divisor)

    def __init__(self, divisor: int, *, fifo_depth: int = 16, tx_fifo_depth: int = 0):
        self._fifo_depth = fifo_depth
        self._tx_fifo_depth = tx_fifo_depth
        self._uart_rx = UARTRx(divisor)
        self._uart_tx = UARTTx(divisor)
        super().__init__()

    @property
    def divisor(self) -> int:
        """Clock cycles per bit."""
        return self._uart_rx.divisor

    @property
    def fifo_depth(self) -> int:
        """Bytes the receive FIFO holds."""
        return self._fifo_depth

    @property
    def tx_fifo_depth(self) -> int:
        """Bytes the transmit FIFO holds."""
        return self._tx_fifo_depth

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = urx = self._uart_rx
        m.submodules.uart_tx = utx = self._uart_tx

        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]
        if self._tx_fifo_depth:
            m.submodules.tx_fifo = tx_fifo = SyncFIFO(width=8, depth=self._tx_fifo_depth)
            wiring.connect(m, wiring.flipped(self.host_tx), tx_fifo.w_stream)
            wiring.connect(m, tx_fifo.r_stream, utx.i)
        else:
            wiring.connect(m, wiring.flipped(self.host_tx), utx.i)

        if self._fifo_depth:
            m.submodules.rx_fifo = fifo = SyncFIFO(width=8, depth=self._fifo_depth)
            wiring.connect(m, urx.o, fifo.w_stream)
            wiring.connect(m, fifo.r_stream, wiring.flipped(self.host_rx))
        else:
            wiring.connect(m, urx.o, wiring.flipped(self.host_rx))

        with m.If(urx.overrun):
            m.d.sync += self.overrun.eq(1)
        with m.If(urx.framing_error):
            m.d.sync += self.framing_error.eq(1)
        return m
