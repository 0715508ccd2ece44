"""Test-only designs with the EIE top's host interface, for testing the FPGA plumbing alone.

`EchoCore` answers every byte from the host with a function of it (byte + 1 by default),
through a small queue, so UART, bridge, boot replayer and board-top tests can run before,
or independently of, the real array. It is a fixture: shipped board tops use `hw.top`.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring, stream
from amaranth.lib.wiring import In, Out

__all__ = ["EchoCore", "FrameAcker"]


class EchoCore(wiring.Component):
    """Echoes ``byte + add`` (mod 256) for every byte received; ``busy`` while holding one.

    Holds one byte: ``host_rx`` is not ready while the answer waits on ``host_tx``,
    which exercises the bridge's receive FIFO.
    """

    host_rx: In(stream.Signature(8))
    host_tx: Out(stream.Signature(8))
    busy: Out(1)

    def __init__(self, add: int = 1):
        self.add = add
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        full = Signal()
        m.d.comb += [self.host_rx.ready.eq(~full), self.host_tx.valid.eq(full), self.busy.eq(full)]
        with m.If(self.host_rx.valid & self.host_rx.ready):
            m.d.sync += [self.host_tx.payload.eq(self.host_rx.payload + self.add), full.eq(1)]
        with m.If(self.host_tx.valid & self.host_tx.ready):
            m.d.sync += full.eq(0)
        return m


class FrameAcker(wiring.Component):
    """Parses host command frames and answers each with a canned response.

    The response to op ``op`` is ``status, op, n, 0`` followed by ``n = op & 3`` body
    bytes (so a reader must skip bodies), with status 1 for op 0xEE and 0 otherwise.
    NOP (a lone 0x00) gets no response, as in docs/protocol.md. Only for testing the
    boot replayer's framing and discipline: a response goes out only after the whole
    command came in, and ``host_rx`` is not ready while it does.
    """

    host_rx: In(stream.Signature(8))
    host_tx: Out(stream.Signature(8))

    def elaborate(self, platform):
        m = Module()
        op = Signal(8)
        left = Signal(16)
        lo = Signal(8)
        out_pos = Signal(3)
        n_body = Signal(2)

        with m.FSM():
            with m.State("OP"):
                m.d.comb += self.host_rx.ready.eq(1)
                with m.If(self.host_rx.valid & (self.host_rx.payload != 0)):
                    m.d.sync += op.eq(self.host_rx.payload)
                    m.next = "LEN_LO"
            with m.State("LEN_LO"):
                m.d.comb += self.host_rx.ready.eq(1)
                with m.If(self.host_rx.valid):
                    m.d.sync += lo.eq(self.host_rx.payload)
                    m.next = "LEN_HI"
            with m.State("LEN_HI"):
                m.d.comb += self.host_rx.ready.eq(1)
                with m.If(self.host_rx.valid):
                    m.d.sync += left.eq((self.host_rx.payload << 8) | lo)
                    with m.If((self.host_rx.payload == 0) & (lo == 0)):
                        m.d.sync += out_pos.eq(0)
                        m.next = "ANSWER"
                    with m.Else():
                        m.next = "BODY"
            with m.State("BODY"):
                m.d.comb += self.host_rx.ready.eq(1)
                with m.If(self.host_rx.valid):
                    m.d.sync += left.eq(left - 1)
                    with m.If(left == 1):
                        m.d.sync += out_pos.eq(0)
                        m.next = "ANSWER"
            with m.State("ANSWER"):
                m.d.comb += [self.host_tx.valid.eq(1), n_body.eq(op[:2])]
                with m.Switch(out_pos):
                    with m.Case(0):
                        m.d.comb += self.host_tx.payload.eq(op == 0xEE)
                    with m.Case(1):
                        m.d.comb += self.host_tx.payload.eq(op)
                    with m.Case(2):
                        m.d.comb += self.host_tx.payload.eq(n_body)
                    with m.Case(3):
                        m.d.comb += self.host_tx.payload.eq(0)
                    with m.Default():
                        m.d.comb += self.host_tx.payload.eq(0xA0 + out_pos)
                with m.If(self.host_tx.ready):
                    m.d.sync += out_pos.eq(out_pos + 1)
                    with m.If(out_pos == 3 + n_body):
                        m.next = "OP"
        return m
