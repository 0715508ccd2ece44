"""What the fuzz tests compare: reply bytes against the model's, memories against its shadow.

Shared by the stream fuzz (`sim.tb.test_fuzz`) and the UART fuzz of the board core
(`fpga.tb.test_fuzz_uart`).
"""

from __future__ import annotations

from eie.contract import Mem
from sim.tb.backdoor import memory_handles

__all__ = ["first_difference", "backdoor_diffs"]


def first_difference(expect: list, got: bytes) -> int | None:
    """First byte where ``got`` differs from ``expect`` (None entries match anything)."""
    for i, (e, g) in enumerate(zip(expect, got)):
        if e is not None and e != g:
            return i
    return None if len(got) == len(expect) else min(len(got), len(expect))


def backdoor_diffs(dut, model) -> list[str]:
    """Every memory copy in the design against the model's shadow (known words only)."""
    cfg = model.cfg
    h = memory_handles(dut, cfg.n_pe)
    out = []

    def cmp(name, handle, words):
        for i, w in enumerate(words):
            if w is not None:
                got = int(handle[i].value)
                if got != w:
                    out.append(f"{name}[{i}] = {got:#x}, model {w:#x}")
                    return

    for k in range(cfg.n_pe):
        ptr = model.mems[Mem.PTR][k]
        cmp(f"pe{k}.ptr_even", h["ptr_even"][k], ptr[0::2])
        cmp(f"pe{k}.ptr_odd", h["ptr_odd"][k], ptr[1::2])
        cmp(f"pe{k}.spmat", h["spmat"][k], model.mems[Mem.SPMAT][k])
        cmp(f"pe{k}.bias", h["bias"][k], model.mems[Mem.BIAS][k])
        cmp(f"pe{k}.codebook", h["codebook"][k], model.mems[Mem.CODEBOOK][0])
        for f in (0, 1):
            cmp(f"pe{k}.act.act{f}", h[f"act{f}"][k], model.mems[Mem.ACT0 + f][k])
    cmp("ccu.layers", h["layers"], model.mems[Mem.LAYERS][0])
    return out
