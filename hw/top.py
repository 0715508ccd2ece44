"""The whole EIE array: N PEs and the CCU, built from one EIEConfig.

The signature is the contract the FPGA and cocotb parts build on (docs/protocol.md):
``host_rx: In(stream.Signature(8))`` (bytes from the host), ``host_tx:
Out(stream.Signature(8))`` (bytes to the host) and ``busy: Out(1)`` (a RUN is computing).
Submodules are ``ccu`` and ``pe0`` .. ``pe{N-1}``; docs/hw.md lists the memories inside them
by name for backdoor loading.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring, stream
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig
from .layouts import check_hw_config
from .ccu import CCU
from .pe import PE

__all__ = ["EIETop"]


class EIETop(wiring.Component):
    """EIE accelerator top level.

    Parameters
    ----------
    cfg : EIEConfig
        The configuration; every size comes from it.
    """

    def __init__(self, cfg: EIEConfig):
        check_hw_config(cfg)
        self._cfg = cfg
        super().__init__({
            "host_rx": In(stream.Signature(8)),
            "host_tx": Out(stream.Signature(8)),
            "busy": Out(1),
        })

    @property
    def cfg(self) -> EIEConfig:
        return self._cfg

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        m.submodules.ccu = ccu = CCU(cfg)
        pes = [PE(cfg) for _ in range(cfg.n_pe)]
        for k, pe in enumerate(pes):
            m.submodules[f"pe{k}"] = pe

        wiring.connect(m, wiring.flipped(self.host_rx), ccu.host_rx)
        wiring.connect(m, ccu.host_tx, wiring.flipped(self.host_tx))
        m.d.comb += self.busy.eq(ccu.busy)

        # Only the PE that was read drives its read data (the others give zero): an OR tree
        # instead of an N-way multiplexer.
        rdata = 0
        for pe in pes:
            rdata = rdata | pe.bus.rdata
        m.d.comb += ccu.bus.rdata.eq(rdata)

        for k, pe in enumerate(pes):
            m.d.comb += [
                pe.bcast_valid.eq(ccu.bcast_valid), pe.bcast.eq(ccu.bcast),
                pe.bcast_commit.eq(ccu.bcast_commit), ccu.room[k].eq(pe.room),
                pe.running.eq(ccu.running), pe.sel.eq(ccu.sel), pe.clear.eq(ccu.clear),
                pe.scan_addr.eq(ccu.scan_addr), pe.scan_en.eq(ccu.scan_en),
                ccu.scan_data[k].eq(pe.scan_data),
                pe.wb_en.eq(ccu.wb_en), pe.wb_row.eq(ccu.wb_row),
                ccu.pe_idle[k].eq(pe.idle), ccu.pe_ready[k].eq(pe.ready),
                ccu.busy_counts[k].eq(pe.busy_count), ccu.stall_counts[k].eq(pe.stall_count),
                pe.bus.mem.eq(ccu.bus.mem), pe.bus.addr.eq(ccu.bus.addr),
                pe.bus.wdata.eq(ccu.bus.wdata), pe.bus.re.eq(ccu.bus.re & (ccu.bus_pe == k)),
                pe.bus.we.eq(ccu.bus.we & (ccu.bus_all | (ccu.bus_pe == k))),
            ]
            for name in ("layer", "ptr_base", "bias_base", "shift", "relu", "out_rows"):
                m.d.comb += getattr(pe.params, name).eq(getattr(ccu.params, name))
        return m
