"""Cycle model (eie/cycle_model.py): hand-checked small cases, the lower bound, speed on an
EIE-sized layer, and the ratio to the bound on EIE's benchmark shapes.

The model's agreement with the RTL itself is checked in tests/test_hw_array.py."""

import time

import numpy as np
import pytest

from eie.config import PRESETS
from eie import format as fmt
from eie.cycle_model import layer_timing, lower_bound, CycleModel

TINY = PRESETS["tiny"]


def layer(cfg, idx, name="fc"):
    q = fmt.QuantizedLayer(name, np.asarray(idx), np.r_[0.0, np.linspace(-1, 1, 15)],
                           np.zeros(len(idx)), True)
    return fmt.encode_network([q], cfg).layers[0]


def test_single_entry_by_hand():
    cfg = TINY.replace(n_pe=1)
    e = layer(cfg, [[3]])
    t = layer_timing(cfg, e, np.array([5]))
    # One PE: the compact build. Row 0 read at 1 (START), in the scanner's buffer at 3,
    # offered and committed at 4, into the PE's queue the same cycle; popped 5, pointers 6 (the
    # column pushed), issued 7, in the arithmetic unit 8, accumulator written at the end of
    # 10, idle from 11: t_d = 11; WB 12; WB_FLUSH 13; FINISH 14 -> 15 cycles.
    assert (t.drain, t.cycles, t.bound, t.broadcasts) == (11, 15, 1, 1)
    assert list(t.busy) == [1] and list(t.stall) == [0]


def test_single_entry_registered_by_hand():
    cfg = TINY.replace(n_pe=4)
    e = layer(cfg, [[3]])
    t = layer_timing(cfg, e, np.array([5]))
    # Four PEs: the registered build. Row 0 read at 1, in the buffer at 6, committed at 7; in
    # the PEs' queues at 8, popped 9, pointers registered 10, compared and registered 11, in
    # the column queue 12, issued 13, its address registered, word read 14, registered 15, in
    # stage S at 16, accumulator written at the end of 19, idle from 20, which the CCU sees
    # at 22 (a register per PE and one for the AND): t_d = 22; WB 23; WB_FLUSH 24, 25, 26;
    # FINISH 27.
    assert (t.drain, t.cycles, t.bound, t.broadcasts) == (22, 28, 1, 1)
    assert list(t.busy) == [1, 0, 0, 0] and list(t.stall) == [0] * 4


def test_all_zero_input_by_hand():
    cfg = TINY
    e = layer(cfg, np.ones((8, 10), int))
    t = layer_timing(cfg, e, np.zeros(10, int))
    # 3 slot rows read at t = 1, 2, 3, in the buffer and consumed at 6, 7, 8; t_d = 9; two
    # write-back rows, three flush cycles; FINISH at 15.
    assert (t.scan_end, t.drain, t.cycles, t.bound) == (8, 9, 16, 0)


def test_queue_full_stalls():
    cfg = TINY.replace(n_pe=1, queue_depth=1)
    e = layer(cfg, np.ones((4, 3), int))            # every column: 4 entries in the one PE
    t = layer_timing(cfg, e, np.array([1, 1, 1]))
    assert t.bound == 12 and t.busy[0] == 12 and t.stall[0] > 0
    assert t.cycles >= t.bound


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bound_is_a_lower_bound(seed):
    print("seed", seed)
    rng = np.random.default_rng(seed)
    cfg = TINY.replace(queue_depth=int(rng.integers(1, 9)))
    idx = np.where(rng.random((40, 60)) < 0.2, rng.integers(1, 16, (40, 60)), 0)
    e = layer(cfg, idx)
    x = np.where(rng.random(60) < 0.4, 7, 0)
    t = layer_timing(cfg, e, x)
    assert t.bound == lower_bound(cfg, e, x) <= t.cycles
    assert t.busy.sum() == sum(int(e.ptr[k][j + 1] - e.ptr[k][j]) for k in range(cfg.n_pe)
                               for j in np.flatnonzero(x))


def test_speed_eie_layer():
    """4096 x 4096 at 9% weights, 35% inputs, 64 PEs: well under a second."""
    from bench.synthetic import synthetic_layer
    cfg = PRESETS["eie"]
    q, x = synthetic_layer(4096, 4096, 0.09, 0.353, cfg, seed=1)
    e = fmt.encode_layer(q, cfg)
    t0 = time.perf_counter()
    t = layer_timing(cfg, e, x)
    dt = time.perf_counter() - t0
    print(f"Alex-7 model: {dt * 1e3:.0f} ms, {t.cycles} cycles, bound {t.bound}, ratio {t.ratio:.3f}")
    assert dt < 1.0
    assert t.ratio <= 1.10


def test_cycle_model_class_two_layers():
    cfg = TINY
    rng = np.random.default_rng(3)
    qs = [fmt.QuantizedLayer(f"l{i}", np.where(rng.random((o, n)) < 0.3, rng.integers(1, 16, (o, n)), 0),
                             np.r_[0.0, rng.normal(0, 0.3, 15)], np.zeros(o), True)
          for i, (o, n) in enumerate([(12, 10), (6, 12)])]
    program = fmt.encode_network(qs, cfg)
    model = CycleModel(program)
    x = rng.integers(-100, 100, 10)
    per_layer = model.layer_cycles(x)
    assert len(per_layer) == 2
    assert model.run(np.stack([x, x])).total_cycles.tolist() == [sum(per_layer)] * 2


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_batch_equals_one_config_at_a_time(seed):
    """`batch_timing` runs configs side by side (what `eie explore` does); each config's
    timing must be exactly its own `layer_timing` (cycles, stalls, busy counts)."""
    from eie.cycle_model import batch_timing
    print("seed", seed)
    rng = np.random.default_rng(seed)
    a, b = int(rng.integers(1, 80)), int(rng.integers(1, 80))
    idx = np.where(rng.random((b, a)) < rng.random(), rng.integers(1, 16, (b, a)), 0)
    x = np.where(rng.random(a) < rng.random(), 5, 0)
    cfgs = [TINY.replace(n_pe=int(rng.integers(1, 9)), queue_depth=int(rng.integers(1, 17)),
                         z_bits=int(rng.integers(1, 6)), act_depth=80, ptr_depth=512, spmat_depth=4096)
            for _ in range(5)]
    layers = [layer(c, idx) for c in cfgs]
    counts = [np.stack([np.diff(p) for p in e.ptr]) for e in layers]
    got = batch_timing(counts, [x] * 5, [c.n_pe for c in cfgs], [c.queue_depth for c in cfgs], [b] * 5)
    for c, e, t in zip(cfgs, layers, got):
        want = layer_timing(c, e, x)
        assert (t.cycles, t.bound, t.drain, t.scan_end) == (want.cycles, want.bound, want.drain, want.scan_end)
        assert np.array_equal(t.stall, want.stall) and np.array_equal(t.busy, want.busy)
