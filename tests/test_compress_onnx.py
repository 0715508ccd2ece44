"""ONNX models: graphs built with onnx.helper and exported by torch.onnx.export, and every refusal.

Each refusal is an `eie compress` exit status 2 with one `eie: error:` line naming the op
and node, and no output folder left behind.
"""

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from compress.loader import (NonFiniteWeightsError, ShapeMismatchError, UnreadableModelError,
                             UnsupportedLayerError, load_network)
from eie.cli import main

SEED = 0


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def graph_model(nodes, inits, in_shape=("N", 6), out_shape=("N", 3), path=None):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    if path is not None:
        onnx.save(m, str(path))
    return m


def weights(seed=SEED):
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(4, 6)).astype(np.float32), rng.normal(size=4).astype(np.float32),
            rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=3).astype(np.float32))


def test_gemm_relu_gemm(tmp_path):
    w1, b1, w2, b2 = weights()
    nodes = [helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h"], name="g1", transB=1),
             helper.make_node("Relu", ["h"], ["r"], name="r1"),
             helper.make_node("Gemm", ["r", "w2t", "fc2.bias"], ["y"], name="g2", alpha=0.5, beta=2.0)]
    graph_model(nodes, [init("fc1.weight", w1), init("fc1.bias", b1), init("w2t", w2.T), init("fc2.bias", b2)],
                path=tmp_path / "m.onnx")
    layers, shape = load_network(tmp_path / "m.onnx")
    assert shape == (6,) and [l.name for l in layers] == ["fc1", "g2"] and [l.relu for l in layers] == [True, False]
    assert np.allclose(layers[0].weight, w1) and np.allclose(layers[0].bias, b1)
    assert np.allclose(layers[1].weight, 0.5 * w2) and np.allclose(layers[1].bias, 2 * b2)


def test_flatten_matmul_add_batch_fixed_at_one(tmp_path):
    # An input of shape (1, 2, 3): the batch is fixed at 1, a sample is 2x3 and gets flattened.
    w1, b1, w2, b2 = weights()
    nodes = [helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(np.array([1, -1]))),
             helper.make_node("Reshape", ["x", "shape"], ["f"], name="flat"),
             helper.make_node("MatMul", ["f", "w1"], ["m1"], name="mm1"),
             helper.make_node("Add", ["b1", "m1"], ["h"], name="add1"),
             helper.make_node("Relu", ["h"], ["r"], name="relu1"),
             helper.make_node("MatMul", ["r", "w2"], ["y"], name="mm2")]
    graph_model(nodes, [init("w1", w1.T), init("b1", b1), init("w2", w2.T)], in_shape=(1, 2, 3),
                out_shape=(1, 3), path=tmp_path / "m.onnx")
    layers, shape = load_network(tmp_path / "m.onnx")
    assert shape == (2, 3) and [l.name for l in layers] == ["mm1", "mm2"]
    assert np.allclose(layers[0].bias, b1) and np.array_equal(layers[1].bias, np.zeros(3))
    assert [l.relu for l in layers] == [True, False]


def exported(tmp_path, dynamo):
    torch.manual_seed(SEED)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 12), nn.ReLU(), nn.Linear(12, 10)).eval()
    path = tmp_path / f"export_{dynamo}.onnx"
    torch.onnx.export(model, (torch.zeros(1, 1, 8, 8),), str(path), dynamo=dynamo)
    return model, path


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_torch_onnx_export(tmp_path, dynamo):
    if dynamo:
        pytest.importorskip("onnxscript", reason="the dynamo exporter needs onnxscript")
    model, path = exported(tmp_path, dynamo)
    layers, shape = load_network(path)
    assert shape == (1, 8, 8) and [l.relu for l in layers] == [True, False]
    sd = model.state_dict()
    assert np.array_equal(layers[0].weight, sd["1.weight"].numpy())
    assert np.array_equal(layers[1].bias, sd["3.bias"].numpy())
    assert [l.name for l in layers] == ["1", "3"]


