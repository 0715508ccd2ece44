"""The host driver's byte transport over a real serial port (pyserial), for a board.

`SerialTransport` gives `host.driver.EIEDriver` the same two coroutines every transport has
(``send(bytes)``, ``recv(n) -> bytes``) over a pyserial port: a USB-serial device
(``/dev/ttyUSB1`` for the iCEBreaker's FTDI channel B, ``/dev/ttyUSB0`` for the ULX3S), a
pty, or any pyserial URL (``socket://host:port``, ``loop://``). The blocking pyserial calls
run in a worker thread so the event loop stays free.

`recv` returns exactly ``n`` bytes or raises `SerialTimeout` when the line goes quiet for
``timeout`` seconds (a lost byte must not hang the host). `resync` recovers from a lost byte
the way docs/protocol.md says: 65538 zero bytes finish any command body the device is still
reading and then count as NOPs; an INFO command then re-aligns the response stream.

Example::

    with SerialTransport("/dev/ttyUSB1", 1_000_000) as port:
        drv = EIEDriver(port, cfg)
        asyncio.run(drv.check_info())
"""

from __future__ import annotations

import asyncio
import time

from eie.errors import EIEError

__all__ = ["SerialTransport", "SerialTimeout", "open_serial"]

RESYNC_ZEROS = 65538           # docs/protocol.md, "Resynchronising"


class SerialTimeout(EIEError):
    """The device sent fewer bytes than the host waited for."""


def open_serial(port: str, baud: int, *, read_timeout: float = 0.05):
    """A pyserial port (URLs accepted), 8N1, no flow control."""
    try:
        import serial
    except ImportError:  # pragma: no cover - pyserial is a dependency
        raise EIEError("pyserial is not installed (pip install pyserial)") from None
    try:
        return serial.serial_for_url(port, baudrate=baud, bytesize=8, parity="N", stopbits=1,
                                     timeout=read_timeout, write_timeout=None,
                                     xonxoff=False, rtscts=False, dsrdtr=False)
    except (serial.SerialException, ValueError) as e:
        raise EIEError(f"cannot open serial port {port!r} at {baud} baud: {e}") from None


class SerialTransport:
    """Byte transport over a serial port.

    Parameters
    ----------
    port : str or serial.Serial
        A device path or pyserial URL, or an already open port.
    baud : int
        Baud rate (the board's: see docs/fpga.md). Ignored for an open port.
    timeout : float
        Seconds `recv` waits without a byte before raising `SerialTimeout`.
    """

    def __init__(self, port, baud: int = 1_000_000, *, timeout: float = 5.0):
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if isinstance(port, str):
            if not isinstance(baud, int) or isinstance(baud, bool) or baud <= 0:
                raise ValueError(f"baud must be a positive integer, not {baud!r}")
            self.port = open_serial(port, baud)
        else:
            self.port = port
        self.timeout = float(timeout)
        self._buf = bytearray()
        self.bytes_sent = 0
        self.bytes_received = 0

    # ---- the transport API -------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        data = bytes(data)
        if data:
            await asyncio.to_thread(self._write, data)

    async def recv(self, n: int) -> bytes:
        if n < 0:
            raise ValueError(f"cannot receive {n} bytes")
        if len(self._buf) < n:
            await asyncio.to_thread(self._fill, n)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    write, read = send, recv

    # ---- recovery ------------------------------------------------------------------------

    async def resync(self) -> None:
        """Bring host and device back in step after a lost byte (docs/protocol.md)."""
        from eie import contract
        from host import protocol as proto

        await self.send(bytes(RESYNC_ZEROS))
        await self.send(proto.cmd_info())
        # Discard everything up to and including INFO's response header and body.
        info_bytes = contract.reply_bytes(None, proto.Op.INFO)
        header = proto.response_bytes(proto.Status.OK, proto.Op.INFO, bytes(info_bytes))[:proto.RSP_HEADER_BYTES]
        window = b""
        while window != header:
            window = (window + await self.recv(1))[-len(header):]
        await self.recv(info_bytes)

    def discard_input(self) -> bytes:
        """Drop (and return) whatever has arrived but not been read."""
        waiting = self.port.in_waiting
        data = bytes(self._buf) + (self.port.read(waiting) if waiting else b"")
        self._buf.clear()
        return data

    # ---- life cycle --------------------------------------------------------------------

    def close(self) -> None:
        self.port.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- blocking side (worker thread) -----------------------------------------------------

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = self.port.write(view)
            view = view[n or 0:]
        self.port.flush()
        self.bytes_sent += len(data)

    def _fill(self, n: int) -> None:
        deadline = time.monotonic() + self.timeout
        while len(self._buf) < n:
            chunk = self.port.read(max(1, min(n - len(self._buf), 4096)))
            if chunk:
                self._buf += chunk
                self.bytes_received += len(chunk)
                deadline = time.monotonic() + self.timeout      # progress resets the clock
            elif time.monotonic() > deadline:
                raise SerialTimeout(f"the device sent {len(self._buf)} of {n} bytes, then nothing for "
                                    f"{self.timeout:g} s (sent {self.bytes_sent}, received "
                                    f"{self.bytes_received} in all)")
