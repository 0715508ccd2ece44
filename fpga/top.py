"""Board tops: the EIE array behind a UART, with clock, reset and status LEDs.

Two layers, so the part that matters can be simulated whole:

* `BoardCore` is everything inside the FPGA that runs in the ``sync`` domain: the UART
  bridge (`fpga.bridge`), the design (`hw.top.EIETop`, or any component with the same
  ``host_rx``/``host_tx`` byte streams) and, for a baked model, the boot replayer
  (`fpga.boot`). Its ports are the two UART pins and a few status bits, so the cocotb
  board test drives exactly the pins the board drives.
* `BoardTop` adds what only a real board has: the PLL and reset (`fpga.pll.ClockReset`),
  the pin buffers from amaranth-boards, and the LEDs (heartbeat, busy, error).
"""

from amaranth.hdl import ClockDomain, Elaboratable, Module, Shape, Signal, unsigned
from amaranth.lib import io, wiring, stream
from amaranth.lib.wiring import In, Out

from .bridge import UARTBridge
from .boot import BootReplayer
from .params import CheckedArgs
from .pll import ClockReset, plan_clock
from .uart import baud_divisor

__all__ = ["BoardCore", "BoardTop", "check_core"]


def check_core(core):
    """Raise TypeError unless ``core`` is a component with the host byte streams."""
    sig = getattr(core, "signature", None)
    if not isinstance(core, wiring.Component) or sig is None:
        raise TypeError(f"the design must be a wiring.Component, not {core!r}")
    members = sig.members
    for name, flow in (("host_rx", wiring.In), ("host_tx", wiring.Out)):
        if name not in members:
            raise TypeError(f"the design {type(core).__name__} has no {name} port")
        member = members[name]
        sig = member.signature if member.is_signature else None
        if isinstance(sig, wiring.FlippedSignature):
            sig = sig.flip()
        if (sig is None or member.flow != flow or not isinstance(sig, stream.Signature)
                or Shape.cast(sig.members["payload"].shape) != unsigned(8)):
            raise TypeError(f"{type(core).__name__}.{name} must be {flow.name}(stream.Signature(8)), "
                            f"not {member!r}")
    return core


