"""The EIE top on Verilator (cocotb) against the golden model and the cycle model.

Fast tests (`make test`) use the ``tiny`` preset (4 PEs; with its 8-bit host port and with a
32-bit one) and one degenerate config (1 PE, queue depth 1, one entry per word, a 16-bit
host port): the paper's Fig. 2-3 example, random networks, every odd shape, both load paths
and random initial state; every stream test runs with and
without random idle cycles and backpressure. The slow ones (`make regression`) run a quick
sweep over PE counts, a benchmark-sized layer on the 64-PE ``eie`` preset and LeNet-300-100.

Every case prints its seed. Replay a failure exactly, with a waveform:
``EIE_SEED=<seed> EIE_WAVES=1 .venv/bin/pytest tests/test_sim_top.py -k <test>`` (the
waveform path is printed; FST, or VCD without liblz4-dev).
"""

import os
from pathlib import Path

import numpy as np
import pytest

from eie import format as fmt
from eie.config import PRESETS
from eie.images import write_images
from sim import runner
from sim.cases import Case, regression_config

REASON = runner.verilator_missing()
pytestmark = [pytest.mark.verilator,
              pytest.mark.skipif(REASON is not None, reason=REASON or "")]

TINY = PRESETS["tiny"]
# The 32-bit host port of an SoC (AXI4-Stream DMA); the degenerate config runs 16 bits.
TINY32 = TINY.replace(host_bits=32)
DEGENERATE = regression_config(1, 1, entries_per_word=1, host_bits=16)
STRESS = {"clean": (0.0, 0.0), "stress": (0.3, 0.3)}
OUT = runner.BUILD_ROOT / "tests"


def seed_for(default: int) -> int:
    return int(os.environ.get("EIE_SEED", default))


def run(cases: list[Case], name: str, plusargs=None) -> list[dict]:
    """Run cases through the cocotb testbench; fail with every failing case's seed."""
    from sim import regression

    waves = runner.waves_from_env() is not None
    out = OUT / name
    results = regression.run_cases(cases, out, waves=waves, progress=False, plusargs=plusargs)
    bad = []
    for r in results:
        cyc = ", ".join(f"L{l['layer']}: {l['rtl']} (model {l['model']}, bound {l['bound']})"
                        for l in r["layers"][:4])
        print(f"{r['name']}: {r['status']} seed={r['seed']} vectors={r['vectors']} "
              f"values={r['values_checked']} {cyc}")
        if r["status"] != "pass":
            bad.append(f"{r['name']} (seed {r['seed']}): {r['status']}: {r['error']}")
    if waves:
        for p in sorted(out.glob("runs/*/*/dump.*")):
            print(f"waveform: {p}")
    assert not bad, ("\n".join(bad) + f"\nlogs: {out}/runs/*/*/sim.log; replay: EIE_SEED=<seed> "
                     "EIE_WAVES=1 pytest tests/test_sim_top.py -k <test>")
    return results


def fig2_images(folder: Path, seed: int) -> tuple[Path, Path]:
    """EIE Figs. 2-3: a 16 x 8 matrix on 4 PEs (PE0's entries as in the paper), 3 inputs."""
    try:
        from test_format import fig2_matrix          # pytest puts tests/ on sys.path
    except ImportError:
        from tests.test_format import fig2_matrix

    rng = np.random.default_rng(seed)
    W = fig2_matrix(seed)
    layer = fmt.QuantizedLayer("fig2", W, np.r_[0.0, np.linspace(-1, 1, 15)], rng.normal(size=16), True)
    images = write_images(fmt.encode_network([layer], TINY), folder / "images")
    x = rng.integers(-512, 512, (3, 8)) * (rng.random((3, 8)) < 0.6)
    x[0] = [0, 256, 0, 0, 128, 0, 64, 0]         # the paper's a = (0, a1, 0, 0, a4, 0, a6, 0) pattern
    np.save(folder / "inputs.npy", x)
    return images, folder / "inputs.npy"


@pytest.mark.parametrize("stress", STRESS, ids=list(STRESS))
def test_fig2_example(stress):
    seed = seed_for(2)
    print(f"seed={seed}")
    folder = OUT / f"fig2-{stress}-data"
    images, inputs = fig2_images(folder, seed)
    idle, bp = STRESS[stress]
    run([Case(name=f"fig2/{stress}", cfg=TINY, kind="images", shape=[8, 16], n_vectors=3, seed=seed,
              idle=idle, backpressure=bp, images=str(images), inputs=str(inputs))], f"fig2-{stress}")


