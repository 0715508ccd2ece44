"""Pipeline facts of the RTL that the cycle model needs: kept here, read by both.

`hw/` builds its queues and pipelines from these numbers (or, where a stage count is the
shape of the logic itself, checks that it still matches them) and `eie.cycle_model` predicts
every layer's cycles from them, so a latency cannot change in one without the other.
docs/hw.md ("Timing") explains each. Times are in cycles of the one clock.

Two builds of the same design, chosen by the PE count:

* **registered** (``n_pe >= REGISTERED_FROM``): built for clock speed on the big FPGAs. Every
  memory output goes straight into a register, the multiplier sits between registers, and
  every signal between the CCU and a PE starts and ends in a register (trees with at most
  FANOUT loads per register).
* **compact** (fewer PEs): built for area on the small ones (the iCE40UP5K, where a register
  that cannot share a logic cell with a LUT costs a cell of its own). The same units without
  those registers: memory outputs feed logic directly, the CCU drives the PEs and reads their
  answers directly.

Every function takes the PE count; the values for a config are ``f(cfg.n_pe)``.
"""

__all__ = ["REGISTERED_FROM", "FANOUT", "registered", "column_queue_depth", "pointer_latency",
           "spmat_latency", "arith_latency", "writeback_latency", "issue_after_pop",
           "empty_column_hold", "arith_tail", "empty_column_tail", "wb_flush_cycles",
           "tree_levels", "forward_stages", "return_stages", "reduce_stages", "credit_return",
           "pe_bus_read_latency", "host_read_latency", "FIRST_ROW_READ", "row_latency",
           "row_buffer_depth"]

# Arrays of this many PEs or more are built registered, smaller ones compact.
REGISTERED_FROM = 4

# Loads one register of a distribution tree drives (registered build): CCU -> PE signals
# pass through `forward_stages` levels of registers, each copy feeding at most FANOUT registers
# (or PEs) of the next level; PE -> CCU reductions combine at most FANOUT inputs per register.
FANOUT = 8


def registered(n_pe: int) -> bool:
    """Whether an array of ``n_pe`` PEs is the registered build (else compact)."""
    return n_pe >= REGISTERED_FROM


def column_queue_depth(n_pe: int) -> int:
    """Non-empty columns whose pointers have been read, waiting for the issue stage of a PE
    (hw/pe.py), counting the pops still in the pointer pipeline. Lets the pointer read run
    ahead so empty columns are skipped while earlier columns issue. The registered build's
    longer pointer pipeline needs more: 16, since in LUT RAM on the ECP5 the depth costs
    nothing up to 16 (with 8, EIE's nine layers at 64 PEs took 1.036x the lower bound on
    average, NT-We 4924 cycles; with 16, 1.019x and 4503); the compact build's queue is in
    flip-flops."""
    return 16 if registered(n_pe) else 4


# ---- inside a PE --------------------------------------------------------------------------

def pointer_latency(n_pe: int) -> int:
    """A PE pops its activation queue in cycle p; the pointer banks are read in p, and in
    p + pointer_latency the column is pushed into the column queue, or dropped if empty
    (hw/ptr_read.py; registered: the banks' outputs registered in p + 1, ordered, compared
    and registered again in p + 2, so the push starts from a register)."""
    return 3 if registered(n_pe) else 1


def spmat_latency(n_pe: int) -> int:
    """An entry issued in cycle q (its memory word read in q) reaches the arithmetic unit in
    q + spmat_latency (hw/spmat_read.py; registered: the address registered in q, the word
    read in q + 1 and registered in q + 2)."""
    return 3 if registered(n_pe) else 1


def arith_latency(n_pe: int) -> int:
    """An entry in the arithmetic unit's first stage in cycle t (S) is in its accumulator at
    the end of t + arith_latency (hw/arith.py; registered: S, M1, M2, A; compact: S, M, A)."""
    return 3 if registered(n_pe) else 2


