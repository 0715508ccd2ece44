"""Activation register files of one PE: two memories (``act0``, ``act1``) used ping-pong.

Slot ``s`` of PE ``k`` holds activation index ``s * n_pe + k``. During compute the file
``sel`` is the layer's source (read by the CCU's scanner, one slot row per read, the data
holding while ``scan_en`` is low) and the other file is the destination of write-back; the
CCU flips ``sel`` between layers, so a whole network runs without the host. Outside compute
both files belong to the host.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, signed
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig
from eie.contract import host_addr_bits
from .layouts import HostPort, ConfigComponent, row_bits

__all__ = ["ActRegFiles"]


class ActRegFiles(ConfigComponent):
    def _ports(self, cfg: EIEConfig):
        rb = row_bits(cfg)
        return {
            "compute": In(1),
            "sel": In(1),
            "scan_addr": In(rb),
            "scan_en": In(1),
            "scan_data": Out(signed(cfg.act_bits)),
            "wb_en": In(1),
            "wb_addr": In(rb),
            "wb_data": In(signed(cfg.act_bits)),
            "host0": In(HostPort(host_addr_bits(cfg), cfg.act_bits)),
            "host1": In(HostPort(host_addr_bits(cfg), cfg.act_bits)),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        datas = []
        for f, host in ((0, self.host0), (1, self.host1)):
            mem = Memory(shape=signed(cfg.act_bits), depth=cfg.act_depth, init=[])
            m.submodules[f"act{f}"] = mem
            rp, wp = mem.read_port(), mem.write_port()
            is_src = self.compute & (self.sel == f)
            is_dst = self.compute & (self.sel != f)
            with m.If(is_src):
                m.d.comb += [rp.addr.eq(self.scan_addr), rp.en.eq(self.scan_en)]
            with m.Else():
                m.d.comb += [rp.addr.eq(host.addr), rp.en.eq(host.re)]
            with m.If(is_dst):
                m.d.comb += [wp.addr.eq(self.wb_addr), wp.data.eq(self.wb_data), wp.en.eq(self.wb_en)]
            with m.Else():
                m.d.comb += [wp.addr.eq(host.addr), wp.data.eq(host.wdata), wp.en.eq(host.we)]
            m.d.comb += host.rdata.eq(rp.data)
            datas.append(rp.data)
        m.d.comb += self.scan_data.eq(Mux(self.sel, datas[1], datas[0]))
        return m
