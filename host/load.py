"""The frames that load a compressed model into the device, as a synchronous generator.

One definition of "how a model is loaded": the async driver sends these frames one by one
(`host.driver.EIEDriver.load`), and the FPGA's baked-model boot ROM holds exactly these
bytes (`fpga.boot`), so a baked bitstream and a host-loaded one end in the same state.
"""

from __future__ import annotations

from typing import Iterator

from eie import format as fmt
from eie.contract import BROADCAST, GLOBAL_MEMS, PE_IMAGE_MEMS
from eie.images import Images, Memories, program_memories

from .protocol import write_mem_frames

__all__ = ["memories_of", "load_frames", "load_bytes"]


def memories_of(source: Memories | Images | fmt.Program) -> Memories:
    """The memory contents of a `Program`, an `Images` folder or `Memories` themselves."""
    if isinstance(source, Memories):
        return source
    if isinstance(source, Images):
        return source.memories
    if isinstance(source, fmt.Program):
        return program_memories(source)
    raise TypeError(f"cannot load a {type(source).__name__}: give a Program, Images or Memories")


def load_frames(source: Memories | Images | fmt.Program) -> Iterator[bytes]:
    """WRITE_MEM frames of every used word: each PE's pointers, sparse matrix and biases,
    then the codebook and the layer table (broadcast)."""
    mems = memories_of(source)
    cfg = mems.cfg
    for k in range(cfg.n_pe):
        for mem in PE_IMAGE_MEMS:
            words = mems.pe[k][mem]
            if len(words):
                yield from write_mem_frames(cfg, mem, k, 0, words)
    for mem in GLOBAL_MEMS:
        yield from write_mem_frames(cfg, mem, BROADCAST, 0, mems.glob[mem])


def load_bytes(source: Memories | Images | fmt.Program) -> bytes:
    """`load_frames` back to back."""
    return b"".join(load_frames(source))
