"""Will a config fit a board? Block RAM, SPRAM, DSP and LUTs estimated from the config alone.

`check_fits` runs before anything is synthesized: a config the board cannot hold is refused
in one line that names the resource (`CapacityError`, an `EIEError`: ``eie build`` exits 2),
instead of failing after a long place-and-route.

* **Memories** (`hw.inventory.memories`) are mapped as Yosys maps them, by the cost its
  memory libraries give (``share/lattice/*.txt``, ``share/ice40/*.txt``): on the ECP5 a
  memory goes to LUT RAM (TRELLIS_DPR16X4, 16 x 4 bits, cost 4) or block RAM (DP16KD /
  PDPW16KD, 16 Kbit, cost 128), whichever is cheaper (a combinational read port: LUT RAM
  only); on the iCE40 to block RAM (SB_RAM40_4K, 4 Kbit, cost 64), a single-ported one to
  SPRAM (256 Kbit, cost 2048) when that is cheaper, and small ones (under 512 bits, or with
  a combinational read port) to flip-flops. The counts agree with synthesis for the presets
  (tests/test_fpga_capacity.py).
* **DSPs**: one per PE's multiplier (more if its operands are wider than the DSP's); the
  command engine's transfer lengths are shifted adds, not a multiplier.
* **LUTs**: a linear estimate per PE and for the CCU, from measured synthesis of the
  presets (`bench.fpga_area`), scaled by the widths that size them. A config is refused only
  when the estimate exceeds the device by more than `LUT_MARGIN`: the estimate is rough, and
  a refusal must not stop a build that would fit.
"""

from __future__ import annotations

from dataclasses import dataclass

from eie.config import EIEConfig
from eie.errors import EIEError

__all__ = ["CapacityError", "Estimate", "estimate", "check_fits", "boot_rom_blocks", "LUT_MARGIN"]

# A config is refused when its LUT estimate exceeds the device by more than this fraction.
LUT_MARGIN = 0.10


class CapacityError(EIEError):
    """The config does not fit the board (block RAM, SPRAM, DSP or LUTs)."""


@dataclass(frozen=True)
class Estimate:
    """Resources a config needs on one FPGA family (the keys of `fpga.boards.Board.capacity`)."""

    family: str
    bram: int
    spram: int
    dsp: int
    lut: int
    lutram: int

    def as_dict(self) -> dict:
        return {"BRAM": self.bram, "SPRAM": self.spram, "DSP": self.dsp, "LUT": self.lut,
                "LUTRAM": self.lutram}


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _tiles(depth: int, width: int, modes) -> int:
    """Fewest blocks of one RAM type that hold ``depth`` x ``width`` (modes: (depth, width))."""
    return min(_ceil(depth, d) * _ceil(width, w) for d, w in modes)


# (depth, width) configurations of one block.
_DP16KD = [(16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)]
_RAM4K = [(2048, 2), (1024, 4), (512, 8), (256, 16)]
_SPRAM = [(16384, 16)]


def _ecp5_memory(spec) -> tuple[int, int]:
    """(block RAMs, LUT RAM cells) of one copy of ``spec`` on the ECP5."""
    cells = _ceil(spec.depth, 16) * _ceil(spec.width, 4)
    if spec.comb_read:
        return 0, cells
    tiles = _tiles(spec.depth, spec.width, _DP16KD)
    return (0, cells) if 4 * cells < 128 * tiles else (tiles, 0)


def _ice40_memory(spec) -> tuple[int, int]:
    """(block RAMs, SPRAMs) of one copy of ``spec`` on the iCE40UP5K (0, 0: flip-flops)."""
    if spec.comb_read or spec.bits < 512:
        return 0, 0
    tiles = _tiles(spec.depth, spec.width, _RAM4K)
    if spec.single_port:
        sprams = _tiles(spec.depth, spec.width, _SPRAM)
        if 2048 * sprams <= 64 * tiles:
            return 0, sprams
    return tiles, 0


def _dsps(family: str, cfg: EIEConfig) -> int:
    from hw.inventory import multipliers
    width = 18 if family == "ecp5" else 16
    return sum(_ceil(a, width) * _ceil(b, width) for a, b in multipliers(cfg))


# LUTs per PE and of the CCU (its own, plus a part per PE: the distribution trees, the
# scanner's lanes, counters), measured at the reference widths below and scaled by
# acc_bits + act_bits + weight_bits + ptr_bits (what most of the datapath is as wide as).
_LUT_MODEL = {
    # family: (per PE, CCU base, CCU per PE), at _REF_WIDTH
    "ecp5": (1000, 2900, 60),
    "ice40": (1100, 3300, 60),
}
_REF_WIDTH = 32 + 16 + 16 + 13


def _luts(family: str, cfg: EIEConfig) -> int:
    per_pe, base, ccu_pe = _LUT_MODEL[family]
    scale = (cfg.acc_bits + cfg.act_bits + cfg.weight_bits + cfg.ptr_bits) / _REF_WIDTH
    return int(round(cfg.n_pe * (per_pe * scale + ccu_pe) + base))


def estimate(family: str, cfg: EIEConfig) -> Estimate:
    """What ``cfg``'s array needs on ``family`` ("ecp5" or "ice40")."""
    from hw.inventory import memories
    bram = spram = lutram = 0
    for spec in memories(cfg):
        if family == "ecp5":
            b, cells = _ecp5_memory(spec)
            bram += b * spec.count
            lutram += cells * spec.count
        else:
            b, s = _ice40_memory(spec)
            bram += b * spec.count
            spram += s * spec.count
    return Estimate(family, bram, spram, _dsps(family, cfg), _luts(family, cfg), lutram)


def boot_rom_blocks(family: str, nbytes: int) -> int:
    """Block RAMs of a boot ROM of ``nbytes`` bytes (`fpga.boot`; 0: none)."""
    if not nbytes:
        return 0
    return _tiles(nbytes, 8, _DP16KD if family == "ecp5" else _RAM4K)


def check_fits(board, cfg: EIEConfig, *, extra_bram: int = 0) -> Estimate:
    """Raise `CapacityError` naming the first resource ``cfg`` needs more of than ``board``
    has (``extra_bram``: block RAMs the board top adds, e.g. a boot ROM); else the estimate."""
    est = estimate(board.family, cfg)
    cap = board.capacity
    needs = [("BRAM", est.bram + extra_bram, "block RAMs"), ("SPRAM", est.spram, "SPRAMs"),
             ("DSP", est.dsp, "DSP multipliers")]
    for key, need, what in needs:
        have = cap.get(key, 0)
        if need > have:
            raise CapacityError(f"config {cfg.hash} ({cfg.n_pe} PEs) needs {need} {what} on the "
                                f"{board.device}, which has {have}")
    if est.lut > cap["LUT"] * (1 + LUT_MARGIN):
        raise CapacityError(f"config {cfg.hash} ({cfg.n_pe} PEs) needs about {est.lut} LUTs on the "
                            f"{board.device}, which has {cap['LUT']}")
    return est
