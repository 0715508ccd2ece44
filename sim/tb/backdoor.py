"""Backdoor image loading: write an image folder straight into the top's named memories.

The fast path for big images (the protocol moves one byte per cycle; this writes one word
per VPI call). The memories are the ones hw/ names for this purpose (docs/hw.md):

========================  =========================================================
``pe<k>.ptr_read.ptr_even``  pointer ``2i`` at address ``i`` (even bank)
``pe<k>.ptr_read.ptr_odd``   pointer ``2i+1`` at address ``i`` (odd bank)
``pe<k>.spmat_read.spmat``   sparse-matrix words, as in the images
``pe<k>.arith.bias``         biases (two's complement)
``pe<k>.arith.codebook``     every PE's copy of the global codebook
``ccu.layers``               the layer table
========================  =========================================================

Words are written exactly as the image files hold them (`eie.images`), so a backdoor load
and a protocol load leave the same memory contents; `read_back` lets a test prove it.
Only the used words are written; the design must not depend on the rest (it is zero after
a fresh start, or random with ``+verilator+rand+reset+2``).
"""

from __future__ import annotations

import gc

from eie.images import Images

__all__ = ["PE_MEMORIES", "TOP_MEMORIES", "CHECKED_PE_MEMORIES", "load_images", "memory_handles", "read_back"]

# The memories written and read here, by their paths below ``pe<k>`` and below the top: the
# Verilator builds make exactly these (and the ports) public (`sim.runner.design_control`).
PE_MEMORIES = {"ptr_even": "ptr_read.ptr_even", "ptr_odd": "ptr_read.ptr_odd",
               "spmat": "spmat_read.spmat", "bias": "arith.bias", "codebook": "arith.codebook"}
TOP_MEMORIES = {"layers": "ccu.layers"}
# Read only, by the protocol fuzzer's final comparison (`sim.tb.fuzz_checks`): each PE's two
# activation files. Public in the builds too.
CHECKED_PE_MEMORIES = {"act0": "act.act0", "act1": "act.act1"}


def _child(handle, path: str):
    for part in path.split("."):
        handle = getattr(handle, part)
    return handle


def memory_handles(dut, n_pe: int) -> dict:
    """cocotb handles of every backdoor memory: ``{"ptr_even": [per PE], ..., "layers": h}``."""
    pe = [_child(dut, f"pe{k}") for k in range(n_pe)]
    handles = {key: [_child(p, path) for p in pe]
               for key, path in {**PE_MEMORIES, **CHECKED_PE_MEMORIES}.items()}
    handles.update({key: _child(dut, path) for key, path in TOP_MEMORIES.items()})
    return handles


def _write(mem, words, base: int = 0):
    # Immediate: written at once, not queued for the next read-write phase (the testbench
    # waits a cycle before using the memories anyway); a few seconds on a big model. (cocotb
    # is imported here: sim.runner reads this module's names outside a simulator.)
    from cocotb.handle import Immediate

    for i, w in enumerate(words):
        mem[base + i].value = Immediate(int(w))


def load_images(dut, images: Images) -> int:
    """Write every used word of ``images`` into the design; returns the words written."""
    gc.disable()              # millions of short-lived handles and values: no collections
    try:
        return _load(dut, images)
    finally:
        gc.enable()


def _load(dut, images: Images) -> int:
    cfg = images.cfg
    h = memory_handles(dut, cfg.n_pe)
    n = 0
    codebook = [int(w) for w in images.global_memory("codebook")]
    for k in range(cfg.n_pe):
        ptr = images.pe_memory("ptr", k)
        _write(h["ptr_even"][k], ptr[0::2])
        _write(h["ptr_odd"][k], ptr[1::2])
        _write(h["spmat"][k], images.pe_memory("spmat", k))
        _write(h["bias"][k], images.pe_memory("bias", k))
        _write(h["codebook"][k], codebook)
        n += len(ptr) + len(images.pe_memory("spmat", k)) + len(images.pe_memory("bias", k)) + len(codebook)
    layers = images.global_memory("layers")
    _write(h["layers"], layers)
    return n + len(layers)


def read_back(dut, images: Images) -> list[str]:
    """Differences between the design's memories and ``images`` (empty: identical)."""
    cfg = images.cfg
    h = memory_handles(dut, cfg.n_pe)
    diffs = []

    def cmp(name, mem, words):
        for i, w in enumerate(words):
            got = int(mem[i].value)
            if got != int(w):
                diffs.append(f"{name}[{i}] = {got:#x}, image {int(w):#x}")
                return

    codebook = images.global_memory("codebook")
    for k in range(cfg.n_pe):
        ptr = images.pe_memory("ptr", k)
        cmp(f"pe{k}.ptr_even", h["ptr_even"][k], ptr[0::2])
        cmp(f"pe{k}.ptr_odd", h["ptr_odd"][k], ptr[1::2])
        cmp(f"pe{k}.spmat", h["spmat"][k], images.pe_memory("spmat", k))
        cmp(f"pe{k}.bias", h["bias"][k], images.pe_memory("bias", k))
        cmp(f"pe{k}.codebook", h["codebook"][k], codebook)
    cmp("ccu.layers", h["layers"], images.global_memory("layers"))
    return diffs
