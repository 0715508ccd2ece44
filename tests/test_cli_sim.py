"""`eie sim`: a compressed model on the RTL from the command line.

Every refusal (bad shapes, images of another config, unreadable files, bad knobs) exits 2
with one line and writes nothing, before anything is built; the report names the first
difference and a replay command; and one real run: a model compressed with `eie compress`
for the ``ice40`` preset, on Verilator with random idle cycles and backpressure, matches
the golden model (and the cycle model) exactly.
"""

import json

import numpy as np
import pytest

from eie import format as fmt, images, numerics
from eie.cli import main
from eie.config import PRESETS
from eie.golden import GoldenModel
from sim import runner
from sim.run_model import SimRequest, report

TINY = PRESETS["tiny"]


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(5)
    layers = [fmt.QuantizedLayer("fc1", rng.integers(0, 16, (6, 9)), np.r_[0.0, rng.normal(size=15)],
                                 rng.normal(size=6), True),
              fmt.QuantizedLayer("fc2", rng.integers(0, 16, (3, 6)), np.r_[0.0, rng.normal(size=15)],
                                 rng.normal(size=3), False)]
    images.write_images(fmt.encode_network(layers, TINY), tmp_path / "m")
    np.save(tmp_path / "x.npy", rng.integers(-300, 300, (4, 9)))
    np.save(tmp_path / "labels.npy", rng.integers(0, 3, 4))
    return tmp_path


def sim(folder, *extra):
    return main(["sim", str(folder / "m"), "--inputs", str(folder / "x.npy"), "-o", str(folder / "y.npy"),
                 *map(str, extra)])


@pytest.mark.parametrize("setup, args, message", [
    (lambda f: np.save(f / "x.npy", np.zeros((2, 5), np.int64)), [], "the model takes 9 values per vector"),
    (lambda f: np.save(f / "x.npy", np.zeros((2, 3, 9), np.int64)), [], "have shape (2, 3, 9)"),
    (lambda f: np.save(f / "x.npy", np.zeros((0, 9), np.int64)), [], "have shape (0, 9)"),
    (lambda f: np.save(f / "x.npy", np.zeros((2, 9))), [], "must be fixed-point integers"),
    (lambda f: np.save(f / "x.npy", np.full((2, 9), 1 << 20)), [], "must lie in -32768..32767"),
    (lambda f: (f / "x.npy").write_bytes(b"not numpy"), [], "cannot read inputs"),
    (lambda f: (f / "x.npy").unlink(), [], "cannot read inputs"),
    (lambda f: None, ["--config", "ice40"], "images were made for config"),
    (lambda f: (f / "m" / "manifest.json").unlink(), [], "manifest"),
    (lambda f: (f / "m/pe001/spmat.bin").write_bytes(b"\x01" * 8), [], "does not match its checksum"),
    (lambda f: np.save(f / "labels.npy", np.zeros(3, np.int64)), ["--labels", "{f}/labels.npy"], "4 integers in 0..2"),
    (lambda f: np.save(f / "labels.npy", np.full(4, 7)), ["--labels", "{f}/labels.npy"], "4 integers in 0..2"),
    (lambda f: None, ["--idle", "1.0"], "--idle must be a probability"),
    (lambda f: None, ["--backpressure", "-0.1"], "--backpressure must be a probability"),
    (lambda f: None, ["--vectors", "3:2"], "need 0 <= START < END"),
    (lambda f: None, ["--vectors", "two"], "must be START:END"),
    (lambda f: None, ["--vectors", "2:9"], "the inputs hold 4 vectors"),
    (lambda f: None, ["--chunk", "0"], "--chunk must be at least 1"),
    (lambda f: (f / "y.npy").mkdir(), [], "is a folder"),
], ids=["short", "3-d", "empty", "floats", "range", "not-npy", "missing", "other-config", "no-manifest",
        "checksum", "labels-count", "labels-range", "idle", "backpressure", "vectors-order",
        "vectors-syntax", "vectors-end", "chunk", "output-folder"])
