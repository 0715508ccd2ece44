"""Admission of broadcasts by credits: the CCU's count of each PE's free queue entries.

A PE's activation queue has ``queue_depth`` entries. The CCU starts with that many credits
per PE, spends one of every PE's when it commits a broadcast (every PE writes it), and gets
one back for each pop a PE reports (``ret``, `eie.timing.credit_return` cycles after the
pop). A broadcast is committed in a cycle it is offered and every PE has a credit, so no
queue ever holds more than ``queue_depth`` entries, and the decision reads only the CCU's
own registers (not the PEs' queues across the chip). ``stall[k]`` marks a cycle in which the
offered broadcast waits on PE ``k``'s credits (the PE counts them: its ``stall_count``).

The credit count is kept as "entries in use", ``used[k] = D - credits``: with ``D`` a power
of two, "no credit left" is the single bit ``used[k] >= D``. In the registered build
(`eie.timing.registered`) whether any PE is out of credits is itself a register
(``any_full``), computed a cycle ahead for both outcomes of this cycle's commit, so
``commit`` is one gate from two registers: the scanner's offer loop (offer -> commit -> next
offer) does not wait on an OR over the PEs. The compact build (a few PEs) ORs them directly.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Cat, Mux
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig
from eie import timing
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
        any_full = Signal()            # == full.any(): all start with D credits
        m.d.comb += [self.commit.eq(self.valid & ~any_full),
                     self.stall.eq(self.valid.replicate(cfg.n_pe) & full)]   # one net: one port
        for k, u in enumerate(used):
            m.d.sync += u.eq(u + self.commit - self.ret[k])
        if timing.registered(cfg.n_pe):
            # Next cycle's full.any(), with and without this cycle's commit (a return and a
            # commit in the same cycle cancel).
            if_commit = Cat(*[u + 1 - r >= D for u, r in zip(used, self.ret)]).any()
            if_not = Cat(*[u - r >= D for u, r in zip(used, self.ret)]).any()
            m.d.sync += any_full.eq(Mux(self.commit, if_commit, if_not))
        else:
            m.d.comb += any_full.eq(full.any())
        return m
