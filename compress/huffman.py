"""Huffman coding (Deep Compression, step 3): a real encoder and decoder.

`HuffmanCode.from_symbols` builds a canonical Huffman code from symbol counts (ties
broken by symbol value, so the code is deterministic). A one-symbol alphabet gets the
one-bit code ``"0"``; an empty stream gives an empty code and encodes to ``""``.

Bit strings are Python ``str`` of ``'0'``/``'1'`` (`pack_bits` turns them into bytes).
The code table is stored canonically: one code length per symbol of the alphabet
``0 .. alphabet_size-1`` in a fixed-width field, behind a one-byte field width.
`table_bits` counts exactly that, and `HuffmanCode.from_table` rebuilds the code
from it, so the stored size in the report is a size something could decode.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass

import numpy as np

from eie.errors import EIEError

__all__ = ["HuffmanError", "HuffmanCode", "huffman_lengths", "pack_bits", "unpack_bits", "encode", "decode"]

# Width of the field that says how wide each stored code length is.
LENGTH_FIELD_HEADER_BITS = 8


class HuffmanError(EIEError, ValueError):
    """A symbol outside the code, or a bit string that is not a valid code sequence."""


def huffman_lengths(counts: dict[int, int]) -> dict[int, int]:
    """Code length of every symbol with a positive count (Huffman's algorithm)."""
    live = {int(s): int(c) for s, c in counts.items() if c > 0}
    if not live:
        return {}
    if len(live) == 1:
        return {next(iter(live)): 1}
    # Heap items: (count, tie-breaker, symbols in this subtree). Depth grows by one per merge.
    heap = [(c, s, [s]) for s, c in sorted(live.items())]
    heapq.heapify(heap)
    depth = dict.fromkeys(live, 0)
    order = len(heap)
    while len(heap) > 1:
        c1, _, s1 = heapq.heappop(heap)
        c2, _, s2 = heapq.heappop(heap)
        for s in s1 + s2:
            depth[s] += 1
        heapq.heappush(heap, (c1 + c2, order, s1 + s2))
        order += 1
    return depth


@dataclass(frozen=True)
class HuffmanCode:
    """A canonical prefix code: ``codes[symbol]`` is its bit string."""

    lengths: dict[int, int]

    @classmethod
    def from_symbols(cls, symbols) -> "HuffmanCode":
        symbols = np.asarray(symbols).ravel()
        values, counts = np.unique(symbols, return_counts=True)
        return cls(huffman_lengths(dict(zip(values.tolist(), counts.tolist()))))

    @classmethod
    def from_counts(cls, counts: dict[int, int]) -> "HuffmanCode":
        return cls(huffman_lengths(counts))

    @property
    def codes(self) -> dict[int, str]:
        """Canonical codes: shorter first, then by symbol; consecutive binary numbers."""
        out, code, prev_len = {}, 0, 0
        for sym, length in sorted(self.lengths.items(), key=lambda kv: (kv[1], kv[0])):
            code <<= (length - prev_len)
            out[sym] = format(code, f"0{length}b")
            code += 1
            prev_len = length
        return out

    def encoded_bits(self, symbols) -> int:
        """Bits of the encoded stream, without building it."""
        symbols = np.asarray(symbols).ravel()
        if symbols.size == 0:
            return 0
        values, counts = np.unique(symbols, return_counts=True)
        try:
            return int(sum(self.lengths[int(v)] * int(c) for v, c in zip(values, counts)))
        except KeyError as e:
            raise HuffmanError(f"symbol {e.args[0]} is not in the code") from None

    def encode(self, symbols) -> str:
        codes = self.codes
        try:
            return "".join(codes[int(s)] for s in np.asarray(symbols).ravel())
        except KeyError as e:
            raise HuffmanError(f"symbol {e.args[0]} is not in the code") from None

    def decode(self, bits: str) -> list[int]:
        lookup = {c: s for s, c in self.codes.items()}
        longest = max(self.lengths.values(), default=0)
        out, cur = [], ""
        for b in bits:
            if b not in "01":
                raise HuffmanError(f"bit strings hold only '0' and '1', not {b!r}")
            cur += b
            sym = lookup.get(cur)
            if sym is not None:
                out.append(sym)
                cur = ""
            elif len(cur) >= longest:
                raise HuffmanError(f"{cur!r} is not a code of this table")
        if cur:
            raise HuffmanError(f"the bit string ends inside a code ({cur!r})")
        return out

    # ---- the stored table ------------------------------------------------------------------

    def table_bits(self, alphabet_size: int) -> int:
        """Bits of the stored table: a field-width byte, then one length per alphabet symbol."""
        return LENGTH_FIELD_HEADER_BITS + alphabet_size * self._length_width()

    def _length_width(self) -> int:
        return max(1, max(self.lengths.values(), default=0).bit_length())

    def to_table(self, alphabet_size: int) -> str:
        """The stored table as a bit string (see `table_bits`)."""
        if self.lengths and max(self.lengths) >= alphabet_size:
            raise HuffmanError(f"symbol {max(self.lengths)} is outside the alphabet 0..{alphabet_size - 1}")
        width = self._length_width()
        return format(width, f"0{LENGTH_FIELD_HEADER_BITS}b") + "".join(
            format(self.lengths.get(s, 0), f"0{width}b") for s in range(alphabet_size))

    @classmethod
    def from_table(cls, table: str, alphabet_size: int) -> "HuffmanCode":
        width = int(table[:LENGTH_FIELD_HEADER_BITS], 2)
        body = table[LENGTH_FIELD_HEADER_BITS:]
        if width < 1 or len(body) != width * alphabet_size:
            raise HuffmanError("a Huffman table of the wrong size")
        lengths = {s: int(body[s * width:(s + 1) * width], 2) for s in range(alphabet_size)}
        return cls({s: n for s, n in lengths.items() if n > 0})


def encode(symbols) -> tuple[HuffmanCode, str]:
    """Build the code for ``symbols`` and encode them."""
    code = HuffmanCode.from_symbols(symbols)
    return code, code.encode(symbols)


def decode(code: HuffmanCode, bits: str) -> list[int]:
    return code.decode(bits)


def pack_bits(bits: str) -> bytes:
    """'0'/'1' string to bytes, MSB first, zero-padded to a whole byte."""
    if not bits:
        return b""
    padded = bits + "0" * (-len(bits) % 8)
    return int(padded, 2).to_bytes(len(padded) // 8, "big")


def unpack_bits(data: bytes, n_bits: int) -> str:
    if n_bits == 0:
        return ""
    return format(int.from_bytes(data, "big"), f"0{len(data) * 8}b")[:n_bits]


def entropy_bits(symbols) -> float:
    """Shannon bound of the stream in bits (for comparison in the report)."""
    counts = np.array(list(Counter(np.asarray(symbols).ravel().tolist()).values()), np.float64)
    if counts.size == 0:
        return 0.0
    p = counts / counts.sum()
    return float(-(counts * np.log2(p)).sum())
