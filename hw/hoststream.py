"""The host port's width adapters: beats of ``host_bits`` to the command engine's bytes and back.

The host streams carry the byte protocol in beats of B bytes, the first byte lowest
(`eie.contract`, "the host stream"). `BeatReader` shows the command engine a window on the
current beat: the next bytes (``data``) and how many of them it takes this cycle (``take``,
up to the ``want`` the engine asks for), so a write body moves up to B bytes a cycle.
`BeatWriter` packs the engine's reply bytes into beats, fills a response's last beat with
zeros and marks it ``last``. With B = 1 both are plain wires: the engine sees the byte
stream as it is.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["BeatReader", "BeatWriter", "reply_byte"]


def reply_byte() -> data.StructLayout:
    """One byte of a reply and whether it is the last of its response."""
    return data.StructLayout({"byte": 8, "last": 1})


def _check(beat: int) -> int:
    if not isinstance(beat, int) or beat < 1 or beat & (beat - 1):
        raise ValueError(f"beat bytes must be a power of two, not {beat!r}")
    return beat


class BeatReader(wiring.Component):
    """Beats in (``i``), a byte window out.

    ``want`` (0..B) is how many bytes the engine would take this cycle, whatever arrived;
    ``take = min(want, bytes left in the beat)`` (0 without a beat) and ``data`` holds those
    bytes, the next one lowest. With B > 1 the beat waits in a register, which takes the next
    beat in the cycle the last byte of this one is taken (a beat a cycle at full rate) or
    when it is empty: so a command's last beat, NOPs after the command included, is accepted
    once the engine has reached it, and a host may wait for its beats to be taken before it
    reads the response. With B = 1 the stream is the window (``ready`` is ``want``).
    """

    def __init__(self, beat: int):
        self._beat = _check(beat)
        super().__init__({
            "i": In(stream.Signature(8 * beat)),
            "want": In(range(beat + 1)),
            "take": Out(range(beat + 1)),
            "data": Out(8 * beat),
        })

    def elaborate(self, platform):
        m = Module()
        B, i = self._beat, self.i
        if B == 1:
            m.d.comb += [self.data.eq(i.payload), i.ready.eq(self.want != 0),
                         self.take.eq(Mux(i.valid, self.want, 0))]
            return m
        beat, full = Signal(8 * B), Signal()
        offset = Signal(range(B))             # bytes of ``beat`` already taken
        left = Signal(range(B + 1))
        done = Signal()                       # this cycle takes the rest of ``beat``
        m.d.comb += [
            left.eq(B - offset),
            done.eq(full & (self.want >= left)),
            self.data.eq(beat >> (offset * 8)),
            self.take.eq(Mux(full, Mux(self.want < left, self.want, left), 0)),
            i.ready.eq(~full | done),
        ]
        with m.If(i.valid & i.ready):
            m.d.sync += [beat.eq(i.payload), full.eq(1), offset.eq(0)]
        with m.Elif(done):
            m.d.sync += [full.eq(0), offset.eq(0)]
        with m.Else():
            m.d.sync += offset.eq(offset + self.take)
        return m


class BeatWriter(wiring.Component):
    """Reply bytes in (``i``, one a cycle, each flagged ``last`` or not), beats out (``o``,
    with ``o_last`` on a response's last beat, whose unused bytes are zero)."""

    def __init__(self, beat: int):
        self._beat = _check(beat)
        super().__init__({
            "i": In(stream.Signature(reply_byte())),
            "o": Out(stream.Signature(8 * beat)),
            "o_last": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        B, i, o = self._beat, self.i, self.o
        if B == 1:
            m.d.comb += [o.valid.eq(i.valid), o.payload.eq(i.payload.byte), self.o_last.eq(i.payload.last),
                         i.ready.eq(o.ready)]
            return m
        beat = Signal(8 * B)
        fill = Signal(range(B))               # bytes already in ``beat``
        full, last = Signal(), Signal()
        m.d.comb += [o.valid.eq(full), o.payload.eq(beat), self.o_last.eq(last),
                     i.ready.eq(~full | o.ready)]
        with m.If(i.valid & i.ready):
            # A new beat starts at byte 0 with zeros above; later bytes go in at ``fill``.
            with m.Switch(fill):
                with m.Case(0):
                    m.d.sync += beat.eq(i.payload.byte)
                for k in range(1, B):
                    with m.Case(k):
                        m.d.sync += beat[8 * k:8 * k + 8].eq(i.payload.byte)
            done = (fill == B - 1) | i.payload.last
            m.d.sync += [full.eq(done), last.eq(i.payload.last), fill.eq(Mux(done, 0, fill + 1))]
        with m.Elif(o.ready):
            m.d.sync += full.eq(0)
        return m
