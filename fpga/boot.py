"""Boot replayer: a model baked into the bitstream, loaded through the host protocol at reset.

`eie build --bake IMAGES` does not need the hardware's memories to take initial contents:
the board top gets a ROM holding exactly the command frames the host driver would send to
load the model (WRITE_MEM of every pointer, sparse-matrix, bias, codebook and layer-table
word), and `BootReplayer` plays them into the design's ``host_rx`` after reset, keeping
to the protocol's request/response discipline: it sends one command, reads the whole
response (and flags any status other than OK), then sends the next. When the ROM is done
the board top hands both streams to the UART, and the host only sends inputs and reads
outputs. The model lands in the memories through the same path a host load takes, so a
baked bitstream and a loaded one are the same hardware in the same state. The frame
format is `eie.contract`'s: the ROM is checked with `host.protocol.split_frames`, and the
replayer reads the header fields it needs (the lengths, the status) with layouts built from
`eie.contract.CMD_HEADER` and `RSP_HEADER`.

At three cycles per byte, LeNet-300-100 for 4 PEs (35 KB of commands) loads in about 0.1 M
cycles, for 32 PEs (100 KB: every PE has its own 1187 column pointers) in about 0.3 M cycles,
well under 10 ms at the boards' clocks.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring, stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from eie.bits import field_offsets
from eie.contract import CMD_HEADER, RSP_HEADER, Op, Status, header_bytes
from host.protocol import ProtocolError, split_frames
from hw.layouts import struct_from_fields

from .params import CheckedArgs

__all__ = ["BootReplayer", "check_command_stream"]

CMD_HEADER_BYTES = header_bytes(CMD_HEADER)
RSP_HEADER_BYTES = header_bytes(RSP_HEADER)
# A NOP is a lone opcode byte: the replayer tells it from a frame by the header's first byte.
assert field_offsets(CMD_HEADER)["op"] == (0, 8), "fpga/boot.py reads the opcode as the first byte"


def check_command_stream(data: bytes) -> int:
    """Check that ``data`` is whole command frames (`host.protocol.split_frames`); return how
    many of them get a response (all but the NOPs). ValueError when a frame is cut short."""
    try:
        frames = split_frames(data)
    except ProtocolError as e:
        raise ValueError(str(e)) from None
    return sum(1 for f in frames if f[0] != Op.NOP)


def _header(fields, sh, last_byte):
    """The header ``fields`` whose bytes but the last are in the shift register ``sh``."""
    return struct_from_fields(fields)(Cat(sh[8:], last_byte))


class BootReplayer(CheckedArgs, wiring.Component):
    """Plays a ROM of command frames into the design after reset.

    Parameters
    ----------
    commands : bytes
        Whole command frames (checked by `check_command_stream`).

    Attributes
    ----------
    cmd : Out(stream.Signature(8))
        To the design's ``host_rx``.
    rsp : In(stream.Signature(8))
        From the design's ``host_tx``: responses are read and dropped.
    done : Out(1)
        Every command sent and answered.
    error : Out(1)
        Sticky: some response had a status other than OK.
    """

    cmd: Out(stream.Signature(8))
    rsp: In(stream.Signature(8))
    done: Out(1)
    error: Out(1)

    @staticmethod
    def check(commands: bytes):
        if not isinstance(commands, (bytes, bytearray)) or not commands:
            raise ValueError(f"commands must be non-empty bytes, not {type(commands).__name__} "
                             f"of length {len(commands) if hasattr(commands, '__len__') else '?'}")
        check_command_stream(commands)

    def __init__(self, commands: bytes):
        self._answered = check_command_stream(commands)
        self._commands = bytes(commands)
        super().__init__()

    @property
    def n_bytes(self) -> int:
        return len(self._commands)

    @property
    def n_commands(self) -> int:
        """Commands that get a response (NOPs don't)."""
        return self._answered

    @staticmethod
    def _send_byte(m, byte, cmd_sh, cmd_pos, left):
        """Follow the frame a sent byte belongs to; after its last byte, read the response."""
        with m.If(cmd_pos < CMD_HEADER_BYTES):
            m.d.sync += cmd_sh.eq(Cat(cmd_sh[8:], byte))
            with m.If((cmd_pos == 0) & (byte == Op.NOP)):
                pass                                    # a NOP is a frame of its own, unanswered
            with m.Elif(cmd_pos == CMD_HEADER_BYTES - 1):
                hdr = _header(CMD_HEADER, cmd_sh, byte)
                m.d.sync += [left.eq(hdr.len), cmd_pos.eq(CMD_HEADER_BYTES)]
                with m.If(hdr.len == 0):
                    m.d.sync += cmd_pos.eq(0)
                    m.next = "RESPONSE"
            with m.Else():
                m.d.sync += cmd_pos.eq(cmd_pos + 1)
        with m.Else():
            m.d.sync += left.eq(left - 1)
            with m.If(left == 1):
                m.d.sync += cmd_pos.eq(0)
                m.next = "RESPONSE"

    def elaborate(self, platform):
        m = Module()
        n = len(self._commands)
        m.submodules.rom = rom = Memory(shape=8, depth=n, init=list(self._commands))
        rd = rom.read_port()

        addr = Signal(range(n + 1))
        # The headers go through shift registers, a byte at a time; at a header's last byte
        # its fields are read from the register and that byte (`_header`).
        cmd_sh = Signal(8 * CMD_HEADER_BYTES)
        cmd_pos = Signal(range(CMD_HEADER_BYTES + 1))   # header byte to send; CMD_HEADER_BYTES: body
        rsp_sh = Signal(8 * RSP_HEADER_BYTES)
        rsp_pos = Signal(range(RSP_HEADER_BYTES))
        # Body bytes still to send / response body bytes to skip.
        left = Signal(max(dict(CMD_HEADER)["len"], dict(RSP_HEADER)["len"]))

        # The ROM's data goes through a register before anything looks at it: a large ROM
        # is dozens of block RAMs whose outputs meet in a wide multiplexer (58 MHz on the
        # ECP5 for LeNet's 100 KB without this register).
        byte_q = Signal(8)
        m.d.comb += [rd.addr.eq(addr), rd.en.eq(0), self.cmd.payload.eq(byte_q)]

        with m.FSM():
            with m.State("FETCH"):
                with m.If(addr == n):
                    m.next = "DONE"
                with m.Else():
                    m.d.comb += rd.en.eq(1)
                    m.next = "LATCH"
            with m.State("LATCH"):
                m.d.sync += byte_q.eq(rd.data)
                m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += self.cmd.valid.eq(1)
                with m.If(self.cmd.ready):
                    m.d.sync += addr.eq(addr + 1)
                    m.next = "FETCH"
                    self._send_byte(m, self.cmd.payload, cmd_sh, cmd_pos, left)
            with m.State("RESPONSE"):
                m.d.comb += self.rsp.ready.eq(1)
                with m.If(self.rsp.valid):
                    byte = self.rsp.payload
                    m.d.sync += [rsp_sh.eq(Cat(rsp_sh[8:], byte)), rsp_pos.eq(rsp_pos + 1)]
                    with m.If(rsp_pos == RSP_HEADER_BYTES - 1):
                        hdr = _header(RSP_HEADER, rsp_sh, byte)
                        m.d.sync += [rsp_pos.eq(0), left.eq(hdr.len)]
                        with m.If(hdr.status != Status.OK):
                            m.d.sync += self.error.eq(1)
                        m.next = "SKIP"
                        with m.If(hdr.len == 0):
                            m.next = "FETCH"
            with m.State("SKIP"):
                m.d.comb += self.rsp.ready.eq(1)
                with m.If(self.rsp.valid):
                    m.d.sync += left.eq(left - 1)
                    with m.If(left == 1):
                        m.next = "FETCH"
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
        return m