class BoardCore(CheckedArgs, wiring.Component):
    """UART pins to the design, optionally after replaying a baked model.

    Parameters
    ----------
    core : wiring.Component
        The design: ``host_rx: In(stream.Signature(8))``, ``host_tx: Out(stream.Signature(8))``,
        optionally ``busy: Out(1)``.
    divisor : int
        UART clock cycles per bit.
    fifo_depth, tx_fifo_depth : int
        Receive and transmit FIFOs of the bridge (`fpga.bridge.UARTBridge`).
    boot : bytes or None
        Command frames to replay after reset (a baked model), or None.

    Attributes
    ----------
    rx, tx : the UART pins (idle high)
    busy : the design's ``busy`` (0 if it has none)
    overrun, framing_error : the bridge's sticky error flags
    boot_done : the baked model is loaded (1 at once without one)
    boot_error : a boot command was answered with an error status
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    busy: Out(1)
    overrun: Out(1)
    framing_error: Out(1)
    boot_done: Out(1)
    boot_error: Out(1)

    @staticmethod
    def check(core, *, divisor: int, fifo_depth: int = 16, tx_fifo_depth: int = 0,
              boot: bytes | None = None):
        check_core(core)
        UARTBridge.check(divisor, fifo_depth=fifo_depth, tx_fifo_depth=tx_fifo_depth)
        if boot is not None:
            BootReplayer.check(boot)

    def __init__(self, core, *, divisor: int, fifo_depth: int = 16, tx_fifo_depth: int = 0,
                 boot: bytes | None = None):
        self._core = core
        self._bridge = UARTBridge(divisor, fifo_depth=fifo_depth, tx_fifo_depth=tx_fifo_depth)
        self._boot = BootReplayer(boot) if boot is not None else None
        super().__init__()

    @property
    def core(self):
        """The design behind the UART."""
        return self._core

    @property
    def divisor(self) -> int:
        return self._bridge.divisor

    def elaborate(self, platform):
        m = Module()
        m.submodules.bridge = bridge = self._bridge
        m.submodules.eie = core = self._core

        m.d.comb += [
            bridge.rx.eq(self.rx),
            self.tx.eq(bridge.tx),
            self.overrun.eq(bridge.overrun),
            self.framing_error.eq(bridge.framing_error),
        ]
        if "busy" in core.signature.members:
            m.d.comb += self.busy.eq(core.busy)

        if self._boot is None:
            wiring.connect(m, bridge.host_rx, core.host_rx)
            wiring.connect(m, core.host_tx, bridge.host_tx)
            m.d.comb += self.boot_done.eq(1)
        else:
            m.submodules.boot = boot = self._boot
            m.d.comb += [self.boot_done.eq(boot.done), self.boot_error.eq(boot.error)]
            # While the replayer runs, the UART is cut off: bytes from the host wait in the
            # bridge's FIFO (a host that talks during the first millisecond may overrun it).
            with m.If(boot.done):
                m.d.comb += [
                    core.host_rx.valid.eq(bridge.host_rx.valid),
                    core.host_rx.payload.eq(bridge.host_rx.payload),
                    bridge.host_rx.ready.eq(core.host_rx.ready),
                    bridge.host_tx.valid.eq(core.host_tx.valid),
                    bridge.host_tx.payload.eq(core.host_tx.payload),
                    core.host_tx.ready.eq(bridge.host_tx.ready),
                ]
            with m.Else():
                m.d.comb += [
                    core.host_rx.valid.eq(boot.cmd.valid),
                    core.host_rx.payload.eq(boot.cmd.payload),
                    boot.cmd.ready.eq(core.host_rx.ready),
                    boot.rsp.valid.eq(core.host_tx.valid),
                    boot.rsp.payload.eq(core.host_tx.payload),
                    core.host_tx.ready.eq(boot.rsp.ready),
                ]
        return m


def _clock_and_baud(board, freq, baud):
    """``(f_target, baud, divisor)``: the clock asked for and the UART divisor at the clock the
    PLL makes of it (ValueError when either is out of reach)."""
    f_target = freq if freq is not None else board.default_freq
    _, f_sync = plan_clock(board.family, board.clk_freq, f_target)
    baud = baud if baud is not None else board.baud
    return f_target, baud, baud_divisor(f_sync, baud)


class BoardTop(CheckedArgs, Elaboratable):
    """The whole design for one board: clock, reset, UART pins, LEDs and `BoardCore`.

    Parameters
    ----------
    board : fpga.boards.Board
    core : wiring.Component
        The design (see `BoardCore`).
    freq : float
        Requested ``sync`` frequency in Hz; the PLL gives `f_sync`, the closest not above.
    baud : int
        UART baud rate; the divisor is rounded from `f_sync` (checked to within 2 %).
    boot : bytes or None
        A baked model's command frames (`fpga.boot`).
    """

    @staticmethod
    def check(board, core, *, freq: float | None = None, baud: int | None = None,
              boot: bytes | None = None, fifo_depth: int = 16, tx_fifo_depth: int = 0):
        f_target, _, divisor = _clock_and_baud(board, freq, baud)
        BoardCore.check(core, divisor=divisor, fifo_depth=fifo_depth, tx_fifo_depth=tx_fifo_depth,
                        boot=boot)
        ClockReset.check(board.family, board.clk_resource, board.clk_freq, f_target)

    def __init__(self, board, core, *, freq: float | None = None, baud: int | None = None,
                 boot: bytes | None = None, fifo_depth: int = 16, tx_fifo_depth: int = 0):
        self.board = board
        f_target, self.baud, self.divisor = _clock_and_baud(board, freq, baud)
        self.core = BoardCore(core, divisor=self.divisor, fifo_depth=fifo_depth,
                              tx_fifo_depth=tx_fifo_depth, boot=boot)
        self.clock = ClockReset(board.family, board.clk_resource, board.clk_freq, f_target)

    @property
    def f_sync(self) -> float:
        """The ``sync`` clock frequency the PLL makes (Hz)."""
        return self.clock.f_out

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = ClockDomain("sync")
        m.submodules.clock = self.clock
        m.submodules.core = core = self.core

        # Every subsignal raw ("-"): rx and tx get buffers below, the ULX3S's rts/dtr stay
        # unused (a subsignal left to the default direction is deprecated in Amaranth 0.5).
        res = platform.lookup("uart", 0)
        uart = platform.request("uart", 0, dir={sub.name: "-" for sub in res.ios})
        m.submodules.uart_rx_buf = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.uart_tx_buf = tx_buf = io.Buffer("o", uart.tx)
        m.d.comb += [core.rx.eq(rx_buf.i), tx_buf.o.eq(core.tx)]

        def out_pin(name, number, value):
            buf = io.Buffer("o", platform.request(name, number, dir="-"))
            m.submodules[f"{name}_{number}_buf"] = buf
            m.d.comb += buf.o.eq(value)

        # Heartbeat: a free-running counter's top bit, 0.7 to 1.5 Hz whatever the clock, so a
        # running, locked clock is visible. (An increment keeps the iCE40 carry chain whole;
        # a reloading down-counter did not and made this the critical path.) No reset: it
        # needs none, and its flops sit by the LEDs, far from the reset net's other loads.
        beat = Signal(max(1, (int(self.f_sync) // 2).bit_length()), reset_less=True)
        m.d.sync += beat.eq(beat + 1)
        heartbeat = beat[-1]

        error = core.overrun | core.framing_error | core.boot_error
        busy = core.busy | ~core.boot_done
        # What each board can show: the iCEBreaker's green/red LEDs, the ULX3S's first three
        # LEDs (heartbeat, error, busy), or the OrangeCrab's RGB LED (green heartbeat, red
        # error, blue busy).
        names = set(platform.resources)
        if ("led_g", 0) in names and ("led_r", 0) in names:
            out_pin("led_g", 0, heartbeat | busy)
            out_pin("led_r", 0, error)
        elif ("rgb_led", 0) in names:
            rgb = platform.request("rgb_led", 0, dir={"r": "-", "g": "-", "b": "-"})
            for color, value in (("r", error), ("g", heartbeat), ("b", busy)):
                m.submodules[f"rgb_{color}_buf"] = buf = io.Buffer("o", getattr(rgb, color))
                m.d.comb += buf.o.eq(value)
        else:
            for i, value in enumerate((heartbeat, error, busy)):
                if ("led", i) in names:
                    out_pin("led", i, value)
        return m
