"""hw.inventory lists exactly the memories the elaborated array has (names, depths, widths,
copies), for several configs; fpga.capacity's estimates stand on it."""

import os
import re
from collections import Counter

import pytest
from amaranth.back import rtlil

from eie.config import PRESETS
from hw.inventory import memories
from hw.top import EIETop

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")


def design_memories(cfg):
    text = rtlil.convert(EIETop(cfg), name="top", emit_src=False)
    found = Counter()
    module = None
    for line in text.splitlines():
        m = re.match(r"^module \\(\S+)", line)
        if m:
            module = re.sub(r"\.pe\d+", ".pe", m.group(1)).removeprefix("top").lstrip(".")
        m = re.match(r"^\s*memory width (\d+) size (\d+) \\(\S+)", line)
        if m:
            found[(f"{module}.{m.group(3)}", int(m.group(2)), int(m.group(1)))] += 1
    return found


@pytest.mark.parametrize("name, n_pe", [("tiny", None), ("tiny", 3), ("ice40_1pe", None), ("ecp5", 2)])
def test_inventory_matches_the_design(name, n_pe):
    cfg = PRESETS[name] if n_pe is None else PRESETS[name].replace(n_pe=n_pe)
    want = Counter()
    for spec in memories(cfg):
        want[(spec.name, spec.depth, spec.width)] += spec.count
    assert design_memories(cfg) == want
