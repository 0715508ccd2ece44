"""The array's physical memories and multipliers, from the config alone.

What `hw/` instantiates, per PE and in the CCU, with each memory's depth, width and read
port (synchronous, or combinational: only LUT RAM or flip-flops can hold those), and whether
it is single-ported (one address for reads and writes: an iCE40 SPRAM can hold it). The FPGA
side (`fpga.capacity`) maps these onto a device's RAM blocks before synthesis, so a config a
board cannot hold is refused at once. tests/test_hw_inventory.py checks the list against the
memories the elaborated design really has.
"""

from __future__ import annotations

from dataclasses import dataclass

from eie.config import EIEConfig
from eie import format as fmt
from eie import timing
from .pe import column_bits, queue_layout

__all__ = ["MemorySpec", "memories", "multipliers"]


@dataclass(frozen=True)
class MemorySpec:
    """One memory: ``count`` copies (N for a PE's memories) of ``depth`` x ``width`` bits."""

    name: str
    depth: int
    width: int
    count: int = 1
    comb_read: bool = False       # its read port is combinational (asynchronous)
    single_port: bool = False     # reads and writes share one address (SPRAM-shaped)

    @property
    def bits(self) -> int:
        return self.depth * self.width


def memories(cfg: EIEConfig) -> list[MemorySpec]:
    """Every memory of the array, in elaboration order (PE first, then the CCU)."""
    n = cfg.n_pe
    queue_width = queue_layout(cfg).size
    return [
        MemorySpec("pe.queue.storage", cfg.queue_depth, queue_width, n, comb_read=True),
        MemorySpec("pe.columns.storage", timing.column_queue_depth(n), column_bits(cfg), n, comb_read=True),
        MemorySpec("pe.ptr_read.ptr_even", (cfg.ptr_depth + 1) // 2, cfg.ptr_bits, n),
        MemorySpec("pe.ptr_read.ptr_odd", cfg.ptr_depth // 2, cfg.ptr_bits, n),
        MemorySpec("pe.spmat_read.spmat", cfg.spmat_depth, cfg.word_bits, n, single_port=True),
        MemorySpec("pe.arith.codebook", cfg.max_layers * cfg.codebook_size, cfg.weight_bits, n),
        MemorySpec("pe.arith.bias", cfg.bias_depth, cfg.act_bits, n),
        MemorySpec("pe.arith.acc", cfg.act_depth, cfg.acc_bits + 1, n),
        MemorySpec("pe.act.act0", cfg.act_depth, cfg.act_bits, n),
        MemorySpec("pe.act.act1", cfg.act_depth, cfg.act_bits, n),
        MemorySpec("ccu.layers", cfg.max_layers, fmt.layer_word_bits(cfg)),
        MemorySpec("ccu.layer_cycles", cfg.max_layers, 32),
        MemorySpec("ccu.sequencer.scanner.rows", timing.row_buffer_depth(n), n * cfg.act_bits, comb_read=True),
    ]


def multipliers(cfg: EIEConfig) -> list[tuple[int, int]]:
    """The multipliers' operand widths (signed), one per PE: activation x weight."""
    return [(cfg.act_bits, cfg.weight_bits)] * cfg.n_pe
