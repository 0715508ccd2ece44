"""The whole EIE array: N PEs and the CCU, built from one EIEConfig.

The signature is the contract the FPGA and cocotb parts build on (docs/protocol.md):
``host_rx: In(stream.Signature(host_bits))`` (beats from the host), ``host_tx:
Out(stream.Signature(host_bits))`` (beats to the host), ``host_tx_last: Out(1)`` (with a
``host_tx`` beat: the last of a response), ``host_rx_last: In(1)`` (not looked at: commands
are framed by their length) and ``busy: Out(1)`` (a RUN is computing). With the UART's 8
bits the two streams are ``stream.Signature(8)``, which the board tops connect as they are.
In the generated Verilog the streams carry AXI4-Stream names (`hw.ports.VERILOG_PORTS`:
``s_axis_tdata`` ... ``m_axis_tlast``).
Submodules are ``ccu`` and ``pe0`` .. ``pe{N-1}``, PE k joined to the CCU's registered
distribution trees (`hw.distribute`) by its `hw.layouts.PELink` packed into two words
(``ccu.pe_in[k]``, ``ccu.pe_out[k]``, `hw.layouts.link_layouts`) and reset by its own
register (``ccu.pe_rst[k]``); docs/hw.md lists the memories inside them by name for
backdoor loading.

With ``hierarchical=True`` each PE is a `PEInstance` of one separately converted PE
module (`hw.netlist`, a `hw.pe.PackedPE`: two ports instead of one per member), as the Verilog, Verilator and FPGA builds use it; the default, flat,
is what Amaranth's simulator runs.
"""

from __future__ import annotations

from amaranth.hdl import Cat, ClockSignal, Instance, Module, ResetInserter, Signal
from amaranth.lib import wiring, stream
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig
from .layouts import ConfigComponent, link_layouts, link_name, one_net
from .ccu import CCU
from .pe import PE

__all__ = ["EIETop", "PEInstance"]


class PEInstance(wiring.Component):
    """A PE as an instance of the module ``module`` (`hw.netlist.pe_module_name`, a
    `hw.pe.PackedPE`): ports ``to_pe`` and ``from_pe`` (`hw.layouts.link_layouts`), plus
    ``clk``, and ``rst`` from ``rst`` (the PE's own reset register, `hw.distribute`)."""

    def __init__(self, cfg: EIEConfig, module: str, rst):
        self._module = module
        self._rst = rst
        to_pe, from_pe = link_layouts(cfg)
        super().__init__({"to_pe": In(to_pe), "from_pe": Out(from_pe)})

    def elaborate(self, platform):
        return Instance(self._module, i_clk=ClockSignal(), i_rst=self._rst,
                        i_to_pe=self.to_pe, o_from_pe=self.from_pe)


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

    def _pe(self, m, k, rst, to_pe, from_pe):
        """PE ``k`` as submodule ``pe<k>``, reset by ``rst``, its words ``to_pe``/``from_pe``."""
        if self._hierarchical:
            from .netlist import pe_module_name
            pe = PEInstance(self._cfg, pe_module_name(self._cfg), rst)
            m.submodules[f"pe{k}"] = pe
            m.d.comb += [pe.to_pe.eq(to_pe), from_pe.eq(pe.from_pe)]
            return
        pe = PE(self._cfg)
        m.submodules[f"pe{k}"] = ResetInserter(rst)(pe)
        for path, member, value in pe.signature.flatten(pe):
            name = link_name(path)
            m.d.comb += value.eq(to_pe[name]) if member.flow == In else from_pe[name].eq(value)

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        m.submodules.ccu = ccu = CCU(cfg)
        _, from_pe = link_layouts(cfg)
        answers = [Signal(from_pe, name=f"from_pe{k}") for k in range(cfg.n_pe)]
        for k in range(cfg.n_pe):
            self._pe(m, k, ccu.pe_rst[k], ccu.pe_in[k], answers[k])
        m.d.comb += ccu.pe_out.eq(one_net(Cat(*answers)))
        wiring.connect(m, wiring.flipped(self.host_rx), ccu.host_rx)
        wiring.connect(m, ccu.host_tx, wiring.flipped(self.host_tx))
        m.d.comb += [self.busy.eq(ccu.busy), self.host_tx_last.eq(ccu.host_tx_last)]
        return m