@pytest.mark.parametrize("stress", STRESS, ids=list(STRESS))
def test_random_networks(stress):
    seed = seed_for(10)
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    idle, bp = STRESS[stress]
    cases = []
    for i, (wd, xd) in enumerate([(0.05, 1.0), (0.3, 0.5), (0.5, 0.05), (0.15, 0.25)]):
        shape = [int(s) for s in rng.integers(1, 41, 2 + i % 3)]
        cases.append(Case(name=f"random{i}/{stress}", cfg=TINY, shape=shape, weight_density=wd,
                          input_density=xd, n_vectors=3, seed=int(rng.integers(1 << 31)),
                          idle=idle, backpressure=bp))
    run(cases, f"random-{stress}")


ODD = {
    "ragged_rows": dict(shape=[19, 4 * 3 + 3], weight_density=0.3, input_density=0.6),
    "single_column": dict(shape=[1, 23], weight_density=0.8, input_density=1.0),
    "zero_input": dict(shape=[30, 17], weight_density=0.3, input_density=0.0),
    "zero_columns": dict(shape=[40, 21], weight_density=0.3, input_density=0.8),
    "long_runs": dict(shape=[25, 4 * 32], weight_density=0.02, input_density=0.8),
    "saturate": dict(shape=[30, 26], weight_density=0.6, input_density=0.9),
}


@pytest.mark.parametrize("stress", STRESS, ids=list(STRESS))
def test_odd_shapes(stress):
    seed = seed_for(20)
    print(f"seed={seed}")
    idle, bp = STRESS[stress]
    cases = [Case(name=f"{kind}/{stress}", cfg=TINY, kind=kind, n_vectors=2, seed=seed + i,
                  idle=idle, backpressure=bp, **kw) for i, (kind, kw) in enumerate(ODD.items())]
    # A network of four layers: the act files ping-pong three times without the host.
    cases.append(Case(name=f"multilayer/{stress}", cfg=TINY, shape=[33, 27, 40, 18, 11],
                      weight_density=0.25, input_density=0.5, n_vectors=2, seed=seed + 99,
                      idle=idle, backpressure=bp))
    run(cases, f"odd-{stress}")


@pytest.mark.parametrize("stress", STRESS, ids=list(STRESS))
def test_balanced_encodings(stress):
    """Rows placed by eie.balance (image format version 2): the model-order outputs the driver
    returns, the device's whole act file (slots no row takes included) and every cycle count
    must match, through the protocol and the backdoor, layer after layer."""
    seed = seed_for(25)
    print(f"seed={seed}")
    idle, bp = STRESS[stress]
    cases = [Case(name=f"balanced-{kind}/{stress}", cfg=TINY, kind=kind, n_vectors=2, seed=seed + i,
                  idle=idle, backpressure=bp, balance=True, **ODD[kind])
             for i, kind in enumerate(("ragged_rows", "long_runs", "saturate"))]
    cases.append(Case(name=f"balanced-multilayer/{stress}", cfg=TINY, shape=[33, 27, 41, 18, 11],
                      weight_density=0.25, input_density=0.5, n_vectors=2, seed=seed + 9,
                      idle=idle, backpressure=bp, balance=True))
    cases.append(Case(name=f"balanced-backdoor/{stress}", cfg=TINY, shape=[37, 30, 13], weight_density=0.3,
                      input_density=0.5, n_vectors=2, seed=seed + 10, load="backdoor", balance=True,
                      idle=idle, backpressure=bp))
    run(cases, f"balanced-{stress}")


def test_wide_entries():
    """5-bit run lengths: 9-bit entries, eight to a 72-bit word (two 36-bit block RAMs), and
    runs up to 31 zeros without padding; balanced and plain, through the protocol."""
    seed = seed_for(27)
    print(f"seed={seed}")
    cfg = regression_config(2, 2, entries_per_word=8, z_bits=5)
    assert (cfg.entry_bits, cfg.word_bits) == (9, 72)
    cases = [Case(name=f"z5-{kind}{'-balanced' if bal else ''}", cfg=cfg, kind=kind, n_vectors=2,
                  seed=seed + i, balance=bal, **kw)
             for i, (kind, kw, bal) in enumerate([
                 ("long_runs", dict(shape=[20, 130], weight_density=0.02, input_density=0.8), False),
                 ("long_runs", dict(shape=[20, 130], weight_density=0.02, input_density=0.8), True),
                 ("random", dict(shape=[24, 19, 7], weight_density=0.3, input_density=0.5), True)])]
    run(cases, "wide-entries")


