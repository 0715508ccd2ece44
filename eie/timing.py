"""Pipeline facts of the RTL that the cycle model needs: kept here, read by both.

`hw/` builds its queues and pipelines from these numbers (or, where a stage count is the
shape of the logic itself, checks at import that it still matches them) and
`eie.cycle_model` predicts every layer's cycles from them, so a latency cannot change in one
without the other. docs/hw.md ("Timing") explains each. Times are in cycles of the one clock.
"""

__all__ = ["COLUMN_QUEUE_DEPTH", "POINTER_LATENCY", "SPMAT_LATENCY", "ARITH_LATENCY",
           "WRITEBACK_LATENCY", "ISSUE_AFTER_POP", "EMPTY_COLUMN_HOLD", "ARITH_TAIL",
           "EMPTY_COLUMN_TAIL", "WB_FLUSH_CYCLES"]

# Non-empty columns whose pointers have been read, waiting for the issue stage of a PE
# (hw/pe.py), counting the pops still in the pointer pipeline. Lets the pointer read run
# ahead so empty columns are skipped while earlier columns issue.
COLUMN_QUEUE_DEPTH = 8

# A PE pops its activation queue in cycle p; the pointer banks are read in p, their outputs
# registered in p + 1, and in p + POINTER_LATENCY the column is pushed into the column queue
# (or dropped, if empty) (hw/ptr_read.py, hw/pe.py).
POINTER_LATENCY = 2

# An entry issued in cycle q (its memory word read in q, registered in q + 1) reaches the
# arithmetic unit in q + SPMAT_LATENCY (hw/spmat_read.py).
SPMAT_LATENCY = 2

# An entry in the arithmetic unit's first stage in cycle t (S: row, codebook and bias read;
# M1: codebook, bias and accumulator data registered; M2: multiply, bias << shift; A:
# accumulate) is in its accumulator at the end of t + ARITH_LATENCY (hw/arith.py).
ARITH_LATENCY = 3

# Write-back of a row started in cycle w (accumulator and bias read) is written to the
# destination act file in cycle w + WRITEBACK_LATENCY (hw/arith.py: data registered, shift,
# round and saturate).
WRITEBACK_LATENCY = 3

# ---- what follows from the above (the cycle model's terms, docs/hw.md) -------------------

# A column popped in p is in the column queue, and can start issuing, from p + this.
ISSUE_AFTER_POP = POINTER_LATENCY + 1
# An empty column holds its column-queue reservation until p + this (its drop is registered).
EMPTY_COLUMN_HOLD = POINTER_LATENCY + 1
# A PE whose last entry issued in q + e - 1 is idle from q + e + ARITH_TAIL ...
ARITH_TAIL = SPMAT_LATENCY + ARITH_LATENCY
# ... and after an empty column popped in p, from p + EMPTY_COLUMN_TAIL.
EMPTY_COLUMN_TAIL = POINTER_LATENCY + 1
# Cycles between the last write-back row and FINISH (the sequencer's WB_FLUSH state), so the
# last row is written before the act files swap.
WB_FLUSH_CYCLES = WRITEBACK_LATENCY - 1

# ---- between the CCU and the PEs (hw/distribute.py) ---------------------------------------

# Loads one register of a distribution tree drives: CCU -> PE signals pass through
# `forward_stages` levels of registers, each copy feeding at most FANOUT registers (or PEs) of
# the next level; PE -> CCU reductions (idle, ready, the host's read data) combine at most
# FANOUT inputs per register.
FANOUT = 8


def tree_levels(n_pe: int) -> int:
    """Register levels of a tree over ``n_pe`` leaves with at most FANOUT per node (>= 1)."""
    levels, span = 1, FANOUT
    while span < n_pe:
        levels, span = levels + 1, span * FANOUT
    return levels


def forward_stages(n_pe: int) -> int:
    """Cycles from a value the CCU drives towards the PEs (``hw.layouts.PECompute``, the host
    bus) to the PEs' ports: one register per tree level."""
    return tree_levels(n_pe)


# A PE's answer that goes to the CCU alone (the pop that returns a credit, its slot of a
# scanned row): one register beside the PE, one beside the CCU.
RETURN_STAGES = 2


def reduce_stages(n_pe: int) -> int:
    """Cycles from the PEs' idle/ready bits to their AND at the CCU: a register per PE, then
    one per tree level."""
    return 1 + tree_levels(n_pe)


# The PE's host-bus read data is registered: it is valid two cycles after the PE sees ``re``.
PE_BUS_READ_LATENCY = 2


def host_read_latency(n_pe: int) -> int:
    """Cycles from the command engine's read of a PE memory to the data at the CCU: the
    forward tree, the PE, and the OR of the PEs' read data (a register per tree level)."""
    return forward_stages(n_pe) + PE_BUS_READ_LATENCY + tree_levels(n_pe)


# A broadcast committed by the CCU in cycle b is written into every PE's queue in b + F
# (F = forward_stages), so it can be popped from b + F + 1. A pop in cycle p returns its credit
# to the CCU, where a broadcast can use it from p + CREDIT_RETURN + 1.
CREDIT_RETURN = RETURN_STAGES

# ---- the scanner (hw/scanner.py) ----------------------------------------------------------

# The scanner issues the read of slot row 0 in START (local cycle 1), then one row per cycle
# while its row buffer has room.
FIRST_ROW_READ = 1


def row_latency(n_pe: int) -> int:
    """A row read issued in cycle a is in the scanner's row buffer, ready to pick from, in
    a + row_latency: the forward tree, the act file read, the return registers, the buffer
    write."""
    return forward_stages(n_pe) + 1 + RETURN_STAGES + 1


def row_buffer_depth(n_pe: int) -> int:
    """Rows read ahead (in flight or buffered): enough to read one row per cycle while the
    scanner consumes all-zero rows at one per cycle."""
    return row_latency(n_pe) + 1
