"""Lane picker: the lowest non-zero lane of a row's mask, one-hot and as an input index.

The scanner (hw/scanner.py) offers a row's non-zero lanes lowest first. It keeps each
buffered row's mask of lanes still to offer and picks the next one by mask arithmetic:
``mask & -mask`` is the lowest set bit (the two's complement flips every bit above it), so
no priority chain or tree is built. The index of the picked lane is ``base`` (the input
index of the row's lane 0, a multiple of N) plus its lane number, which is an OR of the
one-hot bits per index bit; when N is a power of two, ``base``'s low bits are zero and the
sum is a plain concatenation. Combinational. sim/formal proves it equal to a reference
priority encoder for many N (the ``lanepick-prio`` job).
"""

from __future__ import annotations

from amaranth.hdl import Module, Cat, Const
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig
from .layouts import ConfigComponent, one_net

__all__ = ["LanePicker"]


class LanePicker(ConfigComponent):
    """Ports: ``mask`` (N lanes), ``base`` (``len_bits + 1`` bits, a multiple of N), out
    ``valid`` (some lane set), ``onehot`` (the lowest set lane alone, 0 if none) and
    ``index`` (``base`` + its lane number, ``len_bits`` bits; meaningful when ``valid``)."""

    def _ports(self, cfg: EIEConfig):
        return {
            "mask": In(cfg.n_pe),
            "base": In(cfg.len_bits + 1),
            "valid": Out(1),
            "onehot": Out(cfg.n_pe),
            "index": Out(cfg.len_bits),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        n = cfg.n_pe
        m.d.comb += [self.valid.eq(self.mask != 0), self.onehot.eq(self.mask & -self.mask)]
        lane_bits = max(1, (n - 1).bit_length())
        lane = Cat(*[Cat(*[self.onehot[k] for k in range(n) if (k >> b) & 1]).any() if n > (1 << b)
                     else Const(0, 1) for b in range(lane_bits)])
        if n & (n - 1) == 0 and n > 1:
            # one_net: driven by a concatenation, the port would be one port per bit in Verilog.
            m.d.comb += self.index.eq(one_net(Cat(lane, self.base[lane_bits:])))
        else:
            m.d.comb += self.index.eq(self.base + lane)
        return m
