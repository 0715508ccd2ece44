"""Bits and bytes: the one set of helpers that pack integers into words, fields and bytes.

Everything that turns numbers into bits goes through here: the image files (`eie.images`),
the host protocol (`host.protocol`), the boot ROM, the backdoor loader and the tests. Words
travel little-endian in ``nbytes(width) = ceil(width / 8)`` bytes; signed values are stored
as two's complement; field lists are ``[(name, width), ...]``, least significant field
first (the style of `eie.format.entry_fields`), and the Amaranth layouts of ``hw/`` are
built from the same lists (`hw.layouts.struct_from_fields`).

Words of up to 63 bits are int64 arrays; wider words (a 72-bit sparse-matrix word) are
object arrays of Python ints.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "nbytes", "to_signed", "to_unsigned", "fields_width", "field_offsets", "pack_fields",
    "unpack_fields", "words_to_bytes", "bytes_to_words", "entries_to_words", "words_to_entries",
    "bytes_to_hex",
]


def nbytes(width: int) -> int:
    """Bytes that carry one ``width``-bit word."""
    return (int(width) + 7) // 8


def to_unsigned(values, width: int) -> np.ndarray:
    """Signed integers to their ``width``-bit two's complement encoding (int64)."""
    return np.asarray(values, dtype=np.int64) & ((1 << width) - 1)


def to_signed(values, width: int) -> np.ndarray:
    """``width``-bit two's complement encodings back to signed integers (int64)."""
    values = np.asarray(values, dtype=np.int64)
    return np.where(values >= (1 << (width - 1)), values - (1 << width), values)


# ---- field lists -----------------------------------------------------------------------------

def fields_width(fields: list[tuple[str, int]]) -> int:
    """Total bits of a field list."""
    return sum(width for _, width in fields)


def field_offsets(fields: list[tuple[str, int]]) -> dict[str, tuple[int, int]]:
    """name -> (offset, width), LSB first."""
    out, offset = {}, 0
    for name, width in fields:
        out[name] = (offset, width)
        offset += width
    return out


def pack_fields(values: dict, fields: list[tuple[str, int]], *, what: str = "field") -> np.ndarray:
    """Pack named unsigned fields into words (object array of Python ints, any width).

    Every field must be given except those named ``reserved`` (zero). Raises ValueError
    naming the field when a value does not fit its width.
    """
    words = np.zeros(np.shape(next(iter(values.values()))) if values else (), dtype=object)
    for name, (offset, width) in field_offsets(fields).items():
        if name == "reserved":
            continue
        if name not in values:
            raise KeyError(f"{what} {name} is missing")
        v = np.asarray(values[name], dtype=object)
        if np.any((v < 0) | (v >= (1 << width))):
            raise ValueError(f"{what} {name} does not fit {width} bits")
        words = words + v * (1 << offset)
    return words


def unpack_fields(words, fields: list[tuple[str, int]]) -> dict[str, np.ndarray]:
    """Words (ints, int64 or object arrays) to ``{name: int64 array}``."""
    words = np.asarray(words, dtype=object)
    return {name: np.asarray((words // (1 << off)) % (1 << w), dtype=np.int64)
            for name, (off, w) in field_offsets(fields).items()}


# ---- words and bytes -------------------------------------------------------------------------

def words_to_bytes(words, width: int) -> bytes:
    """Unsigned words to little-endian bytes, ``nbytes(width)`` each.

    Raises ValueError when a word is negative or does not fit ``width`` bits (nothing is
    truncated silently).
    """
    nb = nbytes(width)
    words = np.asarray(words)
    if words.size == 0:
        return b""
    words = words.reshape(-1)
    if words.dtype != object and width <= 63:
        w = words.astype(np.int64)
        if w.min() < 0 or w.max() >= (1 << width):
            raise ValueError(f"a word does not fit {width} unsigned bits")
        return w.astype("<u8").view(np.uint8).reshape(-1, 8)[:, :nb].tobytes()
    out = bytearray()
    for w in words:
        w = int(w)
        if not 0 <= w < (1 << width):
            raise ValueError(f"a word does not fit {width} unsigned bits")
        out += w.to_bytes(nb, "little")
    return bytes(out)


def bytes_to_words(raw, width: int) -> np.ndarray:
    """Little-endian bytes (bytes, or a uint8 array) to unsigned words.

    int64 when ``width <= 63``, else an object array of Python ints. Raises ValueError
    when the bytes are not a whole number of words.
    """
    nb = nbytes(width)
    arr = np.frombuffer(bytes(raw), dtype=np.uint8) if not isinstance(raw, np.ndarray) \
        else np.asarray(raw, np.uint8).reshape(-1)
    if arr.size % nb:
        raise ValueError(f"{arr.size} bytes are not a whole number of {nb}-byte words")
    arr = arr.reshape(-1, nb)
    if width <= 63:
        padded = np.zeros((arr.shape[0], 8), dtype=np.uint8)
        padded[:, :nb] = arr
        return padded.view("<u8").reshape(-1).astype(np.int64)
    return np.array([int.from_bytes(bytes(r), "little") for r in arr], dtype=object)


# ---- entries in words ------------------------------------------------------------------------

def entries_to_words(codes, entry_bits: int) -> np.ndarray:
    """(words, entries_per_word) entry codes to packed words, entry ``e`` at bits
    ``[e * entry_bits, (e + 1) * entry_bits)`` (int64, or Python ints past 63 bits)."""
    codes = np.asarray(codes, dtype=np.int64)
    per = codes.shape[1] if codes.ndim == 2 else 1
    codes = codes.reshape(-1, per)
    if per * entry_bits <= 63:
        shifts = np.arange(per, dtype=np.int64) * entry_bits
        return (codes << shifts).sum(axis=1) if len(codes) else np.zeros(0, np.int64)
    return np.array([sum(int(c) << (i * entry_bits) for i, c in enumerate(row)) for row in codes],
                    dtype=object)


def words_to_entries(words, entry_bits: int, entries_per_word: int) -> np.ndarray:
    """Packed words to (words, entries_per_word) entry codes (int64)."""
    words = np.asarray(words).reshape(-1)
    mask = (1 << entry_bits) - 1
    if words.dtype != object and entries_per_word * entry_bits <= 63:
        shifts = np.arange(entries_per_word, dtype=np.int64) * entry_bits
        return (words.astype(np.int64)[:, None] >> shifts) & mask
    return np.array([[(int(w) >> (i * entry_bits)) & mask for i in range(entries_per_word)]
                     for w in words], dtype=np.int64).reshape(-1, entries_per_word)


def bytes_to_hex(raw: bytes, width: int) -> str:
    """Words (little-endian bytes) as ``$readmemh`` text: one word per line, most significant
    digit first, exactly ``ceil(width / 4)`` digits."""
    nb = nbytes(width)
    digits = (width + 3) // 4
    arr = np.frombuffer(bytes(raw), dtype=np.uint8).reshape(-1, nb)
    if arr.shape[0] == 0:
        return ""
    text = arr[:, ::-1].tobytes().hex()
    lines = np.frombuffer(text.encode(), dtype=f"S{2 * nb}")
    cut = 2 * nb - digits
    return "\n".join(s[cut:].decode() for s in lines) + "\n"
