"""Rejected constructor arguments of the FPGA components leave no object behind.

Every component of `fpga/` checks its arguments in ``__new__`` (`fpga.params.CheckedArgs`), so a
bad argument raises before the object exists and Amaranth has no unused elaboratable to warn
about. The control case checks that the warning is live in this process: a component that is
made and dropped does warn.
"""

import gc
import warnings

import pytest
from amaranth.hdl import Fragment, UnusedElaboratable

from fpga.boards import get_board
from fpga.boot import BootReplayer
from fpga.bridge import UARTBridge
from fpga.pll import ClockReset
from fpga.tb.fixtures import EchoCore
from fpga.top import BoardCore, BoardTop
from fpga.uart import UARTRx, UARTTx

GOOD_ROM = bytes([0x02, 0, 0])      # one STATUS command

REJECTED = [
    (lambda core: UARTRx(3), ValueError, "at least 4 clock cycles per bit, not 3"),
    (lambda core: UARTTx(4.5), TypeError, "integer, not 4.5"),
    (lambda core: UARTBridge(8, fifo_depth=-1), ValueError, "fifo_depth must be a non-negative integer"),
    (lambda core: UARTBridge(8, tx_fifo_depth=True), ValueError, "tx_fifo_depth must be a non-negative integer"),
    (lambda core: UARTBridge(2), ValueError, "at least 4 clock cycles per bit, not 2"),
    (lambda core: BootReplayer(b""), ValueError, "non-empty bytes"),
    (lambda core: BootReplayer(b"\x03\x05\x00ab"), ValueError, "ends inside the body"),
    (lambda core: ClockReset("ice40", "clk12", 12e6, 5e6), ValueError, "no iCE40 PLL setting"),
    (lambda core: ClockReset("gowin", "clk", 12e6, 24e6), ValueError, "family must be"),
    (lambda core: BoardCore(core, divisor=3), ValueError, "at least 4 clock cycles per bit"),
    (lambda core: BoardCore(core, divisor=8, boot=b"\x01"), ValueError, "ends inside a frame header"),
    (lambda core: BoardCore(UARTRx, divisor=8), TypeError, "must be a wiring.Component"),
    (lambda core: BoardTop(get_board("icebreaker"), core, freq=5e6), ValueError, "no iCE40 PLL setting"),
    (lambda core: BoardTop(get_board("icebreaker"), core, baud=10_000_000), ValueError, "needs at least"),
    (lambda core: BoardTop(get_board("ulx3s"), core, boot=b"\x07\x01"), ValueError, "frame header"),
    (lambda core: BoardTop(get_board("ulx3s"), core, fifo_depth=-2), ValueError, "fifo_depth"),
]


def _unused_warnings(record):
    return [w for w in record if issubclass(w.category, UnusedElaboratable)]


def test_an_unused_component_warns():
    """The control: the warning is live (Amaranth turns it on at the first elaboration)."""
    Fragment.get(EchoCore(), None)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        UARTRx(4)
        gc.collect()
    assert len(_unused_warnings(record)) == 1, record


@pytest.mark.parametrize("make, error, message", REJECTED, ids=[m for _, _, m in REJECTED])
def test_rejected_arguments_leave_no_unused_elaboratable(make, error, message):
    Fragment.get(EchoCore(), None)                  # the warning is live from here on
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        core = EchoCore()
        with pytest.raises(error, match=message):
            make(core)
        Fragment.get(core, None)                    # the caller's own design is used
        del core
        gc.collect()
    assert _unused_warnings(record) == [], [str(w.message) for w in record]


def test_accepted_arguments_make_the_objects():
    board = get_board("icebreaker")
    top = BoardTop(board, EchoCore(), boot=GOOD_ROM, fifo_depth=2)
    assert top.f_sync == 24e6 and top.baud == 1_000_000 and top.divisor == top.core.divisor == 24
    assert top.clock.f_out == 24e6
    Fragment.get(top, board.platform())