def writeback_latency(n_pe: int) -> int:
    """Write-back of a row started in cycle w (accumulator and bias read) is written into the
    destination act file in w + writeback_latency (hw/arith.py; registered: the data
    registered, shifted, rounded, the result registered at the act file's write port;
    compact: shifted, rounded)."""
    return 4 if registered(n_pe) else 2


# What follows from the above (the cycle model's terms, docs/hw.md):

def issue_after_pop(n_pe: int) -> int:
    """A column popped in p is in the column queue, and can start issuing, from p + this."""
    return pointer_latency(n_pe) + 1


def empty_column_hold(n_pe: int) -> int:
    """An empty column holds its column-queue reservation until p + this (its drop is
    registered)."""
    return pointer_latency(n_pe) + 1


def arith_tail(n_pe: int) -> int:
    """A PE whose last entry issued in q + e - 1 is idle from q + e + this."""
    return spmat_latency(n_pe) + arith_latency(n_pe)


def empty_column_tail(n_pe: int) -> int:
    """After an empty column popped in p, a PE is idle from p + this."""
    return pointer_latency(n_pe) + 1


def wb_flush_cycles(n_pe: int) -> int:
    """Cycles between the last write-back row and FINISH (the sequencer's WB_FLUSH state), so
    the last row is written before the act files swap."""
    return writeback_latency(n_pe) - 1


# ---- between the CCU and the PEs (hw/distribute.py) ---------------------------------------

def tree_levels(n_pe: int) -> int:
    """Register levels of a tree over ``n_pe`` leaves with at most FANOUT per node (>= 1)."""
    levels, span = 1, FANOUT
    while span < n_pe:
        levels, span = levels + 1, span * FANOUT
    return levels


def forward_stages(n_pe: int) -> int:
    """Cycles from a value the CCU drives towards the PEs (``hw.layouts.PECompute``, the host
    bus) to the PEs' ports: one register per tree level (compact: none)."""
    return tree_levels(n_pe) if registered(n_pe) else 0


def return_stages(n_pe: int) -> int:
    """Registers a PE's answer to the CCU alone passes (the pop that returns a credit, its
    slot of a scanned row): one beside the PE, one beside the CCU (compact: none)."""
    return 2 if registered(n_pe) else 0


def reduce_stages(n_pe: int) -> int:
    """Cycles from the PEs' idle/ready bits to their AND at the CCU: a register per PE, then
    one per tree level (compact: none)."""
    return 1 + tree_levels(n_pe) if registered(n_pe) else 0


def credit_return(n_pe: int) -> int:
    """A broadcast committed by the CCU in cycle b is written into every PE's queue in b + F
    (F = forward_stages), so it can be popped from b + F + 1. A pop in cycle p returns its
    credit to the CCU, where a broadcast can use it from p + credit_return + 1."""
    return return_stages(n_pe)


def pe_bus_read_latency(n_pe: int) -> int:
    """A PE's host-bus read data is valid this many cycles after the PE sees ``re`` (the
    memory's output; registered: then a register)."""
    return 2 if registered(n_pe) else 1


def host_read_latency(n_pe: int) -> int:
    """Cycles from the command engine's read of a PE memory to the data at the CCU: the
    forward tree, the PE, and the OR of the PEs' read data (registered: a register per tree
    level)."""
    ored = tree_levels(n_pe) if registered(n_pe) else 0
    return forward_stages(n_pe) + pe_bus_read_latency(n_pe) + ored


# ---- the scanner (hw/scanner.py) ----------------------------------------------------------

# The scanner issues the read of slot row 0 in START (local cycle 1), then one row per cycle
# while its row buffer has room.
FIRST_ROW_READ = 1


def row_latency(n_pe: int) -> int:
    """A row read issued in cycle a is in the scanner's row buffer, ready to pick from, in
    a + row_latency: the forward tree, the act file read, the return registers, the buffer
    write."""
    return forward_stages(n_pe) + 1 + return_stages(n_pe) + 1


def row_buffer_depth(n_pe: int) -> int:
    """Rows read ahead (in flight or buffered): enough to read one row per cycle while the
    scanner consumes all-zero rows at one per cycle."""
    return row_latency(n_pe) + 1
