"""Amaranth `data` layouts and small signatures shared by the hardware units.

Bit layouts of stored words are built from the ordered field lists of `eie.format`
(`entry_fields`, `layer_fields`), so no bit offset is restated here: the encoder, the
images, the golden model and the RTL all read the one definition. The signatures are the
internal buses between the CCU and the PEs (docs/hw.md).
"""

from __future__ import annotations

from amaranth.hdl import unsigned, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig, bits_for
from eie import format as fmt

__all__ = ["struct_from_fields", "entry_layout", "word_layout", "layer_layout", "bcast_layout",
           "HostPort", "PEBus", "LayerParams", "host_addr_bits", "host_data_bits", "check_hw_config",
           "MEM_IDS"]

# Memory ids of the host protocol (hw.protocol.Mem), as plain ints for the RTL.
MEM_IDS = {"ptr": 0, "spmat": 1, "bias": 2, "codebook": 3, "layers": 4, "act0": 5, "act1": 6}


def check_hw_config(cfg: EIEConfig):
    """Raise ValueError for configs the hardware generator cannot build."""
    if not isinstance(cfg, EIEConfig):
        raise TypeError(f"cfg must be an EIEConfig, not {cfg!r}")
    e = cfg.entries_per_word
    if e & (e - 1):
        raise ValueError(f"the hardware needs entries_per_word to be a power of two, not {e}")
    from .protocol import check_config
    check_config(cfg)


def struct_from_fields(fields_) -> data.StructLayout:
    """A StructLayout whose members follow an eie.format field list (LSB first)."""
    return data.StructLayout({name: unsigned(width) for name, width in fields_})


def entry_layout(cfg: EIEConfig) -> data.StructLayout:
    return struct_from_fields(fmt.entry_fields(cfg))


def word_layout(cfg: EIEConfig) -> data.ArrayLayout:
    """One sparse-matrix word: entries_per_word entries, entry 0 in the low bits."""
    return data.ArrayLayout(entry_layout(cfg), cfg.entries_per_word)


def layer_layout(cfg: EIEConfig) -> data.StructLayout:
    return struct_from_fields(fmt.layer_fields(cfg))


def bcast_layout(cfg: EIEConfig) -> data.StructLayout:
    """What the CCU broadcasts to every PE: a non-zero input's index and value."""
    return data.StructLayout({"index": unsigned(cfg.len_bits), "value": signed(cfg.act_bits)})


def host_data_bits(cfg: EIEConfig) -> int:
    """Width of the host bus data: the widest memory word."""
    return max(s["width"] for s in fmt.memory_specs(cfg).values())


def host_addr_bits(cfg: EIEConfig) -> int:
    """Width of the host bus address: enough for the deepest memory."""
    return max(bits_for(s["depth"] - 1) for s in fmt.memory_specs(cfg).values())


class HostPort(wiring.Signature):
    """One memory's host access, seen from the host side: a write, or a read whose data
    appears on ``rdata`` the cycle after ``re``."""

    def __init__(self, addr_bits: int, data_bits: int):
        super().__init__({
            "addr": Out(addr_bits),
            "wdata": Out(data_bits),
            "we": Out(1),
            "re": Out(1),
            "rdata": In(data_bits),
        })


class PEBus(wiring.Signature):
    """The CCU's host bus to one PE (memory id selects the PE's memory)."""

    def __init__(self, cfg: EIEConfig):
        super().__init__({
            "mem": Out(3),
            "addr": Out(host_addr_bits(cfg)),
            "wdata": Out(host_data_bits(cfg)),
            "we": Out(1),
            "re": Out(1),
            "rdata": In(host_data_bits(cfg)),
        })


class LayerParams(wiring.Signature):
    """Per-layer settings the CCU drives to every PE (stable during a layer)."""

    def __init__(self, cfg: EIEConfig):
        lf = dict(fmt.layer_fields(cfg))
        super().__init__({
            "layer": Out(cfg.layer_bits),
            "ptr_base": Out(lf["ptr_base"]),
            "bias_base": Out(lf["bias_base"]),
            "shift": Out(lf["shift"]),
            "relu": Out(1),
            "out_rows": Out(bits_for(cfg.act_depth)),
        })
