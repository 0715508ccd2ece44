"""Admission of broadcasts by credits: the CCU's count of each PE's free queue entries.

A PE's activation queue has ``queue_depth`` entries. The CCU starts with that many credits
per PE, spends one of every PE's when it commits a broadcast (every PE writes it), and gets
one back for each pop a PE reports (``ret``, `eie.timing.credit_return` cycles after the
pop). A broadcast is committed in a cycle it is offered and every PE has a credit, so no
queue ever holds more than ``queue_depth`` entries, and the decision reads only the CCU's
own registers (not the PEs' queues across the chip). ``stall[k]`` marks a cycle in which the
offered broadcast waits on PE ``k``'s credits (the PE counts them: its ``stall_count``).

The credit count is kept as "entries in use", ``used[k] = D - credits``: with ``D`` a power
of two, "no credit left" is the single bit ``used[k] >= D``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Cat
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig
from .layouts import ConfigComponent

__all__ = ["Admission"]


class Admission(ConfigComponent):
    """Ports: ``valid`` (a broadcast is offered), ``ret`` (N credit returns), out ``commit``
    and ``stall`` (N bits)."""

    def _ports(self, cfg: EIEConfig):
        return {
            "valid": In(1),
            "ret": In(cfg.n_pe),
            "commit": Out(1),
            "stall": Out(cfg.n_pe),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        D = cfg.queue_depth
        used = [Signal(range(D + 1), name=f"used{k}") for k in range(cfg.n_pe)]
        full = Signal(cfg.n_pe)
        m.d.comb += full.eq(Cat(*[u >= D for u in used]))
        m.d.comb += [self.commit.eq(self.valid & ~full.any()),
                     self.stall.eq(self.valid.replicate(cfg.n_pe) & full)]   # one net: one port
        for k, u in enumerate(used):
            m.d.sync += u.eq(u + self.commit - self.ret[k])
        return m
