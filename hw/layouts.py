"""Amaranth `data` layouts and the signatures of the buses inside the array.

Bit layouts of stored words are built from the ordered field lists of `eie.format`
(`entry_fields`, `layer_fields`) and of `eie.contract` (command arguments, replies), so no
bit offset is restated here: the encoder, the images, the host protocol, the golden model
and the RTL all read the one definition (tests/test_layouts.py checks the bits agree). The
signatures are the buses between the CCU and the PEs (docs/hw.md): `PELink` is everything
the CCU and one PE exchange, so a new member is wired (or missed) in one place.
"""

from __future__ import annotations

from amaranth.hdl import C, Cat, Shape, Value, unsigned, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig, bits_for
from eie import contract
from eie import format as fmt

__all__ = ["struct_from_fields", "cat_fields", "entry_layout", "word_layout", "layer_layout", "bcast_layout",
           "HostPort", "PEBus", "LayerParams", "PECompute", "PELink", "BUS_WORDS", "shared_paths", "is_control", "link_paths", "link_name", "link_layouts", "one_net", "ConfigComponent", "row_bits", "mem_id_bits", "COUNTERS_MEM", "COUNTER_KINDS", "check_hw_config",
           "COUNTER_BITS"]

COUNTER_BITS = contract.COUNTER_BITS


def check_hw_config(cfg: EIEConfig):
    """Raise ValueError for configs the hardware generator cannot build."""
    if not isinstance(cfg, EIEConfig):
        raise TypeError(f"cfg must be an EIEConfig, not {cfg!r}")
    e = cfg.entries_per_word
    if e & (e - 1):
        raise ValueError(f"the hardware needs entries_per_word to be a power of two, not {e}")
    contract.check_config(cfg)


class ConfigComponent(wiring.Component):
    """A Component built from one `EIEConfig`, kept as ``cfg``: the config is checked
    (`check_hw_config`) before the object exists, so a bad config raises and leaves no
    unused elaboratable behind, and the subclass's ``_ports(cfg)`` builds its signature."""

    def __new__(cls, cfg, *args, **kwargs):
        check_hw_config(cfg)
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, cfg: EIEConfig):
        self._cfg = cfg
        super().__init__(self._ports(cfg))

    def _ports(self, cfg: EIEConfig):
        raise NotImplementedError

    @property
    def cfg(self) -> EIEConfig:
        return self._cfg


def row_bits(cfg: EIEConfig) -> int:
    """Width of a local row number (holds act_depth, so a saturated row is out of range)."""
    return bits_for(cfg.act_depth)


# The PEs' performance counters on the PE bus: a memory id past the host's (READ_COUNTERS
# reads them this way; WRITE_MEM and READ_MEM cannot name it: it is not in the memory table),
# the counter kind as the address, in `eie.contract.counter_groups`' order.
COUNTERS_MEM = max(contract.Mem) + 1
COUNTER_KINDS = ("busy", "stall")


def mem_id_bits() -> int:
    """Width of a memory id on the PE bus (the host's memories and `COUNTERS_MEM`)."""
    return COUNTERS_MEM.bit_length()


def struct_from_fields(fields_) -> data.StructLayout:
    """A StructLayout whose members follow an eie.format field list (LSB first)."""
    return data.StructLayout({name: unsigned(width) for name, width in fields_})


def cat_fields(fields_, **values):
    """The word of a field list as an expression: each field from ``values`` (exactly its
    width), fields named ``reserved`` zero."""
    parts = []
    for name, width in fields_:
        value = C(0, width) if name == "reserved" else Value.cast(values[name])
        if len(value) != width:
            raise ValueError(f"field {name} is {width} bits wide, not {len(value)}")
        parts.append(value)
    return Cat(*parts)


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
            "mem": Out(mem_id_bits()),
            "addr": Out(contract.host_addr_bits(cfg)),
            "wdata": Out(contract.host_data_bits(cfg)),
            "we": Out(1),
            "re": Out(1),
            # Wide enough for a memory word and for a counter (`COUNTERS_MEM`).
            "rdata": In(max(contract.host_data_bits(cfg), COUNTER_BITS)),
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


