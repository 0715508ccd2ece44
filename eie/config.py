"""The one configuration object of eie-gen.

`EIEConfig` is a frozen dataclass that every part reads: the compressor and
encoder (codebook size, run-length bits, memory capacities), the golden and
cycle models, the Amaranth hardware generator, the cocotb testbenches and the
FPGA builds. Derived sizes (bit widths, memory widths, address widths) are
computed here and only here. Variants are made with `cfg.replace(...)`;
the JSON round trip and `cfg.hash` name generated Verilog and build folders.

Named presets live in `PRESETS` (`eie`, `eie_256`, `ice40`, `ice40_1pe`, `ecp5`, `ecp5_16pe`,
`tiny`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, fields
from pathlib import Path

from .errors import EIEError

__all__ = ["EIEConfig", "ConfigError", "PRESETS", "HOST_WIDTHS", "get_config", "load_config", "clog2"]

# Host stream widths the command engine can be built with (bits; whole bytes, powers of two).
HOST_WIDTHS = (8, 16, 32, 64)


class ConfigError(EIEError, ValueError):
    """A configuration value is out of range or inconsistent."""


def clog2(n: int) -> int:
    """Bits needed to hold the values ``0 .. n-1`` (at least 1 for n <= 2)."""
    return max(1, (int(n) - 1).bit_length())


def bits_for(value: int) -> int:
    """Bits needed to hold the unsigned value ``value`` itself (at least 1)."""
    return max(1, int(value).bit_length())


@dataclass(frozen=True)
class EIEConfig:
    """Parameters of one EIE-style accelerator.

    Parameters
    ----------
    n_pe : int
        Number of processing elements (1 to 256). Output row ``i`` and input
        slot ``j`` belong to PE ``i % n_pe`` / ``j % n_pe``.
    queue_depth : int
        Depth of each PE's activation queue (EIE: 8).
    v_bits : int
        Codebook index bits; the codebook has ``2**v_bits`` entries and entry 0
        is always the zero weight (used by padding entries).
    z_bits : int
        Run-length bits: zeros since the previous stored entry, at most
        ``2**z_bits - 1``; longer runs are bridged with padding entries.
    entries_per_word : int
        (v, z) entries packed into one sparse-matrix memory word.
    act_bits, act_frac : int
        Activations are signed fixed point, ``act_bits`` wide with ``act_frac``
        fractional bits (Q(act_bits-act_frac).act_frac).
    weight_bits : int
        Width of a signed codebook value. Its fractional bits are chosen per
        layer by the encoder and equal the layer's output shift.
    acc_bits : int
        Width of each saturating accumulator (>= act_bits + weight_bits).
    ptr_depth : int
        Column-pointer entries per PE, summed over all layers (each layer
        needs ``in_len + 1``).
    spmat_depth : int
        Sparse-matrix memory words per PE, summed over all layers.
    act_depth : int
        Activation slots per PE in each of the two (ping-pong) activation
        register files; bounds ``ceil(len / n_pe)`` of every layer's input
        and output.
    bias_depth : int
        Bias entries per PE, summed over layers (``ceil(out_len / n_pe)``
        each).
    max_layers : int
        Entries in the layer table (and codebooks held).
    host_bits : int
        Width of the host streams (one of `HOST_WIDTHS`): the byte protocol travels in
        beats of ``host_bits / 8`` bytes (`eie.contract`). 8 for a UART bridge, 32 for an
        AXI4-Stream DMA in an SoC.
    """

    n_pe: int = 4
    queue_depth: int = 8
    v_bits: int = 4
    z_bits: int = 4
    entries_per_word: int = 8
    act_bits: int = 16
    act_frac: int = 8
    weight_bits: int = 16
    acc_bits: int = 32
    ptr_depth: int = 1024
    spmat_depth: int = 1024
    act_depth: int = 64
    bias_depth: int = 64
    max_layers: int = 4
    host_bits: int = 8

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"{f.name} must be an integer, not {value!r}")

        def require(cond, why):
            if not cond:
                raise ConfigError(why)

        require(1 <= self.n_pe <= 256, f"n_pe must be between 1 and 256, not {self.n_pe}")
        require(1 <= self.queue_depth <= 1024,
                f"queue_depth must be between 1 and 1024, not {self.queue_depth}")
        require(1 <= self.v_bits <= 8, f"v_bits must be between 1 and 8, not {self.v_bits}")
        require(1 <= self.z_bits <= 8, f"z_bits must be between 1 and 8, not {self.z_bits}")
        require(1 <= self.entries_per_word <= 64,
                f"entries_per_word must be between 1 and 64, not {self.entries_per_word}")
        require(2 <= self.act_bits <= 32, f"act_bits must be between 2 and 32, not {self.act_bits}")
        require(0 <= self.act_frac < self.act_bits,
                f"act_frac must be between 0 and act_bits-1 ({self.act_bits - 1}), not {self.act_frac}")
        require(2 <= self.weight_bits <= 32,
                f"weight_bits must be between 2 and 32, not {self.weight_bits}")
        require(self.act_bits + self.weight_bits <= self.acc_bits <= 62,
                f"acc_bits must be between act_bits+weight_bits "
                f"({self.act_bits + self.weight_bits}) and 62, not {self.acc_bits}")
        for name in ("ptr_depth", "spmat_depth", "act_depth", "bias_depth", "max_layers"):
            value = getattr(self, name)
            require(value >= 1, f"{name} must be at least 1, not {value}")
        require(self.ptr_depth >= 2, f"ptr_depth must be at least 2 (one column), not {self.ptr_depth}")
        require(self.host_bits in HOST_WIDTHS,
                f"host_bits must be one of {', '.join(map(str, HOST_WIDTHS))}, not {self.host_bits}")

    # ---- derived sizes (the only place they are computed) -------------------------------

    @property
    def codebook_size(self) -> int:
        """Entries in one layer's codebook (entry 0 is the zero weight)."""
        return 1 << self.v_bits

    @property
    def max_run(self) -> int:
        """Largest run of zeros one entry's z field can express."""
        return (1 << self.z_bits) - 1

    @property
    def entry_bits(self) -> int:
        """Bits of one (v, z) entry."""
        return self.v_bits + self.z_bits

    @property
    def word_bits(self) -> int:
        """Bits of one sparse-matrix memory word."""
        return self.entry_bits * self.entries_per_word

    @property
    def spmat_entries(self) -> int:
        """Entries one PE's sparse-matrix memory holds."""
        return self.spmat_depth * self.entries_per_word

    @property
    def ptr_bits(self) -> int:
        """Width of a column pointer: an absolute entry address, 0 .. spmat_entries."""
        return bits_for(self.spmat_entries)

    @property
    def max_len(self) -> int:
        """Longest input or output vector a layer may have."""
        return self.act_depth * self.n_pe

    @property
    def len_bits(self) -> int:
        """Width of a layer length field (holds 0 .. max_len)."""
        return bits_for(self.max_len)

    @property
    def shift_bits(self) -> int:
        """Width of a layer's output shift field (holds 0 .. acc_bits-1)."""
        return bits_for(self.acc_bits - 1)

    @property
    def pe_bits(self) -> int:
        """Bits to number a PE."""
        return clog2(self.n_pe)

    @property
    def layer_bits(self) -> int:
        """Bits to number a layer table entry."""
        return clog2(self.max_layers)

    @property
    def acc_min(self) -> int:
        return -(1 << (self.acc_bits - 1))

    @property
    def acc_max(self) -> int:
        return (1 << (self.acc_bits - 1)) - 1

    @property
    def act_min(self) -> int:
        return -(1 << (self.act_bits - 1))

    @property
    def act_max(self) -> int:
        return (1 << (self.act_bits - 1)) - 1

    @property
    def weight_min(self) -> int:
        return -(1 << (self.weight_bits - 1))

    @property
    def weight_max(self) -> int:
        return (1 << (self.weight_bits - 1)) - 1

    # ---- variants, serialisation, identity -----------------------------------------------

    def replace(self, **changes) -> "EIEConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "EIEConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"a config must be a JSON object, not {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> "EIEConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"config is not valid JSON: {e}") from None
        return cls.from_dict(data)

    @property
    def hash(self) -> str:
        """Stable 12-hex-digit identity of this configuration."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]

    def describe(self) -> str:
        return (f"{self.n_pe} PEs, queue {self.queue_depth}, {self.v_bits}-bit v / {self.z_bits}-bit z, "
                f"{self.entries_per_word} entries/word, act Q{self.act_bits - self.act_frac}.{self.act_frac}, "
                f"{self.weight_bits}-bit weights, {self.acc_bits}-bit acc, {self.host_bits}-bit host port")


# The EIE paper's design point: 64 PEs, queue depth 8, 4-bit v and z, 8 entries per 64-bit
# word, 16-bit fixed point. Memories sized for the paper's largest benchmark layer (VGG-6,
# 25088 x 4096 at 4%) on its own. A 32-bit host port: an SoC's AXI4-Stream DMA, no UART.
_EIE = EIEConfig(n_pe=64, queue_depth=8, v_bits=4, z_bits=4, entries_per_word=8,
                 act_bits=16, act_frac=8, weight_bits=16, acc_bits=32,
                 ptr_depth=32768, spmat_depth=16384, act_depth=512, bias_depth=512,
                 max_layers=8, host_bits=32)

# The iCE40UP5K (iCEBreaker) target for LeNet-300-100: four PEs, one 16-bit SPRAM per PE for
# the sparse matrix (two 8-bit entries per word). Its block RAM does not fit the UP5K
# (docs/fpga.md); it is simulated, board top included.
_ICE40 = EIEConfig(n_pe=4, queue_depth=4, v_bits=4, z_bits=4, entries_per_word=2,
                   act_bits=16, act_frac=8, weight_bits=16, acc_bits=32,
                   ptr_depth=1280, spmat_depth=16384, act_depth=256, bias_depth=128,
                   max_layers=4)

# The ECP5-85F boards (ULX3S, OrangeCrab): the paper's number formats on 32 PEs, memories sized
# for LeNet-300-100 (per PE ~700 entries with padding, 1187 column pointers, 25 input slots, 15
# bias rows) and anything of similar size. Two entries per 16-bit word, not the paper's eight
# per 64-bit word: the 64 block-RAM outputs per PE and their lane multiplexer were the place
# the ECP5 router could not clear (docs/fpga.md), and the host bus shrinks to 16 bits with them.
_ECP5 = _EIE.replace(n_pe=32, entries_per_word=2, ptr_depth=2048, spmat_depth=2048,
                     act_depth=64, bias_depth=64, max_layers=4, host_bits=8)

# EIE's 256-PE scaling point (the paper: 3.25x the 64-PE speed over its nine layers): the
# `eie` preset with four times the PEs, each holding a quarter of the rows, so its sparse
# matrix, act files and biases a quarter (plus slack for the uneven spread); one column
# pointer per input per PE, as at 64 PEs.
_EIE_256 = _EIE.replace(n_pe=256, spmat_depth=4096, act_depth=128, bias_depth=128)

PRESETS: dict[str, EIEConfig] = {
    "eie": _EIE,
    "eie_256": _EIE_256,
    "ice40": _ICE40,
    # What fits the UP5K today with LeNet-300-100 on chip: one PE (the sparse matrix in one
    # SPRAM, 784 inputs and 410 bias rows in block RAM); the iCEBreaker's default build.
    "ice40_1pe": _ICE40.replace(n_pe=1, act_depth=1024, bias_depth=512),
    "ecp5": _ECP5,
    # What routes and meets timing on the ECP5-85F today: 16 PEs of `ecp5`; the ULX3S and
    # OrangeCrab default build (docs/fpga.md).
    "ecp5_16pe": _ECP5.replace(n_pe=16),
    # Small and fast, for unit tests and the Amaranth simulator.
    "tiny": _ICE40.replace(entries_per_word=4, ptr_depth=256, spmat_depth=256, act_depth=32,
                           bias_depth=64),
}


def get_config(name_or_path: str | Path) -> EIEConfig:
    """A preset by name, or a config read from a JSON file."""
    name = str(name_or_path)
    if name in PRESETS:
        return PRESETS[name]
    path = Path(name)
    if path.suffix == ".json" or path.exists():
        return load_config(path)
    raise ConfigError(f"unknown config {name!r}: use a preset ({', '.join(PRESETS)}) or a JSON file")


def load_config(path: str | Path) -> EIEConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read config file {str(path)!r}: {e.strerror}") from None
    return EIEConfig.from_json(text)
