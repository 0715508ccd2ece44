"""Clock generation for the board tops: PLL parameter solvers and the clock/reset block.

`ice40_pll` and `ecp5_pll` pick PLL dividers for a requested frequency the way the
IceStorm ``icepll`` and Trellis ``ecppll`` tools do (same formulas and limits), but never
above the request: the request is the timing target nextpnr checks, so rounding up would
make a passing build run faster than it was checked for. `ClockReset` instantiates the
PLL (SB_PLL40_PAD on the iCE40, EHXPLLL on the ECP5), makes the ``sync`` domain from it,
and holds the domain in reset until the PLL has locked (a synchronous reset released
through a synchroniser, so every flop leaves reset on the same edge). The synchroniser's
output passes `RESET_PIPELINE` more registers before it becomes the domain's reset: the
synchroniser sits by the PLL, and the register driving the reset net is then free to sit
among that net's loads (as a fabric net from the PLL's corner it was the 32-PE OrangeCrab's
critical path).
"""

from dataclasses import dataclass

from amaranth.hdl import ClockSignal, Const, Elaboratable, Instance, Module, ResetSignal, Signal
from amaranth.lib import io
from amaranth.lib.cdc import AsyncFFSynchronizer

from .params import CheckedArgs

__all__ = ["ICE40PLL", "ECP5PLL", "ice40_pll", "ecp5_pll", "plan_clock", "ClockReset", "RESET_PIPELINE"]

# Registers between the reset synchroniser and the ``sync`` domain's reset (the module
# docstring says why); each holds 1 from configuration, so the reset is on from the start.
RESET_PIPELINE = 2


@dataclass(frozen=True)
class ICE40PLL:
    """SB_PLL40 settings in SIMPLE feedback mode: f_out = f_in * (divf+1) / ((divr+1) * 2**divq)."""
    f_in: float
    divr: int
    divf: int
    divq: int
    filter_range: int
    f_out: float

    @property
    def f_pfd(self) -> float:
        return self.f_in / (self.divr + 1)

    @property
    def f_vco(self) -> float:
        return self.f_pfd * (self.divf + 1)


@dataclass(frozen=True)
class ECP5PLL:
    """EHXPLLL settings with CLKOP fed back: f_out = f_in * clkfb_div / clki_div."""
    f_in: float
    clki_div: int
    clkfb_div: int
    clkop_div: int
    f_out: float

    @property
    def f_vco(self) -> float:
        return self.f_out * self.clkop_div

    @property
    def clkop_cphase(self) -> int:
        # Zero phase shift, as ecppll writes it.
        return (self.clkop_div - 1) // 2


def _check_freqs(f_in, f_target):
    for name, f in (("input", f_in), ("requested", f_target)):
        if not isinstance(f, (int, float)) or isinstance(f, bool) or not f > 0:
            raise ValueError(f"{name} clock frequency must be a positive number of Hz, not {f!r}")


def ice40_pll(f_in: float, f_target: float) -> ICE40PLL:
    """The iCE40 PLL setting whose output is closest to ``f_target`` without exceeding it.

    Limits (iCE40 sysCLOCK PLL, as in icepll): 10 MHz <= f_pfd <= 133 MHz,
    533 MHz <= f_vco <= 1066 MHz, 16 MHz <= f_out <= 275 MHz.
    """
    _check_freqs(f_in, f_target)
    best = None
    for divr in range(16):
        f_pfd = f_in / (divr + 1)
        if not 10e6 <= f_pfd <= 133e6:
            continue
        for divf in range(128):
            f_vco = f_pfd * (divf + 1)
            if not 533e6 <= f_vco <= 1066e6:
                continue
            for divq in range(1, 7):
                f_out = f_vco / (1 << divq)
                if f_out > f_target * (1 + 1e-9) or not 16e6 <= f_out <= 275e6:
                    continue
                if best is None or f_out > best[0] * (1 + 1e-12):
                    best = (f_out, divr, divf, divq, f_pfd)
    if best is None:
        raise ValueError(f"no iCE40 PLL setting makes {f_target / 1e6:g} MHz or less "
                         f"(at least 16 MHz) from {f_in / 1e6:g} MHz")
    f_out, divr, divf, divq, f_pfd = best
    filter_range = next(i + 1 for i, top in enumerate((17e6, 26e6, 44e6, 66e6, 101e6, float("inf")))
                        if f_pfd < top)
    return ICE40PLL(f_in=f_in, divr=divr, divf=divf, divq=divq, filter_range=filter_range, f_out=f_out)


def ecp5_pll(f_in: float, f_target: float) -> ECP5PLL:
    """The ECP5 PLL setting whose output is closest to ``f_target`` without exceeding it.

    Limits (as in ecppll): 3.125 MHz <= f_pfd <= 400 MHz, 400 MHz <= f_vco <= 800 MHz,
    f_out >= 3.125 MHz. Among equal outputs the highest VCO frequency wins (less jitter).
    """
    _check_freqs(f_in, f_target)
    best = None
    for clki_div in range(1, 129):
        f_pfd = f_in / clki_div
        if not 3.125e6 <= f_pfd <= 400e6:
            continue
        for clkfb_div in range(1, 81):
            f_out = f_pfd * clkfb_div
            if f_out > f_target * (1 + 1e-9) or f_out < 3.125e6:
                continue
            for clkop_div in range(1, 129):
                f_vco = f_out * clkop_div
                if not 400e6 <= f_vco <= 800e6:
                    continue
                key = (round(f_out, 3), f_vco)
                if best is None or key > best[0]:
                    best = (key, clki_div, clkfb_div, clkop_div, f_out)
    if best is None:
        raise ValueError(f"no ECP5 PLL setting makes {f_target / 1e6:g} MHz or less from {f_in / 1e6:g} MHz")
    _, clki_div, clkfb_div, clkop_div, f_out = best
    return ECP5PLL(f_in=f_in, clki_div=clki_div, clkfb_div=clkfb_div, clkop_div=clkop_div, f_out=f_out)


