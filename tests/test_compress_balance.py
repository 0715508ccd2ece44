"""`eie compress --balance` and `--balanced-prune` on a small digits MLP (tiny config, 4 PEs).

--balance: the same compressed model, its images written with balanced rows (format
version 2), read back by the golden model bit-exact to the plain images in the model's
order, the report giving the interleaved figures it replaced. --balanced-prune: every PE's
share of each layer keeps the same count of weights. Bad combinations: `eie: error:`,
status 2, nothing written. The schedule is the shortest there is: seconds, not accuracy.
"""

import json

import numpy as np
import pytest

from compress.api import compress
from compress.data import load_dataset
from compress.loader import save_model
from compress.models import train_dense
from compress.pipeline import CompressOptions, OptionError
from compress.prune import balanced_mask
from eie import format as fmt
from eie import numerics
from eie.cli import main
from eie.config import PRESETS
from eie.golden import GoldenModel
from eie.images import read_images

TINY = PRESETS["tiny"]
FAST = ["--config", "tiny", "--density", "30%,50%", "--prune-steps", "1", "--prune-epochs", "1",
        "--finetune-epochs", "1", "--quiet"]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def model(digits, tmp_path_factory):
    dense = train_dense((64, 32, 10), digits, epochs=5, seed=0, progress=False)
    path = tmp_path_factory.mktemp("model") / "digits.pt"
    save_model(dense.arrays(), path)
    return path


@pytest.fixture(scope="module")
def runs(model, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name, flags in (("plain", []), ("balance", ["--balance"]), ("prune", ["--balanced-prune"])):
        assert main(["compress", str(model), "--out", str(root / name)] + FAST + flags) == 0
        out[name] = root / name
    return out


def report(folder):
    return json.loads((folder / "report.json").read_text())


def test_balance_writes_version_2_read_back_bit_exact(runs, digits):
    plain, bal = runs["plain"], runs["balance"]
    assert json.loads((bal / "images/manifest.json").read_text())["format_version"] == 2
    assert json.loads((plain / "images/manifest.json").read_text())["format_version"] == 1
    a, b = np.load(plain / "compressed.npz"), np.load(bal / "compressed.npz")
    assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)   # the same model
    images = read_images(bal / "images", TINY)
    program = images.program()
    assert all(e.out_positions is not None for e in program.layers)
    assert any(not np.array_equal(e.out_positions, np.arange(e.model_out_len)) for e in program.layers)
    for e in program.layers:          # the images hold the model, rows moved
        assert np.array_equal(fmt.model_matrix(e, TINY.n_pe), a[f"{e.name}.indices"])
    x = numerics.act_from_float(digits.x_test[:60], TINY)
    y_plain, y_bal = GoldenModel(plain / "images", TINY).run(x), GoldenModel(images).run(x)
    assert y_bal.shape == (60, 10) and np.array_equal(y_bal, y_plain)
    rp, rb = report(plain), report(bal)
    assert rp["accuracy"] == rb["accuracy"]
    assert (rp["placement"], rp["format_version"], rb["placement"], rb["format_version"]) == \
        ("interleaved", 1, "balanced", 2)
    for lp, lb in zip(rp["layers"], rb["layers"]):   # "before" is what the plain images hold
        before = lb["eie"]["interleaved"]
        assert "interleaved" not in lp["eie"]
        for key in ("entries", "padding", "entries_per_pe_max", "load_imbalance"):
            assert before[key] == pytest.approx(lp["eie"][key]), key
        assert lb["eie"]["entries_per_pe_max"] <= before["entries_per_pe_max"]
    md = (bal / "report.md").read_text()
    assert "rows in the images: balanced (image format version 2)" in md and " -> " in md


def test_balanced_prune_same_count_per_pe(runs):
    rep = report(runs["prune"])
    assert rep["pruning"].startswith("balanced") and rep["placement"] == "interleaved"
    saved = np.load(runs["prune"] / "compressed.npz")
    plain = np.load(runs["plain"] / "compressed.npz")
    spreads = []
    for name, density in (("fc1", 0.3), ("fc2", 0.5)):
        idx = saved[f"{name}.indices"]
        assert np.count_nonzero(idx) == round(density * idx.size)
        per_pe = [np.count_nonzero(idx[k::TINY.n_pe]) for k in range(TINY.n_pe)]
        assert max(per_pe) - min(per_pe) <= 1, (name, per_pe)
        ref = plain[f"{name}.indices"]
        spreads.append(np.ptp([np.count_nonzero(ref[k::TINY.n_pe]) for k in range(TINY.n_pe)]))
    assert max(spreads) > 1          # plain pruning does not balance by itself
    program = read_images(runs["prune"] / "images", TINY).program()
    for e in program.layers:         # the images' entries, padding aside, are as balanced
        nz = [int(np.count_nonzero(v)) for v in e.v]
        assert max(nz) - min(nz) <= 1


def test_balanced_mask_never_revives_and_spreads_rows_that_do_not_divide():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(10, 30))
    alive = rng.random((10, 30)) < 0.6
    m = balanced_mask(w * alive, 0.3, 4, current=alive).numpy()
    assert m.sum() == round(0.3 * 300) and not (m & ~alive).any()
    per_pe = [m[k::4].sum() for k in range(4)]       # rows 3, 3, 2, 2: the same count anyway
    assert max(per_pe) - min(per_pe) <= 1
    m = balanced_mask(w, 0.5, 64).numpy()            # 10 rows on 64 PEs: all 150 kept, 15 a row
    assert m.sum() == 150 and set(m.sum(axis=1)) == {15}


@pytest.mark.parametrize("flag", ["--balance", "--balanced-prune"])
def test_one_pe_config_is_an_error(model, tmp_path, capsys, flag):
    out = tmp_path / "o"
    args = ["compress", str(model), "--out", str(out)] + FAST + [flag]
    args[args.index("tiny")] = "ice40_1pe"
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("eie: error:") and flag in err and "1 PE" in err
    assert not out.exists()


def test_api_flags_and_bad_values(model, digits, tmp_path):
    with pytest.raises(OptionError, match="balance must be True or False"):
        CompressOptions(balance="yes").check(2, TINY)
    with pytest.raises(OptionError, match="--balanced-prune"):
        compress(str(model), (digits.x_train, digits.y_train), (digits.x_test, digits.y_test),
                 config="ice40_1pe", out=tmp_path / "x", densities=(0.3, 0.5), balanced_prune=True,
                 progress=False)
    assert not (tmp_path / "x").exists()
    result = compress(str(model), (digits.x_train, digits.y_train), (digits.x_test, digits.y_test),
                      config="tiny", densities=(0.3, 0.5), balance=True, balanced_prune=True, prune_steps=1,
                      prune_epochs=1, finetune_epochs=1, progress=False)
    assert all(e.out_positions is not None for e in result.program.layers)
    for q in result.quantized:
        per_pe = [np.count_nonzero(q.indices[k::TINY.n_pe]) for k in range(TINY.n_pe)]
        assert max(per_pe) - min(per_pe) <= 1
