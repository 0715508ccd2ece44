"""LNZD tree in Amaranth's simulator: random vectors, all-zero, one-hot, masked lanes,
for PE counts that are and are not powers of four."""

import os

import numpy as np
import pytest
from amaranth.sim import Simulator

from eie.config import PRESETS
from hw.lnzd import LNZD, LNZDNode

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")


def model(values, enable):
    hits = [k for k, (v, e) in enumerate(zip(values, enable)) if e and v != 0]
    return (1, hits[0], int(values[hits[0]])) if hits else (0, 0, 0)


@pytest.mark.parametrize("n_pe", [1, 2, 4, 5, 16, 17, 64])
def test_lnzd(n_pe):
    seed = 100 + n_pe
    print("seed", seed)
    rng = np.random.default_rng(seed)
    cfg = PRESETS["tiny"].replace(n_pe=n_pe)
    dut = LNZD(cfg)
    cases = [(np.zeros(n_pe, int), np.ones(n_pe, int))]
    for k in range(n_pe):
        onehot = np.zeros(n_pe, int)
        onehot[k] = -7 if k % 2 else 9
        cases.append((onehot, np.ones(n_pe, int)))
    for _ in range(40):
        vals = np.where(rng.random(n_pe) < rng.random(), rng.integers(-32768, 32768, n_pe), 0)
        cases.append((vals, (rng.random(n_pe) < 0.7).astype(int)))

    async def bench(ctx):
        for vals, en in cases:
            for k in range(n_pe):
                ctx.set(dut.values[k], int(vals[k]))
            ctx.set(dut.enable, int(sum(int(b) << k for k, b in enumerate(en))))
            got = (ctx.get(dut.valid), ctx.get(dut.index), ctx.get(dut.value))
            assert got == model(vals, en), (list(vals), list(en), got)

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()


def _error_of(make):
    try:
        make()
    except Exception as e:      # noqa: BLE001 - the test looks at what was raised
        return type(e), str(e)
    return None, ""


def test_bad_parameters():
    import gc
    import warnings
    from amaranth.hdl import Fragment, Module
    Fragment.get(Module(), None)      # Amaranth warns of unused elaboratables only after one elaboration
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        kind, text = _error_of(lambda: LNZD(4))
        assert kind is TypeError and "EIEConfig" in text
        kind, text = _error_of(lambda: LNZDNode(-1, 8))
        assert kind is ValueError and "-1" in text
        gc.collect()
    # A rejected parameter leaves no "created but never used" object behind.
    assert not [w for w in seen if "never used" in str(w.message)], [str(w.message) for w in seen]