def plan_clock(family: str, f_in: float, f_target: float):
    """``(pll, f_out)``: the PLL setting (None: the oscillator as it is) and the clock it makes."""
    if family not in ("ice40", "ecp5"):
        raise ValueError(f"family must be 'ice40' or 'ecp5', not {family!r}")
    if abs(f_target - f_in) < 1:
        return None, float(f_in)
    pll = ice40_pll(f_in, f_target) if family == "ice40" else ecp5_pll(f_in, f_target)
    return pll, pll.f_out


class ClockReset(CheckedArgs, Elaboratable):
    """Clock and reset of the ``sync`` domain (defined by the parent): oscillator -> PLL.

    Parameters
    ----------
    family : "ice40" or "ecp5"
    clk_resource : str
        Name of the board's oscillator resource (``clk12``, ``clk25``, ``clk``).
    f_in : float
        Oscillator frequency in Hz.
    f_target : float
        Requested ``sync`` frequency in Hz; the PLL gives the closest not above it
        (`f_out`). With ``f_target == f_in`` no PLL is used.
    reset : Signal or None
        An extra active-high reset (e.g. a button), synchronised here.
    """

    @staticmethod
    def check(family: str, clk_resource: str, f_in: float, f_target: float, *, reset=None):
        plan_clock(family, float(f_in), f_target)

    def __init__(self, family: str, clk_resource: str, f_in: float, f_target: float, *, reset=None):
        self.family = family
        self.clk_resource = clk_resource
        self.f_in = float(f_in)
        self.reset = reset
        self.pll, self.f_out = plan_clock(family, self.f_in, f_target)
        self.locked = Signal()

    def elaborate(self, platform):
        # The parent defines the ``sync`` domain (Amaranth 0.6 wants domains defined
        # above their users); this block only drives its clock and reset.
        m = Module()
        clk_sync = ClockSignal("sync")
        pll = self.pll

        if pll is None:
            m.submodules.clk_buf = clk = io.Buffer("i", platform.request(self.clk_resource, 0, dir="-"))
            m.d.comb += [clk_sync.eq(clk.i), self.locked.eq(1)]
        elif self.family == "ice40":
            # The PAD variant: the oscillator pin feeds the PLL directly (pin 35 on the
            # iCEBreaker is a PLL input), without going through a global buffer first.
            pin = platform.request(self.clk_resource, 0, dir="-")
            m.submodules.pll = Instance(
                "SB_PLL40_PAD",
                p_FEEDBACK_PATH="SIMPLE",
                p_DIVR=Const(pll.divr, 4), p_DIVF=Const(pll.divf, 7), p_DIVQ=Const(pll.divq, 3),
                p_FILTER_RANGE=Const(pll.filter_range, 3),
                i_PACKAGEPIN=pin.io,
                i_RESETB=Const(1), i_BYPASS=Const(0),
                o_PLLOUTGLOBAL=clk_sync,
                o_LOCK=self.locked)
        else:
            m.submodules.clk_buf = clk = io.Buffer("i", platform.request(self.clk_resource, 0, dir="-"))
            m.submodules.pll = Instance(
                "EHXPLLL",
                p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
                p_CLKI_DIV=pll.clki_div, p_CLKFB_DIV=pll.clkfb_div,
                p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=pll.clkop_div,
                p_CLKOP_CPHASE=pll.clkop_cphase, p_CLKOP_FPHASE=0,
                p_FEEDBK_PATH="CLKOP",
                a_FREQUENCY_PIN_CLKI=f"{pll.f_in / 1e6:g}",
                a_FREQUENCY_PIN_CLKOP=f"{pll.f_out / 1e6:g}",
                a_ICP_CURRENT="12", a_LPF_RESISTOR="8",
                a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
                i_CLKI=clk.i, i_CLKFB=clk_sync, i_RST=Const(0), i_STDBY=Const(0),
                i_PHASESEL0=Const(0), i_PHASESEL1=Const(0), i_PHASEDIR=Const(1),
                i_PHASESTEP=Const(1), i_PHASELOADREG=Const(1), i_PLLWAKESYNC=Const(0),
                i_ENCLKOP=Const(0),
                o_CLKOP=clk_sync, o_LOCK=self.locked)

        # No constraint on the PLL output: nextpnr derives it from the oscillator's and the
        # PLL's parameters (a constraint on the net by name would not survive flattening).

        arst = ~self.locked
        if self.reset is not None:
            arst = arst | self.reset
        synced = Signal()
        m.submodules.reset_sync = AsyncFFSynchronizer(arst, synced, o_domain="sync")
        for j in range(RESET_PIPELINE):
            stage = Signal(init=1, reset_less=True, name=f"reset_pipe{j}")
            m.d.sync += stage.eq(synced)
            synced = stage
        m.d.comb += ResetSignal("sync").eq(synced)
        return m
