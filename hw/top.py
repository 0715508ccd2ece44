"""The whole EIE array: N PEs and the CCU, built from one EIEConfig.

The signature is the contract the FPGA and cocotb parts build on (docs/protocol.md):
``host_rx: In(stream.Signature(host_bits))`` (beats from the host), ``host_tx:
Out(stream.Signature(host_bits))`` (beats to the host), ``host_tx_last: Out(1)`` (with a
``host_tx`` beat: the last of a response), ``host_rx_last: In(1)`` (not looked at: commands
are framed by their length) and ``busy: Out(1)`` (a RUN is computing). With the UART's 8
bits the two streams are ``stream.Signature(8)``, which the board tops connect as they are.
In the generated Verilog the streams carry AXI4-Stream names (`hw.ports.VERILOG_PORTS`:
``s_axis_tdata`` ... ``m_axis_tlast``).
Submodules are ``ccu`` and ``pe0`` .. ``pe{N-1}``, each PE joined to its `hw.layouts.PELink`
(the CCU's registered distribution trees, `hw.distribute`) by one ``wiring.connect`` and
reset by its own register (``ccu.pe_rst[k]``); docs/hw.md lists the memories inside them by
name for backdoor loading.

With ``hierarchical=True`` each PE is an `PEInstance` of one separately converted PE
module (`hw.netlist`), as the Verilog, Verilator and FPGA builds use it; the default, flat,
is what Amaranth's simulator runs.
"""

from __future__ import annotations

from amaranth.hdl import ClockSignal, Instance, Module, ResetInserter
from amaranth.lib import wiring, stream
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig
from .layouts import PELink, ConfigComponent
from .ccu import CCU
from .pe import PE

__all__ = ["EIETop", "PEInstance"]


class PEInstance(wiring.Component):
    """A PE as an instance of the module ``module`` (`hw.netlist.pe_module_name`), with the
    PE's own ports: Verilog port ``a__b`` for signature member ``a.b``, plus ``clk``, and
    ``rst`` from ``rst`` (the PE's own reset register, `hw.distribute`)."""

    def __init__(self, cfg: EIEConfig, module: str, rst):
        self._module = module
        self._rst = rst
        super().__init__(PELink(cfg).flip())

    def elaborate(self, platform):
        ports = {"i_clk": ClockSignal(), "i_rst": self._rst}
        for path, member, value in self.signature.flatten(self):
            prefix = "i_" if member.flow == In else "o_"
            ports[prefix + "__".join(str(p) for p in path)] = value
        return Instance(self._module, **ports)


class EIETop(ConfigComponent):
    """EIE accelerator top level.

    Parameters
    ----------
    cfg : EIEConfig
        The configuration; every size comes from it.
    hierarchical : bool
        PEs as instances of one PE module (for Verilog) instead of flat submodules.
    """

    def __init__(self, cfg: EIEConfig, *, hierarchical: bool = False):
        self._hierarchical = bool(hierarchical)
        super().__init__(cfg)

    def _ports(self, cfg: EIEConfig):
        return {
            "host_rx": In(stream.Signature(cfg.host_bits)),
            "host_rx_last": In(1),
            "host_tx": Out(stream.Signature(cfg.host_bits)),
            "host_tx_last": Out(1),
            "busy": Out(1),
        }

    @property
    def hierarchical(self) -> bool:
        """PEs are instances of the one PE module (`hw.netlist.pe_rtlil` holds it)."""
        return self._hierarchical

    def _pe(self, rst):
        """(the PE's interface, the elaboratable to add): its reset is ``rst``."""
        if self._hierarchical:
            from .netlist import pe_module_name
            pe = PEInstance(self._cfg, pe_module_name(self._cfg), rst)
            return pe, pe
        pe = PE(self._cfg)
        return pe, ResetInserter(rst)(pe)

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        m.submodules.ccu = ccu = CCU(cfg)
        pes = []
        for k in range(cfg.n_pe):
            pe, elaboratable = self._pe(ccu.pe_rst[k])
            m.submodules[f"pe{k}"] = elaboratable
            wiring.connect(m, ccu.pes[k], pe)
        wiring.connect(m, wiring.flipped(self.host_rx), ccu.host_rx)
        wiring.connect(m, ccu.host_tx, wiring.flipped(self.host_tx))
        m.d.comb += [self.busy.eq(ccu.busy), self.host_tx_last.eq(ccu.host_tx_last)]
        return m
