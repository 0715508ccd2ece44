"""Your own data: the .npz data file, its checks, and every bad input through `eie compress`.

Each bad input: exit status 2, one `eie: error:` line naming the key and the problem, and no
output folder (nor a hidden temporary one) left behind.
"""

import collections

import numpy as np
import pytest

from compress.data import with_validation
from compress.datafile import (DataShapeError, LabelError, MissingKeyError, NonFiniteDataError,
                               dataset_from_arrays)
from eie.cli import main

SEED = 0


def model_file(tmp_path, sizes=(12, 6, 3)):
    print(f"seed {SEED}")
    rng = np.random.default_rng(SEED)
    state = collections.OrderedDict()
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        state[f"fc{i + 1}.weight"] = rng.normal(size=(b, a)).astype(np.float32) * 0.3
        state[f"fc{i + 1}.bias"] = rng.normal(size=b).astype(np.float32) * 0.1
    path = tmp_path / "m.npz"
    np.savez(path, **state)
    return path


def arrays(n_train=60, n_test=30, shape=(12,), classes=3, seed=SEED):
    rng = np.random.default_rng(seed)
    return {"x_train": rng.random((n_train, *shape)), "y_train": rng.integers(0, classes, n_train),
            "x_test": rng.random((n_test, *shape)), "y_test": rng.integers(0, classes, n_test)}


def run_bad(tmp_path, capsys, data: dict, extra=()):
    model = model_file(tmp_path)
    np.savez(tmp_path / "data.npz", **data)
    out = tmp_path / "out"
    code = main(["compress", str(model), "--data", str(tmp_path / "data.npz"), "--config", "tiny",
                 "--out", str(out), "--quiet", "--density", "50%", "--prune-steps", "1", "--prune-epochs", "1",
                 "--finetune-epochs", "1", *extra])
    assert code == 2
    assert not out.exists() and not list(tmp_path.glob(".out*"))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("eie: error: "), err
    return err[0]


def test_good_file_runs(tmp_path, capsys):
    model = model_file(tmp_path)
    np.savez(tmp_path / "data.npz", **arrays())
    out = tmp_path / "out"
    assert main(["compress", str(model), "--data", str(tmp_path / "data.npz"), "--config", "tiny", "--out",
                 str(out), "--quiet", "--density", "50%", "--prune-steps", "1", "--prune-epochs", "1",
                 "--finetune-epochs", "1"]) == 0
    md = (out / "report.md").read_text()
    assert "data file" in md and "cross-entropy" in md and "On the test split of data file" in md


@pytest.mark.parametrize("change,kind,fragment", [
    (lambda d: d.pop("y_test"), MissingKeyError, "missing y_test"),
    (lambda d: d.update(x_valid=d["x_train"]), MissingKeyError, "unknown key(s) x_valid"),
    (lambda d: d.update(x_val=d["x_train"][:5]), MissingKeyError, "x_val without y_val"),
    (lambda d: d.update(x_train=d["x_train"][:, :11]), DataShapeError, "x_train has samples of shape (11,)"),
    (lambda d: d.update(y_train=d["y_train"][:-1]), DataShapeError, "y_train has 59 labels for 60 samples"),
    (lambda d: d.update(y_test=np.r_[d["y_test"][:-1], 3]), LabelError, "outside 0 .. 2"),
    (lambda d: d.update(y_train=d["y_train"] + 0.5), LabelError, "not whole numbers, the first 0.5"),
    (lambda d: d.update(y_train=np.eye(3)[d["y_train"]]), LabelError, "one-hot"),
    (lambda d: d.update(y_train=d["y_train"].astype(str)), LabelError, "labels are integer class indices"),
    (lambda d: d["x_test"].__setitem__((4, 7), np.nan), NonFiniteDataError, "x_test contains 1 NaN/Inf value(s), the first at index (4, 7)"),
    (lambda d: d["x_train"].__setitem__((2, 1), np.inf), NonFiniteDataError, "x_train contains 1 NaN/Inf"),
])
def test_bad_data(tmp_path, capsys, change, kind, fragment):
    data = arrays()
    change(data)
    with pytest.raises(kind) as e:
        dataset_from_arrays(data, (12,), 3, source="data.npz")
    assert fragment in str(e.value)
    assert fragment in run_bad(tmp_path, capsys, data)


def test_unreadable_data_file(tmp_path, capsys):
    model = model_file(tmp_path)
    (tmp_path / "data.npz").write_bytes(b"not a zip")
    for target, fragment in ((tmp_path / "data.npz", "cannot read data file"), (tmp_path / "none.npz", "does not exist")):
        assert main(["compress", str(model), "--data", str(target), "--config", "tiny", "--out",
                     str(tmp_path / "out"), "--quiet"]) == 2
        assert fragment in capsys.readouterr().err
        assert not (tmp_path / "out").exists()


def test_flattened_and_shaped_samples_are_reshaped():
    # A model taking 12 inputs accepts (N, 12) and (N, 3, 4); a model whose input shape is (3, 4)
    # (an ONNX file with Flatten) accepts flattened (N, 12).
    shaped = arrays(shape=(3, 4))
    a = dataset_from_arrays(shaped, (12,), 3)
    b = dataset_from_arrays({k: (v.reshape(len(v), -1) if k.startswith("x") else v) for k, v in shaped.items()},
                            (3, 4), 3)
    assert a.x_train.shape == (60, 12) and np.array_equal(a.x_train, b.x_train) and b.input_shape == (3, 4)
    # Whole-number float labels are fine.
    c = dataset_from_arrays({**shaped, "y_train": shaped["y_train"].astype(float)}, (12,), 3)
    assert c.y_train.dtype == np.int64 and np.array_equal(c.y_train, shaped["y_train"])


def test_validation_split_carved_or_given():
    d = dataset_from_arrays(arrays(n_train=100), (12,), 3)
    v = with_validation(d)
    assert len(v.y_val) == 15 and len(v.y_train) == 85 and "held out" in v.validation
    # No sample is in both.
    rows = {tuple(r) for r in v.x_train}
    assert not any(tuple(r) for r in v.x_val if tuple(r) in rows)
    given = dataset_from_arrays({**arrays(), "x_val": np.zeros((5, 12)), "y_val": np.zeros(5, int)}, (12,), 3)
    assert with_validation(given) is given and given.validation == "x_val/y_val of the data file"


def test_input_out_of_the_activation_range(tmp_path, capsys):
    # Q8.8 activations hold -128 .. 127.996: raw pixel values 0..255 saturate.
    data = arrays()
    data["x_train"] = data["x_train"] * 255
    msg = run_bad(tmp_path, capsys, data)
    assert "inputs:" in msg and "outside the activation format Q8.8" in msg and "--allow-fixed-point-loss" in msg
