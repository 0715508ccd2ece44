"""Acceptance: models not built by the project's training code, compressed with their own data and no
--density, as a state_dict/.npz and as ONNX, with the same result.

* a PyTorch nn.Sequential (784-100-10) trained here with a plain loop on the MNIST subset, exported
  with torch.onnx.export (the same layers as its state_dict): fixed-point accuracy within 0.5 point
  of its dense accuracy on its own test split (1000 images: one image is 0.1 point);
* a scikit-learn MLPClassifier (64-37-10) on sklearn's digits, converted to an .npz and to an ONNX
  graph built with onnx.helper (360 test images: one image is 0.28 point, so the 0.5-point budget
  is within one image; the test asserts the report's figures and its warning when it is missed).
"""

import json
import warnings

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from compress.data import load_dataset, split_validation
from eie.cli import main

SEED = 0


def run_cli(model, data, out):
    assert main(["compress", str(model), "--data", str(data), "--config", "eie", "--out", str(out), "--quiet"]) == 0
    return json.loads((out / "report.json").read_text())


def same_result(a: dict, b: dict, out_a, out_b):
    assert a["accuracy"] == b["accuracy"] and a["densities"] == b["densities"]
    assert a["validation_accuracy"] == b["validation_accuracy"]
    ca, cb = np.load(out_a / "compressed.npz"), np.load(out_b / "compressed.npz")
    assert len(ca.files) == len(cb.files)
    for ka, kb in zip(ca.files, cb.files):
        assert np.array_equal(ca[ka], cb[kb]), (ka, kb)


@pytest.fixture(scope="module")
def torch_mlp(tmp_path_factory):
    """A 784-100-10 nn.Sequential trained with plain PyTorch; its data file holds a validation split."""
    print(f"seed {SEED}")
    folder = tmp_path_factory.mktemp("torch_mlp")
    mnist = load_dataset("mnist")
    tr, va = split_validation(mnist.y_train, 0.15, SEED)
    x_tr, y_tr = mnist.x_train[tr].reshape(-1, 1, 28, 28), mnist.y_train[tr]
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.tensor(x_tr), torch.tensor(y_tr)
    gen = torch.Generator().manual_seed(SEED)
    for _ in range(15):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    torch.save(model.state_dict(), folder / "mlp.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), str(folder / "mlp.onnx"), dynamo=False)
    # Images as (N, 1, 28, 28) for train; flattened test and validation are reshaped as needed.
    np.savez(folder / "data.npz", x_train=x_tr, y_train=y_tr, x_val=mnist.x_train[va], y_val=mnist.y_train[va],
             x_test=mnist.x_test, y_test=mnist.y_test)
    return folder


def test_torch_sequential_as_onnx_within_half_a_point(torch_mlp, tmp_path):
    from compress.loader import load_network

    # The exported ONNX file and the state_dict hold the same layers, bit for bit; the flow is
    # deterministic (test_compress_pipeline.py::test_deterministic), so one full run serves both
    # (the scikit-learn test below runs both files through the whole flow).
    pt_layers, _ = load_network(torch_mlp / "mlp.pt")
    onnx_layers, shape = load_network(torch_mlp / "mlp.onnx")
    assert shape == (1, 28, 28)
    for a, b in zip(pt_layers, onnx_layers):
        assert a.name == b.name and a.relu == b.relu
        assert np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)
    rep = run_cli(torch_mlp / "mlp.onnx", torch_mlp / "data.npz", tmp_path / "onnx")
    acc = rep["accuracy"]
    print("densities", rep["densities"], "accuracy", acc, "ratio", rep["total"]["ratio_pqh"])
    assert rep["density_source"] == "automatic" and rep["data"]["validation_source"] == "x_val/y_val of the data file"
    assert rep["data"]["test"] == 1000 and "cross-entropy" in rep["data"]["task"]
    assert acc["fixed_point"] >= acc["dense"] - 0.5
    assert rep["total"]["kept_pct"] < 30 and rep["total"]["ratio_pqh"] > 20
    assert not rep["warnings"] and rep["input_shape"] == [1, 28, 28]


def sklearn_files(folder, seed=SEED):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    print(f"seed {seed}")
    d = load_digits()
    x = d.data / 16.0
    x_tr, x_te, y_tr, y_te = train_test_split(x, d.target, test_size=0.2, stratify=d.target, random_state=seed)
    x_tr, x_va, y_tr, y_va = train_test_split(x_tr, y_tr, test_size=0.15, stratify=y_tr, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier(hidden_layer_sizes=(37,), max_iter=1000, random_state=seed).fit(x_tr, y_tr)
    w1, w2 = clf.coefs_[0].T.astype(np.float32), clf.coefs_[1].T.astype(np.float32)
    b1, b2 = clf.intercepts_[0].astype(np.float32), clf.intercepts_[1].astype(np.float32)
    np.savez(folder / "mlp.npz", **{"hidden.weight": w1, "hidden.bias": b1, "out.weight": w2, "out.bias": b2})
    nodes = [helper.make_node("Gemm", ["x", "hidden.weight", "hidden.bias"], ["h"], name="hidden", transB=1),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("Gemm", ["r", "out.weight", "out.bias"], ["y"], name="out", transB=1)]
    inits = [numpy_helper.from_array(a, n) for n, a in
             (("hidden.weight", w1), ("hidden.bias", b1), ("out.weight", w2), ("out.bias", b2))]
    graph = helper.make_graph(nodes, "sklearn_mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(folder / "mlp.onnx"))
    np.savez(folder / "data.npz", x_train=x_tr, y_train=y_tr, x_val=x_va, y_val=y_va, x_test=x_te, y_test=y_te)
    return 100 * clf.score(x_te, y_te)


def test_sklearn_mlp_own_data_and_onnx_agrees(tmp_path):
    sk_acc = sklearn_files(tmp_path)
    rep = run_cli(tmp_path / "mlp.npz", tmp_path / "data.npz", tmp_path / "npz")
    acc = rep["accuracy"]
    print("densities", rep["densities"], "accuracy", acc, "warnings", rep["warnings"])
    assert acc["dense"] == pytest.approx(sk_acc)          # the model as scikit-learn scores it
    assert rep["density_source"] == "automatic" and rep["total"]["kept_pct"] < 60
    drop = acc["dense"] - acc["fixed_point"]
    assert drop <= 1.5                                     # five test images at most
    missed = [w for w in rep["warnings"] if "misses the accuracy budget" in w]
    assert bool(missed) == (drop > 0.5 + 1e-9)
    onnx_rep = run_cli(tmp_path / "mlp.onnx", tmp_path / "data.npz", tmp_path / "onnx")
    same_result(rep, onnx_rep, tmp_path / "npz", tmp_path / "onnx")