@pytest.mark.parametrize("stress", STRESS, ids=list(STRESS))
def test_wide_host_port(stress):
    """The 32-bit host port: random networks, odd shapes and both load paths, every reply beat
    checked for its tlast (the transport's framing check)."""
    seed = seed_for(70)
    print(f"seed={seed}")
    idle, bp = STRESS[stress]
    cases = [Case(name=f"w32-{kind}/{stress}", cfg=TINY32, kind=kind, n_vectors=2, seed=seed + i,
                  idle=idle, backpressure=bp, **kw) for i, (kind, kw) in enumerate(ODD.items())]
    cases += [Case(name=f"w32-multilayer-{load}/{stress}", cfg=TINY32, shape=[33, 27, 40, 11],
                   weight_density=0.25, input_density=0.5, n_vectors=2, seed=seed + 50, load=load,
                   idle=idle, backpressure=bp) for load in ("protocol", "backdoor")]
    run(cases, f"wide-{stress}")


def test_saturation_really_saturates():
    """The saturate kind must push partial sums past the accumulator range (or it tests nothing)."""
    from sim.cases import network_for
    from eie.golden import GoldenModel

    case = Case(name="sat", cfg=TINY, kind="saturate", **ODD["saturate"], n_vectors=2, seed=seed_for(20) + 5)
    layers, x = network_for(case)
    g = GoldenModel(fmt.encode_network(layers, TINY))
    acc = g.layers[0].accumulate(x, TINY)
    exact = g.layers[0].acc_init[None, :] + (g.layers[0].weights @ x.T).T
    assert np.any(acc != exact), "no accumulator saturated"
    assert np.any(np.abs(g.run_layers(x)[0]) == TINY.act_max) or np.any(g.run_layers(x)[0] == 0)


@pytest.mark.parametrize("stress", STRESS, ids=list(STRESS))
def test_backdoor_load(stress):
    seed = seed_for(30)
    print(f"seed={seed}")
    idle, bp = STRESS[stress]
    run([Case(name=f"backdoor{i}/{stress}", cfg=TINY, shape=shape, weight_density=0.3, input_density=0.5,
              n_vectors=2, seed=seed + i, load="backdoor", idle=idle, backpressure=bp)
         for i, shape in enumerate([[40, 31], [17, 64, 9]])], f"backdoor-{stress}")


def test_load_paths_agree():
    """A protocol load reads back through the backdoor as the images hold it, and vice versa."""
    from sim import regression

    seed = seed_for(40)
    print(f"seed={seed}")
    case = Case(name="paths", cfg=TINY, shape=[37, 29, 13], weight_density=0.3, input_density=0.5,
                seed=seed, idle=0.2, backpressure=0.2)
    out = OUT / "load-paths"
    rec = case.materialise(out / "case")
    (out / "cases.json").write_text(__import__("json").dumps([rec]))
    build = runner.get_build(TINY, waves=runner.waves_from_env())
    build.test(regression.TB_MODULE, test_dir=out / "run", testcase="load_paths_agree",
               env={"EIE_CASES": out / "cases.json"}, waves=runner.waves_from_env() is not None)


def test_random_initial_state():
    """All registers and memories start random (+verilator+rand+reset+2): after reset and a
    load, outputs and cycles must not depend on anything the host did not write."""
    seed = seed_for(50)
    print(f"seed={seed}")
    cases = [Case(name=f"randinit{i}", cfg=TINY, shape=shape, weight_density=0.3, input_density=0.6,
                  n_vectors=2, seed=seed + i, load=load)
             for i, (shape, load) in enumerate([([29, 22, 14], "protocol"), ([31, 7], "backdoor")])]
    run(cases, "randinit", plusargs=["+verilator+rand+reset+2", f"+verilator+seed+{seed}"])


