"""The regression's own machinery, without a simulator: sweep coverage, case generators,
scoreboard, summaries, the Verilog post-processing, the CLI's listing."""

import json
import logging

import numpy as np
import pytest

from eie import format as fmt
from eie.config import PRESETS
from sim import regression
from sim.cases import network_for, fits, regression_config
from eie.golden import GoldenModel
from sim.tb.scoreboard import Scoreboard


@pytest.fixture(scope="module")
def sweep():
    return regression.full_sweep(seed=1)


def test_sweep_covers_the_issue(sweep):
    cfgs = {(c.cfg.n_pe, c.cfg.queue_depth) for c in sweep}
    assert cfgs == {(n, d) for n in (1, 2, 4, 8, 16) for d in (1, 2, 8)} | {(64, 8)}
    # 64 PEs run on the eie preset (the build LeNet and the benchmark use) ...
    assert {c.cfg for c in sweep if c.cfg.n_pe == 64} == {PRESETS["eie"]}
    # ... unless every depth is asked for.
    every = regression.sweep_configs(presets=False)
    assert {(c.n_pe, c.queue_depth) for c in every} == {(n, d) for n in (1, 2, 4, 8, 16, 64) for d in (1, 2, 8)}
    grid = {(c.weight_density, c.input_density) for c in sweep if c.kind == "random" and "random-w" in c.name}
    assert {w for w, _ in grid} == {0.01, 0.05, 0.1, 0.25, 0.5}
    assert {x for _, x in grid} == {0.05, 0.25, 0.5, 1.0}
    kinds = {c.kind for c in sweep} | {"multilayer" for c in sweep if c.tags.get("multilayer")}
    assert set(regression.ODD_KINDS) <= kinds
    # Every odd shape runs with and without idle/backpressure on every config.
    for kind in regression.ODD_KINDS:
        for h in {c.cfg.hash for c in sweep}:
            stress = {c.stressed for c in sweep if c.cfg.hash == h and c.name.split("/")[1] == kind}
            assert stress == {False, True}, (kind, h)
    assert {c.load for c in sweep} == {"protocol", "backdoor"}
    assert {c.cfg.entries_per_word for c in sweep} == {1, 2, 4, 8}
    assert len({c.name for c in sweep}) == len(sweep)


def test_sweep_is_reproducible(sweep):
    again = regression.full_sweep(seed=1, pes=(4, 16), depths=(2,))
    assert [c.to_dict() for c in again] == [c.to_dict() for c in sweep if c.cfg.queue_depth == 2
                                             and c.cfg.n_pe in (4, 16)]
    other = regression.full_sweep(seed=2, pes=(4, 16), depths=(2,))
    assert [c.seed for c in other] != [c.seed for c in again]


def test_every_sweep_case_fits(sweep):
    # full_sweep checks too; this keeps the check visible.
    for c in sweep[::7]:
        assert fits(c) is None, c.name


def test_sweep_has_other_widths_and_balanced_cases(sweep):
    cfgs = {c.cfg for c in sweep}
    assert {c.z_bits for c in cfgs} == {3, 4, 5, 6, 8}
    assert {c.entry_bits for c in cfgs} >= {7, 8, 9, 10, 12}
    assert {c.word_bits for c in cfgs} >= {28, 64, 72, 80}
    for h in {c.cfg.hash for c in sweep}:       # balanced twins on every config
        names = {c.name.split("/")[1] for c in sweep if c.cfg.hash == h and c.balance}
        assert names == {f"{k}-balanced" for k in regression.BALANCED_KINDS}, h
    ragged = [c for c in sweep if c.balance and "ragged_rows" in c.name and c.cfg.n_pe > 1]
    assert ragged and all(c.shape[-1] % c.cfg.n_pe for c in ragged)
    quick = regression.quick_sweep(1)
    assert any(c.balance for c in quick) and {c.cfg.z_bits for c in quick} >= {4, 5, 8}


def test_multilayer_uses_four_layers(sweep):
    multi = [c for c in sweep if c.tags.get("multilayer")]
    assert multi and all(len(c.shape) == 5 for c in multi)