def refused(tmp_path, model, capsys):
    path = tmp_path / "bad.onnx"
    onnx.save(model, str(path))
    out = tmp_path / "out"
    assert main(["compress", str(path), "--config", "tiny", "--out", str(out), "--one-shot", "--quiet"]) == 2
    assert not out.exists() and not list(tmp_path.glob(".out*"))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("eie: error: ")
    return err[0]


def test_unsupported_op_names_op_and_node(tmp_path, capsys):
    w1, b1, w2, b2 = weights()
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="g1", transB=1),
             helper.make_node("Sigmoid", ["h"], ["s"], name="act1"),
             helper.make_node("Gemm", ["s", "w2", "b2"], ["y"], name="g2", transB=1)]
    m = graph_model(nodes, [init("w1", w1), init("b1", b1), init("w2", w2), init("b2", b2)])
    msg = refused(tmp_path, m, capsys)
    assert "unsupported op 'Sigmoid' at node 'act1'" in msg and "Gemm" in msg


def test_residual_add_is_refused(tmp_path, capsys):
    w = np.eye(6, dtype=np.float32)
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="g1"),
             helper.make_node("Add", ["h", "x"], ["y"], name="skip")]
    m = graph_model(nodes, [init("w", w), init("b", np.zeros(6, np.float32))], out_shape=("N", 6))
    assert "node 'skip' (Add)" in refused(tmp_path, m, capsys)


def test_file_failing_the_checker_is_refused(tmp_path, capsys):
    w1, b1, _, _ = weights()
    # Gemm's B is (4, 6) without transB: the shapes don't multiply, so shape inference fails.
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["y"], name="g1")]
    m = graph_model(nodes, [init("w1", w1), init("b1", b1)], out_shape=("N", 4))
    assert "fails onnx.checker" in refused(tmp_path, m, capsys)


def test_not_an_onnx_file(tmp_path):
    (tmp_path / "x.onnx").write_bytes(b"\x00garbage\xff" * 10)
    with pytest.raises(UnreadableModelError, match="ONNX|onnx.checker"):
        load_network(tmp_path / "x.onnx")
    with pytest.raises(UnreadableModelError, match="does not exist"):
        load_network(tmp_path / "missing.onnx")


def test_layout_errors(tmp_path):
    w1, b1, w2, b2 = weights()
    # A Relu before any layer, a Flatten that merges the batch, NaN weights, mismatched sizes.
    cases = [
        ([helper.make_node("Relu", ["x"], ["r"], name="pre"),
          helper.make_node("Gemm", ["r", "w1", "b1"], ["y"], name="g", transB=1)], UnsupportedLayerError, "pre"),
        ([helper.make_node("Flatten", ["x"], ["f"], name="fl", axis=0),
          helper.make_node("Gemm", ["f", "w1", "b1"], ["y"], name="g", transB=1)], UnsupportedLayerError, "axis = 0"),
    ]
    for nodes, err, text in cases:
        graph_model(nodes, [init("w1", w1), init("b1", b1)], out_shape=("N", 4), path=tmp_path / "m.onnx")
        with pytest.raises(err, match=text):
            load_network(tmp_path / "m.onnx")
    bad = w1.copy()
    bad[1, 2] = np.nan
    graph_model([helper.make_node("Gemm", ["x", "w1", "b1"], ["y"], name="g", transB=1)],
                [init("w1", bad), init("b1", b1)], out_shape=("N", 4), path=tmp_path / "m.onnx")
    with pytest.raises(NonFiniteWeightsError, match=r"\(1, 2\)"):
        load_network(tmp_path / "m.onnx")
    # Unknown sample shape: the sizes are checked when the layers meet.
    graph_model([helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="g1", transB=1),
                 helper.make_node("Gemm", ["h", "w1b", "b1"], ["y"], name="g2", transB=1)],
                [init("w1", w1), init("b1", b1), init("w1b", np.ones((4, 5), np.float32))],
                in_shape=("N", "F"), out_shape=("N", 4), path=tmp_path / "m.onnx")
    with pytest.raises((ShapeMismatchError, UnreadableModelError)):
        load_network(tmp_path / "m.onnx")