def reset_cases(cfg, cycles: int, seed: int) -> list[Case]:
    """Cases whose first RUN is interrupted by ``rst`` high for ``cycles`` (then reloaded):
    a wide first layer, so the array is still computing when the reset comes."""
    return [Case(name=f"reset{cycles}_{i}", cfg=cfg, shape=shape, weight_density=0.5, input_density=0.9,
                 n_vectors=2, seed=seed + i, load=load, tags={"reset_during_run": cycles})
            for i, (shape, load) in enumerate([([31, 29, 12], "protocol"), ([30, 26], "backdoor")])]


def test_reset_during_run():
    """A one-cycle reset in the middle of a RUN leaves nothing behind: after it and a reload,
    outputs and cycles are exact. tiny is the registered build, where a PE's reset comes a
    tree level after the CCU's, so the PEs are still working when the CCU leaves reset."""
    seed = seed_for(60)
    print(f"seed={seed}")
    run(reset_cases(TINY, 1, seed), "reset_during_run")


@pytest.mark.parametrize("stress", STRESS, ids=list(STRESS))
def test_degenerate_config(stress):
    """1 PE, queue depth 1, one entry per word: single columns, long runs, multi-layer."""
    seed = seed_for(60)
    print(f"seed={seed}")
    idle, bp = STRESS[stress]
    cfg = DEGENERATE
    cases = [
        Case(name=f"deg-single-column/{stress}", cfg=cfg, kind="single_column", shape=[1, 9],
             weight_density=0.8, input_density=1.0, seed=seed, idle=idle, backpressure=bp),
        Case(name=f"deg-long-runs/{stress}", cfg=cfg, kind="long_runs", shape=[12, 32],
             weight_density=0.05, input_density=0.8, seed=seed + 1, idle=idle, backpressure=bp),
        Case(name=f"deg-multilayer/{stress}", cfg=cfg, shape=[14, 9, 17, 5], weight_density=0.4,
             input_density=0.6, seed=seed + 2, idle=idle, backpressure=bp),
    ]
    run(cases, f"degenerate-{stress}")


# ---- slow: make regression ---------------------------------------------------------------------

@pytest.mark.slow
def test_quick_sweep():
    """1, 4 and 16 PEs at queue depths 1 and 8, a third of the density grid, every odd shape."""
    from sim import regression

    seed = seed_for(1)
    print(f"seed={seed} (replay one case: eie regression --quick --seed {seed} --only NAME --waves)")
    run(regression.quick_sweep(seed), "quick-sweep")


@pytest.mark.slow
def test_eie_preset_layer():
    """A benchmark-shaped layer (NT-LSTM, 1201 x 2400 at 10 %, dense input) on 64 PEs, depth 8."""
    from bench.synthetic import synthetic_layer

    seed = seed_for(0)
    print(f"seed={seed}")
    cfg = PRESETS["eie"]
    folder = OUT / "eie-nt-lstm-data"
    q, x = synthetic_layer(1201, 2400, 0.10, 1.0, cfg, seed=seed, name="NT-LSTM")
    images = write_images(fmt.encode_network([q], cfg), folder / "images")
    np.save(folder / "inputs.npy", x[None, :])
    r = run([Case(name="eie/NT-LSTM", cfg=cfg, kind="images", shape=[1201, 2400], n_vectors=1, seed=seed,
                  load="backdoor", images=str(images), inputs=str(folder / "inputs.npy"))], "eie-nt-lstm")
    layer = r[0]["layers"][0]
    assert layer["rtl"] <= 1.10 * layer["bound"], f"{layer['rtl']} cycles > 1.10 x bound {layer['bound']}"


@pytest.mark.slow
def test_lenet_slice_on_ice40():
    """The first 100 MNIST test images through the compressed LeNet-300-100 on the ice40 preset."""
    from sim import regression

    cases = regression.lenet_cases(OUT / "lenet", "ice40", parts=10)[:1]
    run(cases, "lenet-ice40")


def test_relative_output_folder(tmp_path, monkeypatch):
    """`eie regression --out out/x` passes a relative folder; the simulator runs elsewhere."""
    from sim import regression

    monkeypatch.chdir(tmp_path)
    res = regression.run_cases([Case(name="rel", cfg=TINY, shape=[9, 7], seed=1)], Path("rel/out"),
                               progress=False)
    assert res[0]["status"] == "pass", res[0]["error"]
