"""Pipeline facts of the RTL that the cycle model needs: kept here, read by both.

`hw/` builds its queues and pipelines from these numbers and `eie.cycle_model` predicts
every layer's cycles from them, so a latency cannot change in one without the other.
docs/hw.md ("Timing") explains each.
"""

__all__ = ["COLUMN_QUEUE_DEPTH"]

# Non-empty columns whose pointers have been read, waiting for the issue stage of a PE
# (hw/pe.py). Lets the pointer read run ahead so empty columns are skipped while earlier
# columns issue.
COLUMN_QUEUE_DEPTH = 4
