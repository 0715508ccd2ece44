"""Boot replayer: a model baked into the bitstream, loaded through the host protocol at reset.

`eie build --bake IMAGES` does not need the hardware's memories to take initial contents:
the board top gets a ROM holding exactly the command frames the host driver would send to
load the model (WRITE_MEM of every pointer, sparse-matrix, bias, codebook and layer-table
word), and `BootReplayer` plays them into the design's ``host_rx`` after reset, keeping
to the protocol's request/response discipline: it sends one command, reads the whole
response (and flags any status other than OK), then sends the next. When the ROM is done
the board top hands both streams to the UART, and the host only sends inputs and reads
outputs. The model lands in the memories through the same path a host load takes, so a
baked bitstream and a loaded one are the same hardware in the same state.

At three cycles per byte, LeNet-300-100 for 4 PEs (35 KB of commands) loads in about 0.1 M
cycles, for 32 PEs (100 KB: every PE has its own 1187 column pointers) in about 0.3 M cycles,
well under 10 ms at the boards' clocks.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring, stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .params import CheckedArgs

__all__ = ["BootReplayer", "check_command_stream"]


def check_command_stream(data: bytes) -> int:
    """Check that ``data`` is a whole number of command frames; return how many answer.

    A frame is ``op u8 | len u16 | body``, or the single byte 0x00 (NOP, no response).
    """
    data = bytes(data)
    i, answered = 0, 0
    while i < len(data):
        if data[i] == 0:
            i += 1
            continue
        if i + 3 > len(data):
            raise ValueError(f"command stream ends inside a frame header at byte {i}")
        length = int.from_bytes(data[i + 1:i + 3], "little")
        if i + 3 + length > len(data):
            raise ValueError(f"command stream ends inside the body of the frame at byte {i} "
                             f"(op 0x{data[i]:02x}, len {length})")
        i += 3 + length
        answered += 1
    return answered


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

    def elaborate(self, platform):
        m = Module()
        n = len(self._commands)
        m.submodules.rom = rom = Memory(shape=8, depth=n, init=list(self._commands))
        rd = rom.read_port()

        addr = Signal(range(n + 1))
        pos = Signal(2)                 # byte of the frame header: 0 op, 1 len lo, 2 len hi, 3 body
        left = Signal(16)               # body bytes still to send / response bytes to skip
        rsp_pos = Signal(3)

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
                    byte = self.cmd.payload
                    m.d.sync += addr.eq(addr + 1)
                    m.next = "FETCH"
                    with m.Switch(pos):
                        with m.Case(0):
                            with m.If(byte != 0):           # a NOP is a frame of its own
                                m.d.sync += pos.eq(1)
                        with m.Case(1):
                            m.d.sync += [left[:8].eq(byte), pos.eq(2)]
                        with m.Case(2):
                            m.d.sync += left[8:].eq(byte)
                            with m.If((left[:8] == 0) & (byte == 0)):
                                m.d.sync += [pos.eq(0), rsp_pos.eq(0)]
                                m.next = "RESPONSE"
                            with m.Else():
                                m.d.sync += pos.eq(3)
                        with m.Case(3):
                            m.d.sync += left.eq(left - 1)
                            with m.If(left == 1):
                                m.d.sync += [pos.eq(0), rsp_pos.eq(0)]
                                m.next = "RESPONSE"
            with m.State("RESPONSE"):
                # status, op, len lo, len hi; then len bytes of body to skip.
                m.d.comb += self.rsp.ready.eq(1)
                with m.If(self.rsp.valid):
                    m.d.sync += rsp_pos.eq(rsp_pos + 1)
                    with m.Switch(rsp_pos):
                        with m.Case(0):
                            with m.If(self.rsp.payload != 0):
                                m.d.sync += self.error.eq(1)
                        with m.Case(2):
                            m.d.sync += left[:8].eq(self.rsp.payload)
                        with m.Case(3):
                            m.d.sync += left[8:].eq(self.rsp.payload)
                            with m.If((left[:8] == 0) & (self.rsp.payload == 0)):
                                m.next = "FETCH"
                            with m.Else():
                                m.next = "SKIP"
            with m.State("SKIP"):
                m.d.comb += self.rsp.ready.eq(1)
                with m.If(self.rsp.valid):
                    m.d.sync += left.eq(left - 1)
                    with m.If(left == 1):
                        m.next = "FETCH"
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
        return m
