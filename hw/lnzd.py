"""Leading non-zero detection: which of the N lanes holds the first non-zero activation.

`LNZDNode` is EIE's 4-input node: of four children (each a valid bit, an index inside the
child and a value) it passes on the first valid one, its index extended by two bits.
`LNZD` composes nodes into a tree over the lanes (one lane per PE; the tree is padded with
never-valid lanes up to a power of four, so any PE count 1..256 works). It is purely
combinational: the scanner (hw/scanner.py) feeds it one slot row at a time and masks the
lanes it has already broadcast, so it yields one (index, value) per cycle.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned, Cat, Mux, C
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig
from .layouts import ConfigComponent

__all__ = ["LNZDNode", "LNZD"]


class LNZDNode(wiring.Component):
    """Pick the first valid of four children.

    Parameters
    ----------
    index_bits : int
        Width of each child's index (0 at the leaves).
    value_shape : shape
        Shape of the carried value.
    """

    def __new__(cls, index_bits: int, value_shape):
        # Checked before the object exists: a rejected node leaves no unused elaboratable.
        if not isinstance(index_bits, int) or index_bits < 0:
            raise ValueError(f"index_bits must be a non-negative integer, not {index_bits!r}")
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, index_bits: int, value_shape):
        self._index_bits = index_bits
        self._value_shape = value_shape
        members = {
            "i_valid": In(4),
            "i_value": In(data.ArrayLayout(value_shape, 4)),
            "o_valid": Out(1),
            "o_index": Out(index_bits + 2),
            "o_value": Out(value_shape),
        }
        if index_bits:      # leaves have no index inside the child (no zero-width port)
            members["i_index"] = In(data.ArrayLayout(unsigned(index_bits), 4))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.o_valid.eq(self.i_valid.any())
        index = (lambda c: self.i_index[c]) if self._index_bits else (lambda c: C(0, 0))
        # Priority: the lowest valid child wins (leading = lowest index).
        with m.If(self.i_valid[0]):
            m.d.comb += [self.o_index.eq(Cat(index(0), C(0, 2))), self.o_value.eq(self.i_value[0])]
        with m.Elif(self.i_valid[1]):
            m.d.comb += [self.o_index.eq(Cat(index(1), C(1, 2))), self.o_value.eq(self.i_value[1])]
        with m.Elif(self.i_valid[2]):
            m.d.comb += [self.o_index.eq(Cat(index(2), C(2, 2))), self.o_value.eq(self.i_value[2])]
        with m.Else():
            m.d.comb += [self.o_index.eq(Cat(index(3), C(3, 2))), self.o_value.eq(self.i_value[3])]
        return m


class LNZD(ConfigComponent):
    """First lane whose value is non-zero and whose ``enable`` bit is set.

    Ports: ``values`` (N signed activations), ``enable`` (N bits); out ``valid``,
    ``index`` (lane number, ``pe_bits`` wide), ``value``.
    """

    def _ports(self, cfg: EIEConfig):
        return {
            "values": In(data.ArrayLayout(signed(cfg.act_bits), cfg.n_pe)),
            "enable": In(cfg.n_pe),
            "valid": Out(1),
            "index": Out(cfg.pe_bits),
            "value": Out(signed(cfg.act_bits)),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        n = cfg.n_pe
        vshape = signed(cfg.act_bits)
        # Leaves: (valid, index, value) per lane; index is 0 bits wide at the leaves.
        level = [(self.enable[k] & (self.values[k] != 0), Signal(0), self.values[k]) for k in range(n)]
        depth, index_bits = 0, 0
        while len(level) > 1 or depth == 0:
            while len(level) % 4:
                level.append((0, Signal(index_bits), 0))   # padding lanes: never valid
            nxt = []
            for g in range(len(level) // 4):
                node = LNZDNode(index_bits, vshape)
                m.submodules[f"node{depth}_{g}"] = node
                for c in range(4):
                    v, i, x = level[4 * g + c]
                    m.d.comb += [node.i_valid[c].eq(v), node.i_value[c].eq(x)]
                    if index_bits:
                        m.d.comb += node.i_index[c].eq(i)
                nxt.append((node.o_valid, node.o_index, node.o_value))
            level, depth, index_bits = nxt, depth + 1, index_bits + 2
        v, i, x = level[0]
        m.d.comb += [self.valid.eq(v), self.index.eq(Mux(v, i, 0)), self.value.eq(Mux(v, x, 0))]
        return m
