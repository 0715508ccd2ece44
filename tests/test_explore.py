"""eie explore: the sweep's figures against the encoder and the exact cycle model, the best
point and Pareto front, storage against the images, the command's files and errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from eie import format as fmt, images
from eie.config import PRESETS
from eie.cycle_model import CycleModel, layer_timing
from sim.explore import report, source, sweep
from sim.explore.layers import synthetic_pattern

TINY = PRESETS["tiny"]
BASE = TINY.replace(act_depth=64, ptr_depth=1024, spmat_depth=4096, bias_depth=256)
GRID = sweep.Grid(pes=(2, 3, 4), depths=(1, 4), z_bits=(2, 4), entries_per_word=(2, 4))


def small_source(seed):
    layers = []
    for i, (a, b, wd, xd) in enumerate([(40, 30, 0.15, 0.5), (25, 50, 0.05, 0.9)]):
        p = synthetic_pattern(a, b, wd, xd, BASE, seed=seed + i, name=f"l{i}")
        layers.append(source.Layer(p.name, p.out_len, p.in_len, p.rows, p.cols, p.x[None, :], 100.0))
    return source.Source("small", layers, chained=False, cfg=BASE)


@pytest.mark.parametrize("seed", [0, 1])
def test_every_point_is_the_encoders_and_the_exact_models(seed):
    """What explore reports for a point is what encode_network writes for its config and
    encoding and what layer_timing predicts for it (cycles exact, entries, storage)."""
    print(f"seed={seed}")
    src = small_source(seed)
    points, _ = sweep.evaluate(src, GRID, progress=False)
    assert len(points) == 3 * 2 * 2 * 2 * 2
    for p in points:
        for layer, row in zip(src.layers, p.layers):
            idx = np.zeros((layer.out_len, layer.in_len), np.int64)
            idx[layer.rows, layer.cols] = 1
            q = fmt.QuantizedLayer(layer.name, idx, np.r_[0.0, np.ones(15)], np.zeros(layer.out_len))
            prog = fmt.encode_network([q], p.cfg, balance=p.encoding == "balanced")
            e = prog.layers[0]
            t = layer_timing(p.cfg, e, layer.xs[0])
            assert (row["cycles"], row["bound"]) == (t.cycles, t.bound), (p.key, layer.name)
            assert row["entries_max_pe"] == int(e.entries_per_pe.max())
            assert row["padding_total"] == int(e.padding_per_pe.sum())
            mem = images.program_memories(prog)
            words = max(len(m[images.Mem.SPMAT]) for m in mem.pe)
            assert row["spmat_bits"] == p.cfg.n_pe * words * p.cfg.word_bits


def test_chained_network_from_images(tmp_path):
    """An image folder (balanced, to make it hard): explore's cycles for every point are the
    cycle model's on that point's own encoding of the decoded network."""
    rng = np.random.default_rng(7)
    cfg = BASE.replace(n_pe=3)
    layers = []
    for i, (a, b) in enumerate([(30, 20), (20, 17), (17, 9)]):
        idx = rng.integers(1, 16, (b, a)) * (rng.random((b, a)) < 0.3)
        layers.append(fmt.QuantizedLayer(f"fc{i}", idx, np.r_[0.0, rng.normal(size=15) * 0.02],
                                         rng.normal(size=b) * 0.1, i < 2))
    images.write_images(fmt.encode_network(layers, cfg, balance=True), tmp_path / "m")
    x = rng.integers(0, 200, (2, 30)) * (rng.random((2, 30)) < 0.5)
    src = source.from_images(tmp_path / "m", xs=x)
    assert src.chained and [l.nnz for l in src.layers] == [int(np.count_nonzero(q.indices)) for q in layers]
    grid = sweep.Grid(pes=(2, 4), depths=(2,), z_bits=(2, 4), entries_per_word=(4,))
    points, _ = sweep.evaluate(src, grid, progress=False)
    for p in points:
        prog = fmt.encode_network(layers, p.cfg, balance=p.encoding == "balanced")
        run = CycleModel(prog).run(x)                # per vector, per layer
        want = [sum(ts[l].cycles for ts in run.layers) for l in range(3)]
        assert [r["cycles"] for r in p.layers] == want, p.key


def test_best_reference_and_pareto():
    src = small_source(3)
    points, _ = sweep.evaluate(src, GRID, progress=False)
    best = report.best_point(points, 4)
    assert best.cfg.n_pe == 4
    assert all(best.geomean("cycles") <= p.geomean("cycles") + 1e-9 for p in points if p.cfg.n_pe == 4)
    ref = report.reference_point(points, 4, BASE)
    assert (ref.cfg.z_bits, ref.cfg.queue_depth, ref.encoding) == (BASE.z_bits, BASE.queue_depth, "plain")
    front = report.pareto(points)
    for p in points:     # nothing beats a front point on both axes
        for f in front:
            assert not (p.summary()["sram_bits"] < f.summary()["sram_bits"]
                        and p.geomean("cycles") < f.geomean("cycles"))
    data = report.to_json(src, GRID, points, 4, {"total": 1.0})
    assert data["summary"]["best"]["geomean_ratio_to_eie"] == pytest.approx(best.geomean("ratio_to_eie"))
    md = report.markdown(data, [])
    assert "## Best at 4 PEs" in md and f"{best.geomean('ratio_to_eie'):.3f}x EIE's reported cycles" in md


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "eie.cli", "explore", *args], capture_output=True, text=True)


def test_command_writes_json_markdown_and_plots(tmp_path):
    rng = np.random.default_rng(1)
    layers = [fmt.QuantizedLayer("fc", rng.integers(1, 16, (24, 30)) * (rng.random((24, 30)) < 0.2),
                                 np.r_[0.0, rng.normal(size=15) * 0.05], np.zeros(24), True)]
    images.write_images(fmt.encode_network(layers, BASE), tmp_path / "m")
    r = run_cli(str(tmp_path / "m"), "--out", str(tmp_path / "x"), "--pes", "2,4", "--z-bits", "2,4",
                "--best-pes", "4", "--quiet")
    assert r.returncode == 0, r.stderr
    data = json.loads((tmp_path / "x/explore.json").read_text())
    # The images' own depth (4) and packing (4) join the grid by default.
    assert data["summary"]["grid"]["depths"] == [4, 8, 16, 32] and data["summary"]["grid"]["z_bits"] == [2, 4]
    assert data["summary"]["grid"]["points"] == 2 * 4 * 2 * 2 and data["summary"]["seconds"]["total"] > 0
    assert data["summary"]["reference"]["queue_depth"] == 4
    assert data["summary"]["best"]["n_pe"] == 4
    for name in ("scaling.png", "imbalance.png", "pareto.png"):
        assert (tmp_path / "x" / name).stat().st_size > 10_000
    assert "Best at 4 PEs" in (tmp_path / "x/explore.md").read_text()


@pytest.mark.parametrize("args,match", [
    (["--eie-layers", "--z-bits", "9"], "z_bits must be between 1 and 8"),
    (["--eie-layers", "--entries-per-word", "3"], "powers of two"),
    (["--eie-layers", "--best-pes", "7"], "not among the swept PE counts"),
    (["--eie-layers", "--encodings", "fancy"], "unknown encoding"),
    (["--eie-layers", "--pes", "a,b"], "comma-separated integers"),
    (["nowhere.pt"], "give an image folder or the compressed.npz"),
    ([], "give either"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, args, match):
    r = run_cli(*args, "--out", str(tmp_path / "x"), "--quiet")
    assert r.returncode == 2 and r.stderr.startswith("eie: error: ") and match in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "x").exists()
