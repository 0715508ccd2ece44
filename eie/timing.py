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
