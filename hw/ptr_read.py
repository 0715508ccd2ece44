"""Pointer read unit: the start and end pointer of a column in one cycle.

Column ``c`` of a layer is described by ``ptr[a]`` and ``ptr[a+1]`` with ``a = ptr_base + c``.
As in EIE the pointer memory is split into an even bank (``ptr_even``: ``ptr[2i]``) and an odd
bank (``ptr_odd``: ``ptr[2i+1]``), each single-ported for reads, so the two neighbours always
come from different banks and arrive together, with ``start < end``,
`eie.timing.pointer_latency` cycles after ``en``: in the registered build the banks' outputs
go straight into registers first (a block RAM's clock-to-output time leaves no room for
logic behind it), then are ordered and compared into a second set of registers (so the
column queue's write, which the compare decides, starts from a register); in the compact
build they are ordered and compared as they leave the banks. In the registered build the
even bank's word (`bank_words`) comes in with the address, worked out as the column was
queued (hw/pe.py), so nothing but the host's multiplexer sits between the activation
queue's read and the banks' address. The host reaches both banks
through one `HostPort` addressed with the flat pointer index (read data the cycle after
``re``, from the banks' outputs).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Mux
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig, bits_for
from eie.contract import host_addr_bits
from eie import timing
from .layouts import HostPort, ConfigComponent

__all__ = ["PointerRead", "bank_words"]


def bank_words(a):
    """The even bank's and the odd bank's word holding ``ptr[a]`` and ``ptr[a+1]``."""
    # Even a: ptr[a] in even[a/2], ptr[a+1] in odd[a/2].
    # Odd a:  ptr[a] in odd[a>>1], ptr[a+1] in even[(a>>1)+1].
    half = a >> 1
    return half + a[0], half


class PointerRead(ConfigComponent):
    """Ports: ``addr``/``en`` (flat index of the column's start pointer); ``valid``,
    ``start``/``end``, ``nonempty`` (``start < end``) and (registered build) ``more``
    (``start + 1 < end``: more than one entry), `eie.timing.pointer_latency` cycles after
    ``en``; (registered build) ``even_word``, the even bank's word of ``addr``
    (`bank_words`); ``host`` (flat index; has the banks in the cycles it reads or writes)."""

    @staticmethod
    def even_word_bits(cfg: EIEConfig) -> int:
        """Width of ``even_word``: the even bank's address."""
        return bits_for((cfg.ptr_depth + 1) // 2 - 1)

    def _ports(self, cfg: EIEConfig):
        ports = {
            "addr": In(bits_for(cfg.ptr_depth)),
            "en": In(1),
            "valid": Out(1),
            "start": Out(cfg.ptr_bits),
            "end": Out(cfg.ptr_bits),
            "nonempty": Out(1),
            "more": Out(1),
            "host": In(HostPort(host_addr_bits(cfg), cfg.ptr_bits)),
        }
        if timing.registered(cfg.n_pe):
            ports["even_word"] = In(self.even_word_bits(cfg))
        return ports

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        even_depth, odd_depth = (cfg.ptr_depth + 1) // 2, cfg.ptr_depth // 2
        m.submodules.ptr_even = even = Memory(shape=cfg.ptr_bits, depth=even_depth, init=[])
        m.submodules.ptr_odd = odd = Memory(shape=cfg.ptr_bits, depth=odd_depth, init=[])
        er, orp = even.read_port(), odd.read_port()
        ew, ow = even.write_port(), odd.write_port()

        reg = timing.registered(cfg.n_pe)
        even_word, odd_word = (self.even_word, self.addr >> 1) if reg else bank_words(self.addr)
        parity1 = Signal()      # parity of the address read last cycle
        # The banks read ``addr`` in every cycle the host does not use them, whether or not
        # ``en`` is set: ``en`` (the PE's pop) comes late in the cycle and stays off the
        # memories' address path; the data of a cycle without ``en`` is not looked at.
        with m.If(self.host.re | self.host.we):
            m.d.comb += [er.addr.eq(self.host.addr >> 1), orp.addr.eq(self.host.addr >> 1)]
            m.d.sync += parity1.eq(self.host.addr[0])
        with m.Else():
            m.d.comb += [er.addr.eq(even_word), orp.addr.eq(odd_word)]
            m.d.sync += parity1.eq(self.addr[0])
        valid1 = Signal()
        m.d.sync += valid1.eq(self.en)
        assert timing.pointer_latency(cfg.n_pe) == (3 if reg else 1)
        if reg:
            # Stage 2: the banks' outputs registered as they are; stage 3: ordered, compared
            # and registered.
            even = Signal(cfg.ptr_bits, reset_less=True)
            odd = Signal(cfg.ptr_bits, reset_less=True)
            parity, valid2 = Signal(reset_less=True), Signal()
            m.d.sync += [valid2.eq(valid1), even.eq(er.data), odd.eq(orp.data), parity.eq(parity1)]
            m.d.sync += self.valid.eq(valid2)
            out = m.d.sync
        else:
            even, odd, parity = er.data, orp.data, parity1
            m.d.comb += self.valid.eq(valid1)
            out = m.d.comb
        # Both orders compared before the parity mux, so no multiplexer sits in front of
        # the comparators.
        out += [
            self.start.eq(Mux(parity, odd, even)),
            self.end.eq(Mux(parity, even, odd)),
            self.nonempty.eq(Mux(parity, odd < even, even < odd)),
        ]
        if reg:
            # Queued with the column, so the issue stage takes it with no compare of its own.
            out += self.more.eq(Mux(parity, odd + 1 < even, even + 1 < odd))
        m.d.comb += [
            self.host.rdata.eq(Mux(parity1, orp.data, er.data)),
            ew.addr.eq(self.host.addr >> 1), ew.data.eq(self.host.wdata),
            ew.en.eq(self.host.we & ~self.host.addr[0]),
            ow.addr.eq(self.host.addr >> 1), ow.data.eq(self.host.wdata),
            ow.en.eq(self.host.we & self.host.addr[0]),
        ]
        return m