@pytest.mark.parametrize("n_pe", [1, 4, 16])
def test_odd_shapes_are_what_they_claim(n_pe):
    cfg = regression_config(n_pe, 2)
    cases = {c.name.split("/")[1]: c for c in regression.cases_for_config(cfg, seed=3)
             if not c.name.endswith("stress") and c.kind != "random" or c.tags.get("multilayer")}
    # Ragged rows: output length not a multiple of the PE count.
    if n_pe > 1:
        assert cases["ragged_rows"].shape[-1] % n_pe != 0
    assert cases["single_column"].shape[0] == 1
    layers, x = network_for(cases["zero_input"])
    assert not x.any()
    layers, x = network_for(cases["zero_columns"])
    assert (layers[0].indices == 0).all(axis=0).any()
    # Long runs: padding entries in the encoding.
    layers, x = network_for(cases["long_runs"])
    prog = fmt.encode_network(layers, cfg)
    assert prog.layers[0].padding_per_pe.sum() > 0
    # Saturation: some accumulator clamps.
    layers, x = network_for(cases["saturate"])
    g = GoldenModel(fmt.encode_network(layers, cfg))
    first = g.layers[0]
    exact = first.acc_init[None, :] + (first.weights @ x.T).T
    assert np.any(first.accumulate(x, cfg) != exact)


def test_scoreboard_fails_on_missing_extra_and_different():
    sb = Scoreboard(logging.getLogger("test"))
    sb.expect("a", [1, 2, 3])
    sb.observe("a", [1, 2, 3])
    assert sb.passed and sb.values == 3
    sb.expect("b", [1, 2, 3])
    sb.observe("b", [1, 9, 3])
    assert "b: 1 of 3 values differ: [1] got 9 expected 2" in sb.errors[-1]
    sb.expect("c", [1, 2, 3])
    sb.observe("c", [1, 2])
    assert "missing values" in sb.errors[-1]
    sb.observe("d", [5])
    assert "extra item d" in sb.errors[-1]
    sb.expect("e", [4])
    sb.finish()
    assert "missing item e" in sb.errors[-1]
    sb.check(False, "cycles off", "timing")
    assert sb.kinds[-1] == "timing" and not sb.passed


def test_summary_counts_and_cycle_errors(tmp_path):
    rows = [
        {"name": "a", "status": "pass", "n_pe": 4, "queue_depth": 8, "entries_per_word": 4, "shape": [3, 4],
         "weight_density": 0.1, "input_density": 0.5, "load": "protocol", "idle": 0, "backpressure": 0,
         "seed": 1, "vectors": 2, "values_checked": 8,
         "layers": [{"rtl": 10, "model": 10, "bound": 5}, {"rtl": 12, "model": 12, "bound": 6}]},
        {"name": "b", "status": "cycles", "n_pe": 4, "queue_depth": 8, "entries_per_word": 4, "shape": [3, 4],
         "weight_density": 0.1, "input_density": 0.5, "load": "backdoor", "idle": 0.3, "backpressure": 0.3,
         "seed": 2, "vectors": 1, "values_checked": 4, "error": "v0 layer 0: RTL 11 cycles, cycle model 10",
         "replay": "eie regression --only b",
         "layers": [{"rtl": 11, "model": 10, "bound": 5}]},
    ]
    s = regression.write_summary(rows, tmp_path, seed=1)
    assert s["cases"] == 2 and s["passed"] == 1 and s["status"] == {"pass": 1, "cycles": 1}
    assert s["cycle_error"] == {"checked": 3, "exact": 2, "max_abs": 1, "mean_abs": pytest.approx(1 / 3),
                                "max_rel": pytest.approx(0.1)}
    md = (tmp_path / "summary.md").read_text()
    assert "2 cases, **1 passed**, 1 cycles" in md and "eie regression --only b" in md
    assert json.loads((tmp_path / "summary.json").read_text())["summary"]["passed"] == 1


def test_cli_lists_cases(capsys):
    from eie.cli import main

    assert main(["regression", "--quick", "--no-lenet", "--no-cnn", "--list", "--only", "pe4-q1-.*/saturate"]) == 0
    out = capsys.readouterr().out
    assert "pe4-q1-w2/saturate " in out and "pe4-q1-w2/saturate/stress" in out and "2 cases" in out


def test_cli_rejects_a_bad_pattern(capsys):
    from eie.cli import main

    assert main(["regression", "--quick", "--no-lenet", "--no-cnn", "--only", "(", "--list"]) == 2
    assert "not a valid regular expression" in capsys.readouterr().err


