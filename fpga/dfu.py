"""DFU suffix for bitstreams flashed by a USB DFU bootloader (the OrangeCrab's), in Python.

`add_dfu_suffix` writes what dfu-util's ``dfu-suffix -v VID -p PID -a`` writes, byte for byte,
so a build needs no dfu-util. The build adds the file for boards with `Board.dfu_ids`.
"""

from __future__ import annotations

import zlib

__all__ = ["add_dfu_suffix"]


def add_dfu_suffix(data: bytes, vendor: int = 0x1209, product: int = 0x5AF0,
                   device: int = 0xFFFF) -> bytes:
    """``data`` followed by a DFU 1.0 suffix, as ``dfu-suffix -v 1209 -p 5af0 -a`` writes it.

    The suffix is bcdDevice, idProduct, idVendor, bcdDFU (0x0100), "UFD", bLength (16),
    then dwCRC: the CRC-32 of everything before it, without the final inversion.
    """
    suffix = (device.to_bytes(2, "little") + product.to_bytes(2, "little")
              + vendor.to_bytes(2, "little") + (0x0100).to_bytes(2, "little") + b"UFD" + bytes([16]))
    crc = zlib.crc32(data + suffix) ^ 0xFFFFFFFF
    return data + suffix + crc.to_bytes(4, "little")