def test_bad_input_exits_2_and_writes_nothing(folder, capsys, setup, args, message):
    setup(folder)
    code = sim(folder, *[a.format(f=folder) for a in args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("eie: error: ") and err.count("\n") == 1 and message in err, err
    assert not (folder / "y.npy").is_file()


def _record(status="pass", first=0, size=2, layers=None, difference=None, error=None):
    return {"name": f"sim/{first}", "status": status, "vectors": size, "values_checked": 3 * size,
            "layers": layers or [{"vector": v, "layer": 0, "rtl": 40, "model": 40, "bound": 30} for v in range(size)],
            "tags": {"first_vector": first, "size": size}, "first_difference": difference, "error": error}


def test_report_names_the_first_difference_and_its_replay(folder):
    imgs = images.read_images(folder / "m")
    req = SimRequest(images=folder / "m", inputs=folder / "x.npy", idle=0.3, backpressure=0.2, seed=7)
    code, lines = report(req, imgs, [_record(first=0), _record(first=2)], 2)
    assert code == 0 and len(lines) == 1
    assert "4 of 4 vectors" in lines[0] and "outputs bit-exact" in lines[0] and "= cycle model" in lines[0]

    bad = _record("fail", first=2, difference={"tag": "v1/out", "index": 2, "got": 5, "expected": 6},
                  error="v1/out: 1 of 3 values differ")
    code, lines = report(req, imgs, [_record(first=0), bad], 2)
    assert code == 1 and "outputs DIFFER" in lines[0]
    assert lines[1] == "first difference: vector 3, output position 2: RTL 5, golden model 6"
    assert lines[2].startswith("replay: eie sim ") and "--vectors 2:4 --chunk 2 --waves" in lines[2]
    assert "--seed 7" in lines[2] and "--idle 0.3 --backpressure 0.2" in lines[2]

    slow = _record("cycles", first=0, layers=[{"vector": 0, "layer": 0, "rtl": 40, "model": 40, "bound": 30},
                                              {"vector": 1, "layer": 0, "rtl": 41, "model": 40, "bound": 30}])
    code, lines = report(req, imgs, [slow, _record(first=2)], 2)
    assert code == 1 and "outputs bit-exact" in lines[0] and "3/4 layer runs exact" in lines[0]
    assert lines[1] == "first difference: vector 1, layer 0: RTL 41 cycles, cycle model 40"


@pytest.mark.verilator
@pytest.mark.skipif(runner.verilator_missing() is not None, reason=runner.verilator_missing() or "")
def test_compressed_model_on_ice40_matches_with_idle_and_backpressure(tmp_path, capsys):
    """`eie compress --one-shot` of a small MLP for ice40, then `eie sim` with stress and labels."""
    from sklearn.datasets import load_digits

    seed = 3
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    np.savez(tmp_path / "mlp.npz", **{"fc1.weight": rng.normal(0, 0.3, (24, 64)).astype(np.float32),
                                      "fc1.bias": rng.normal(0, 0.1, 24).astype(np.float32),
                                      "fc2.weight": rng.normal(0, 0.3, (10, 24)).astype(np.float32),
                                      "fc2.bias": np.zeros(10, np.float32)})
    assert main(["compress", str(tmp_path / "mlp.npz"), "--config", "ice40", "--one-shot", "--quiet",
                 "--out", str(tmp_path / "c")]) == 0
    digits = load_digits()
    x = numerics.act_from_float(digits.data[:30] / 16.0, PRESETS["ice40"])
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "labels.npy", digits.target[:30])
    capsys.readouterr()
    code = main(["sim", str(tmp_path / "c" / "images"), "--inputs", str(tmp_path / "x.npy"), "--config", "ice40",
                 "--labels", str(tmp_path / "labels.npy"), "--idle", "0.3", "--backpressure", "0.3",
                 "--seed", str(seed), "--chunk", "10", "-o", str(tmp_path / "y.npy"),
                 "--work", str(tmp_path / "work")])
    out = capsys.readouterr().out
    print(out)
    assert code == 0, out
    summary = next(line for line in out.splitlines() if line.startswith("eie sim: 30 of 30"))
    assert "outputs bit-exact" in summary and "= cycle model" in summary and "accuracy" in summary
    want = GoldenModel(tmp_path / "c" / "images").run(x)
    assert np.array_equal(np.load(tmp_path / "y.npy"), want)
    manifest = json.loads((tmp_path / "c" / "images" / "manifest.json").read_text())
    assert manifest["config_hash"] == PRESETS["ice40"].hash