class PECompute(wiring.Signature):
    """What the CCU drives to every PE alike in compute mode (all ``Out`` from the CCU): a
    committed broadcast of a non-zero input (``bcast_we``: every PE writes ``bcast`` into its
    queue; the CCU's credits guarantee room), the layer parameters, ``running``, the act file
    ``sel``, counter ``clear``, the scanner's read of the source act file (``scan_*``) and
    write-back (``wb_*``). The PEs see each of them `eie.timing.forward_stages` cycles after
    the CCU drives it (hw/distribute.py)."""

    def __init__(self, cfg: EIEConfig):
        rb = row_bits(cfg)
        super().__init__({
            "bcast_we": Out(1),
            "bcast": Out(bcast_layout(cfg)),
            "params": Out(LayerParams(cfg)),
            "running": Out(1),
            "sel": Out(1),
            "clear": Out(1),
            "scan_addr": Out(rb),
            "scan_en": Out(1),
            "wb_en": Out(1),
            "wb_row": Out(rb),
        })


class PELink(wiring.Signature):
    """Everything the CCU and one PE exchange, seen from the CCU (``Out``: to the PE).

    `PECompute`'s members; ``stall`` (a broadcast waits on this PE's credits this cycle: the
    PE counts it); the host bus (``bus``: this PE's ``re``/``we`` already decoded; read data
    `eie.timing.pe_bus_read_latency` cycles after ``re``, zero unless this PE was read); then
    the PE's answers: ``pop`` (it took the head of its queue: a credit back to the CCU),
    ``scan_data`` (its slot of the scanned row, the cycle after ``scan_en``), ``idle``
    (nothing in flight) and ``ready`` (its reset sweep is done). Its performance counters
    are read over the bus (`COUNTERS_MEM`), not wired to the CCU.
    """

    def __init__(self, cfg: EIEConfig):
        super().__init__({
            **dict(PECompute(cfg).members),
            "stall": Out(1),
            "bus": Out(PEBus(cfg)),
            "pop": In(1),
            "scan_data": In(signed(cfg.act_bits)),
            "idle": In(1),
            "ready": In(1),
        })



# The host bus's members that pass the distributor's forward trees (its enables are decoded
# per PE).
BUS_WORDS = ("mem", "addr", "wdata")


def shared_paths(cfg: EIEConfig) -> list[tuple]:
    """What every PE sees alike, as `PELink` paths: `PECompute`'s members, then the bus's
    `BUS_WORDS`."""
    return [p for p, _ in _leaves(PECompute(cfg), ())] + [("bus", name) for name in BUS_WORDS]


def is_control(path: tuple, width: int) -> bool:
    """Whether a shared member is a 1-bit control (`PECompute`'s, not the bus's): those pass
    the forward trees in a word of their own, with a reset."""
    return width == 1 and path[0] != "bus"


def link_paths(cfg: EIEConfig) -> tuple[list[tuple], list[tuple]]:
    """`PELink`'s members as (path, shape), split into what the CCU drives into a PE and what
    the PE answers. The first list starts with what every PE sees alike (`PECompute`'s 1-bit
    members, then its wider ones, then the bus's ``mem``, ``addr``, ``wdata``: the order of
    the distributor's two tree words, hw/distribute.py), then the per-PE bits."""
    flat = [(path, member) for path, member in _leaves(PELink(cfg), ())]
    to_pe = [(p, m.shape) for p, m in flat if m.flow == Out]
    rank = {p: (0 if is_control(p, Shape.cast(dict(to_pe)[p]).width) else 1, i)
            for i, p in enumerate(shared_paths(cfg))}
    to_pe.sort(key=lambda pm: rank.get(pm[0], (2, 0)))
    return to_pe, [(p, m.shape) for p, m in flat if m.flow == In]


def _leaves(sig, prefix):
    for name, member in sig.members.items():
        if member.is_signature:
            assert member.flow == Out, name         # PELink nests only CCU-driven signatures
            yield from _leaves(member.signature, prefix + (name,))
        else:
            yield prefix + (name,), member


def link_name(path) -> str:
    """A `PELink` member's field in `link_layouts`: its path joined by ``__`` (as in Verilog)."""
    return "__".join(path)


def link_layouts(cfg: EIEConfig) -> tuple[data.StructLayout, data.StructLayout]:
    """`PELink` packed into two words (fields `link_name`, in `link_paths` order): what the
    CCU drives into one PE, and what the PE answers. The PE's module (`hw.top.PEInstance`)
    and the distributor's ports (an array of N words each way) carry these words, so in the
    Verilog a PE is one port each way, not one per member."""
    to_pe, from_pe = link_paths(cfg)
    return (data.StructLayout({link_name(p): s for p, s in to_pe}),
            data.StructLayout({link_name(p): s for p, s in from_pe}))


def one_net(value):
    """``value`` as the output of one operator: Amaranth writes a submodule's port as one
    port per net driving it, so a port driven by a concatenation of N registers would become
    N ports in the Verilog (``port$..``), at every level it passes through."""
    value = Value.cast(value)
    return value | C(0, len(value))