def test_cnn_summary_and_its_line(tmp_path):
    """The conv nets' summary: accuracy of the RTL's saved outputs, cycles per image and the host
    share from the clean parts only (a stressed part's idle cycles are not the link's)."""
    from sim.cnn_regression import cnn_summary

    np.save(tmp_path / "y0.npy", np.array([[0, 5, 1], [9, 0, 0]]))      # classes 1, 0
    np.save(tmp_path / "l0.npy", np.array([1, 2]))
    np.save(tmp_path / "y1.npy", np.array([[[0, 0, 7]]]))                # (batch, 1, 3): class 2
    np.save(tmp_path / "l1.npy", np.array([2]))
    rows = []
    for p, (idle, per_image) in enumerate([(0.0, [(1000, 200), (1200, 300)]), (0.3, [(5000, 250)])]):
        rows.append({"name": f"cnn/n/eie/part{p:02d}", "status": "pass", "idle": idle, "backpressure": idle,
                     "tags": {"cnn": "n/eie", "labels": str(tmp_path / f"l{p}.npy"),
                              "save_outputs": str(tmp_path / f"y{p}.npy")},
                     "network": {"images": len(per_image), "runs": 3 * len(per_image),
                                 "per_image": [{"cycles": c, "run_cycles": r, "runs": 3} for c, r in per_image]}})
    rows.append({"name": "other", "status": "pass", "tags": {}})
    (a,) = cnn_summary(rows).values()
    assert a["images"] == 3 and a["correct"] == 2 and a["accuracy_pct"] == pytest.approx(200 / 3)
    assert (a["parts"], a["parts_passed"], a["runs"]) == (2, 2, 9)
    assert a["cycles_per_image"] == 1100 and a["array_cycles_per_image"] == 250
    assert a["host_share"] == pytest.approx(1 - 500 / 2200)
    rows[1]["status"] = "fail"
    s = cnn_summary(rows)
    assert s["n/eie"]["parts_passed"] == 1
    lines = regression.write_summary([], tmp_path, extra={"cnn": s})
    md = (tmp_path / "summary.md").read_text()
    assert "Conv net n/eie: 3 MNIST test images through the RTL, 1 of 2 parts bit-exact" in md
    assert "1100 device cycles per image (clean parts), of which 250 in RUNs (77.3 % host traffic)" in md


def test_cnn_images_written_again_for_a_config_that_only_differs_in_the_queue(tmp_path):
    """A compressed conv net's images are written again for a config that differs only in
    fields neither the compressor nor the memories depend on; any other difference is refused."""
    from eie.images import read_images, write_images
    from eie.network import Conv, Dense, Flatten, Network, Pool
    from sim.cnn_regression import rewrite_images

    rng = np.random.default_rng(3)
    tiny = PRESETS["tiny"]
    net = Network((1, 6, 6), (Conv(0, 2, (3, 3)), Pool("max", (2, 2), (2, 2)), Flatten(), Dense(1)))
    layers = [fmt.QuantizedLayer("c", rng.integers(0, 16, (2, 9)), np.r_[0.0, rng.normal(size=15)], rng.normal(size=2)),
              fmt.QuantizedLayer("f", rng.integers(0, 16, (3, 8)), np.r_[0.0, rng.normal(size=15)], rng.normal(size=3),
                                 False)]
    folder = write_images(fmt.encode_network(layers, tiny, network=net), tmp_path / "images", extra={"source": "t"})
    before = read_images(folder).manifest
    assert rewrite_images(folder, tiny) is None                         # already this config
    assert rewrite_images(folder, tiny.replace(n_pe=2)) is None         # another placement: compress again
    assert read_images(folder, tiny).manifest == before
    other = tiny.replace(queue_depth=2)
    assert rewrite_images(folder, other) == tiny.hash
    after = read_images(folder, other)
    assert after.manifest["images"] == before["images"] and after.network == net
    assert after.manifest["extra"] == {"source": "t"} and not (tmp_path / "images.rewrite").exists()
    x = rng.integers(0, 300, (3, 1, 6, 6))
    assert np.array_equal(GoldenModel(after).run(x), GoldenModel(fmt.encode_network(layers, other, network=net)).run(x))


