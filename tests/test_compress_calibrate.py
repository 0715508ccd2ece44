"""Activation-range calibration: saturation found in exact integer arithmetic, named by layer; and the
--allow-fixed-point-loss path (a warning and the measured accuracy instead of an error)."""

import collections
import json

import numpy as np

from compress.calibrate import dense_range_problems, fixed_point_problems
from compress.models import MLP
from eie import format as fmt
from eie.cli import main
from eie.config import PRESETS

TINY = PRESETS["tiny"]


def one_layer(row, relu=False):
    cb = np.r_[0.0, 100.0, -100.0, np.zeros(13)]
    idx = np.array([row])
    return fmt.encode_network([fmt.QuantizedLayer("big", idx, cb, np.zeros(1), relu)], TINY)


def test_accumulator_saturating_mid_sum_is_found():
    # Codebook peak 100 -> 8 fractional bits; the accumulator holds +-32768 in real terms. Three
    # products of 100 * 100 reach 30000, the fourth 40000 (saturates), then the sum returns to 0.
    program = one_layer([1, 1, 1, 1, 2, 2, 2, 2])
    x = np.full((1, 8), 100.0)
    problems = fixed_point_problems(program, x, "probe")
    assert len(problems) == 1 and "layer big: the 32-bit accumulator saturates for 1 of 1" in problems[0]
    assert "40000" in problems[0]
    # Same products in another order never leave the range.
    assert fixed_point_problems(one_layer([1, 2, 1, 2, 1, 2, 1, 2]), x, "probe") == []


def test_output_saturation_and_relu():
    x = np.full((3, 8), 0.5)
    x[1] = -0.5
    problems = fixed_point_problems(one_layer([1, 1, 1, 0, 0, 0, 0, 0]), x, "probe")
    # +150 (twice) and -150 all leave Q8.8; under ReLU the negative one would be 0 anyway.
    assert len(problems) == 1 and "3 of 3 outputs on probe saturate" in problems[0] and "150" in problems[0]
    problems = fixed_point_problems(one_layer([1, 1, 1, 0, 0, 0, 0, 0], relu=True), x, "probe")
    assert "2 of 3 outputs" in problems[0]


def test_dense_model_ranges():
    model = MLP.from_arrays([("fc1", np.full((2, 3), 50.0), np.zeros(2)), ("fc2", np.eye(2), [0.0, 200.0])])
    problems = dense_range_problems(model, np.ones((4, 3)), TINY, "probe")
    text = " | ".join(problems)
    assert "layer fc1: 8 of 8 outputs on probe are outside the activation format Q8.8" in text
    assert "layer fc2: 1 bias(es) outside the activation format" in text and "200" in text


def test_allowing_the_loss_warns_with_the_measured_accuracy(tmp_path, capsys):
    rng = np.random.default_rng(0)
    print("seed 0")
    state = collections.OrderedDict([("fc1.weight", rng.normal(size=(6, 12)).astype(np.float32) * 0.3),
                                     ("fc1.bias", np.zeros(6, np.float32)),
                                     ("fc2.weight", rng.normal(size=(3, 6)).astype(np.float32) * 0.3)])
    np.savez(tmp_path / "m.npz", **state)
    data = {"x_train": rng.random((60, 12)) * 255, "y_train": rng.integers(0, 3, 60),
            "x_test": rng.random((30, 12)) * 255, "y_test": rng.integers(0, 3, 30)}
    np.savez(tmp_path / "data.npz", **data)
    args = ["compress", str(tmp_path / "m.npz"), "--data", str(tmp_path / "data.npz"), "--config", "tiny",
            "--density", "50%", "--prune-steps", "1", "--prune-epochs", "1", "--finetune-epochs", "1", "--quiet"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 2
    assert "outside the activation format" in capsys.readouterr().err and not (tmp_path / "a").exists()
    assert main(args + ["--out", str(tmp_path / "b"), "--allow-fixed-point-loss"]) == 0
    err = capsys.readouterr().err
    assert "eie: warning: fixed point (before compression, float model): inputs:" in err
    rep = json.loads((tmp_path / "b" / "report.json").read_text())
    assert any(w.startswith("fixed point (compressed model)") for w in rep["warnings"])
    assert "fixed_point" in rep["accuracy"]
    assert "Fixed point costs" in (tmp_path / "b" / "report.md").read_text()