def test_scale_cases_reach_ten_thousand_and_full_memories():
    # The 10,000-case sweep of issue 13 (`--per-config 500` on the 20 configs), built on four
    # of them here (the whole list takes ~15 s of encoding: `eie regression --list`).
    cfgs = regression.sweep_configs()
    assert len(cfgs) >= 20
    picked = [regression_config(1, 1, entries_per_word=8), regression_config(4, 8, entries_per_word=2, host_bits=32)]
    picked += [c for c in regression.width_configs() if c.z_bits == 3]
    for cfg in picked:
        cases = regression.scale_cases(cfg, 1, 60)
        assert len({c.name for c in cases}) == 60
        assert cases[0].shape == [1, 1] and cases[0].weight_density == 1.0
        assert sum(c.stressed for c in cases) == 30
        assert {c.load for c in cases} <= {"protocol", "backdoor"}
        for c in cases[::5] + cases[:2]:
            assert fits(c) is None, c.name
        # The second case fills the sparse matrix memory of some PE to at least 90 %.
        layers, _ = network_for(cases[1])
        prog = fmt.encode_network(layers, cfg, allow_loss=True)
        worst = max(max(e.entries_per_pe) for e in prog.layers)
        assert worst >= 0.9 * cfg.spmat_entries, (cfg.hash, worst, cfg.spmat_entries)
        # Lengths spread from 1 to the config's limit.
        lens = [n for c in cases for n in c.shape]
        assert min(lens) == 1 and max(lens) >= min(cfg.max_len, regression.SCALE_MAX_LEN) // 2
        # Reproducible from the seed; another seed draws other cases.
        assert [c.to_dict() for c in regression.scale_cases(cfg, 1, 60)] == [c.to_dict() for c in cases]
        assert [c.seed for c in regression.scale_cases(cfg, 2, 60)] != [c.seed for c in cases]


def test_per_config_tops_up_every_config():
    cases = regression.full_sweep(seed=1, pes=(2,), depths=(1, 2), per_config=50)
    by_cfg = {}
    for c in cases:
        by_cfg.setdefault(c.cfg.hash, []).append(c)
    # 2 sweep configs + the (2, 2) width config + the scale sweep's depth-16 config
    assert len(by_cfg) == 4 and all(len(v) == 50 for v in by_cfg.values())
    assert {c.cfg.queue_depth for c in cases} == {1, 2, 16}
    assert len({c.name for c in cases}) == len(cases)


def test_scale_sweep_spans_the_configs_issue_13_asks():
    # 1 to 256 PEs, queue depths 1 to 16, 1 to 8 entries per word, every preset; the 256-PE
    # preset runs a few scale cases alone (its testbench runs at a few thousand cycles/s).
    cfgs = regression.sweep_configs() + regression.scale_configs()
    assert len({c.hash for c in cfgs}) >= 20
    assert min(c.n_pe for c in cfgs) == 1 and max(c.n_pe for c in cfgs) == 256
    assert {1, 16} <= {c.queue_depth for c in cfgs} and {1, 8} <= {c.entries_per_word for c in cfgs}
    assert {c.hash for c in PRESETS.values()} <= {c.hash for c in cfgs}
    cases = regression.full_sweep(seed=1, pes=(256,), per_config=400)
    assert len(cases) == regression.SCALE_ONLY[256] and {c.cfg.n_pe for c in cases} == {256}
    assert cases[0].shape == [1, 1] and all(c.tags.get("scale") for c in cases)


def test_cli_lists_one_line_per_case(capsys):
    from eie.cli import main

    assert main(["regression", "--no-lenet", "--no-cnn", "--pes", "1", "--depths", "1", "--per-config", "40",
                 "--list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "40 cases" and len(lines) == 41
    assert all(" [" in l and " seed " in l for l in lines[:-1])


def test_summary_keeps_configs_that_read_the_same_apart():
    """Two configs with the same PEs, depth and word (ecp5_16pe and the 16-PE sweep config)
    are counted apart, named with their hashes; a config alone keeps its short name."""
    def rec(h, status="pass"):
        return {"n_pe": 16, "queue_depth": 8, "entries_per_word": 2, "z_bits": 4, "config_hash": h,
                "status": status, "layers": []}
    per = regression.summarise([rec("aaa"), rec("aaa"), rec("bbb", "fail")])["per_config"]
    assert per == {"16 PE, q8, 2/word (aaa)": {"cases": 2, "pass": 2},
                   "16 PE, q8, 2/word (bbb)": {"cases": 1, "pass": 0}}
    assert list(regression.summarise([rec("aaa")])["per_config"]) == ["16 PE, q8, 2/word"]
