"""Conv nets in the compressor: ONNX graphs (built with onnx.helper and exported by PyTorch) and
nn.Sequentials read into conv layers, the float model against PyTorch, a whole quick flow on
a small conv net, and every refusal (groups, dilation, a kernel larger than its input, an image
size that does not fit, an unsupported op, a conv state_dict): `eie compress` exits 2 with one
`eie: error:` line and leaves no output folder."""

import json

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from compress.api import compress, model_layers
from compress.convnet import ConvNet, network_of
from compress.loader import ConvLayer, ShapeMismatchError, UnsupportedLayerError, load_network
from compress.torch_model import layers_from_module
from eie.cli import main
from eie.golden import GoldenModel
from eie.images import read_images
from eie.network import Conv, Dense, Flatten, Pool

SEED = 7
QUICK = dict(prune_steps=1, prune_epochs=1, finetune_epochs=1, progress=False)


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr, np.float32), name)


def flat_size(nodes, inits, in_shape) -> int:
    """The flattened size ONNX's shape inference gives the graph so far (output ``f``), so a graph
    that is wrong for eie-gen (a dilated conv, a kernel larger than its input) still passes the checker."""
    g = helper.make_graph(nodes, "part", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                          [helper.make_tensor_value_info("f", TensorProto.FLOAT, None)], inits)
    m = onnx.shape_inference.infer_shapes(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    dim = m.graph.output[0].type.tensor_type.shape.dim[1]
    return dim.dim_value if dim.HasField("dim_value") else 48


def conv_graph(path, *, conv_attrs=None, pool="MaxPool", pool_attrs=None, extra=None, in_shape=(1, 1, 8, 8),
               relu_after_pool=False, w_shape=(3, 1, 3, 3)):
    """x (1x8x8) -> Conv 3@3x3 pad 1 -> [Relu] -> pool 2x2/2 -> [Relu] -> Flatten -> Gemm 10."""
    rng = np.random.default_rng(SEED)
    print("seed", SEED)
    ca = dict(kernel_shape=list(w_shape[2:]), pads=[1, 1, 1, 1], strides=[1, 1])
    ca.update(conv_attrs or {})
    pa = dict(kernel_shape=[2, 2], strides=[2, 2])
    pa.update(pool_attrs or {})
    nodes = [helper.make_node("Conv", ["x", "c.weight", "c.bias"], ["c"], name="conv", **ca)]
    cur = "c"
    if not relu_after_pool:
        nodes.append(helper.make_node("Relu", [cur], ["r"], name="relu"))
        cur = "r"
    nodes.append(helper.make_node(pool, [cur], ["p"], name="pool", **pa))
    cur = "p"
    if relu_after_pool:
        nodes.append(helper.make_node("Relu", [cur], ["r2"], name="relu_after"))
        cur = "r2"
    if extra:
        nodes.append(helper.make_node(extra, [cur], ["e"], name="odd"))
        cur = "e"
    nodes.append(helper.make_node("Flatten", [cur], ["f"], name="flat", axis=1))
    inits = [init("c.weight", rng.normal(0, 0.5, w_shape)), init("c.bias", rng.normal(0, 0.1, w_shape[0]))]
    n_flat = flat_size(nodes, inits, in_shape)
    nodes.append(helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="fc", transB=1))
    inits += [init("fc.weight", rng.normal(0, 0.3, (10, n_flat))), init("fc.bias", np.zeros(10))]
    g = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [in_shape[0], 10])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(m, str(path))
    return path


def small_cnn():
    torch.manual_seed(SEED)
    print("seed", SEED)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, stride=1),
                         nn.ReLU(), nn.AvgPool2d(2, stride=1, padding=1, count_include_pad=False), nn.Flatten(),
                         nn.Linear(6 * 3 * 3, 12), nn.ReLU(), nn.Linear(12, 10))


# ---- reading --------------------------------------------------------------------------------------

def test_onnx_conv_graph(tmp_path):
    layers, shape = load_network(conv_graph(tmp_path / "m.onnx"))
    assert shape == (1, 8, 8)
    c, fc = layers
    assert isinstance(c, ConvLayer) and c.relu and c.in_shape == (1, 8, 8) and c.pads == (1, 1, 1, 1)
    assert c.pools == [Pool("max", (2, 2), (2, 2))]
    assert network_of(layers).ops == (Conv(0, 3, (3, 3), (1, 1), (1, 1, 1, 1)), Pool("max", (2, 2), (2, 2)),
                                       Flatten(), Dense(1))
    # A Relu after a MaxPool belongs to the conv (they commute).
    layers, _ = load_network(conv_graph(tmp_path / "m2.onnx", relu_after_pool=True))
    assert layers[0].relu


def test_pytorch_export_matches_the_sequential(tmp_path):
    model = small_cnn().eval()
    torch.onnx.export(model, (torch.zeros(1, 1, 8, 8),), str(tmp_path / "cnn.onnx"))   # the dynamo exporter
    a, shape = load_network(tmp_path / "cnn.onnx")
    b, shape_b = layers_from_module(model, (1, 8, 8))
    assert shape == shape_b == (1, 8, 8)
    for x, y in zip(a, b):
        assert type(x) is type(y) and x.relu == y.relu
        assert np.array_equal(x.weight, y.weight) and np.array_equal(x.bias, y.bias)
        if isinstance(x, ConvLayer):
            assert (x.stride, x.pads, x.pools, x.in_shape) == (y.stride, y.pads, y.pools, y.in_shape)
    # The float model of the layers is the Sequential.
    xs = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(ConvNet(a)(xs.reshape(5, -1)), model(xs))


def test_sequential_same_padding_and_asymmetric_onnx_pads(tmp_path):
    torch.manual_seed(SEED)
    model = nn.Sequential(nn.Conv2d(2, 3, (4, 3), padding="same"), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 5, 4))
    layers, _ = layers_from_module(model, (2, 6, 5))
    assert layers[0].pads == (1, 1, 2, 1)          # PyTorch puts the odd one at the end
    xs = torch.rand(3, 2, 6, 5)
    with torch.no_grad():
        torch.testing.assert_close(ConvNet(layers)(xs), model(xs))
    layers, _ = load_network(conv_graph(tmp_path / "a.onnx", conv_attrs=dict(pads=[0, 1, 2, 1]),
                                        pool_attrs=dict(kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 0, 0])))
    assert layers[0].pads == (0, 1, 2, 1) and network_of(layers).shapes([3, 10])[1][2] == (3, 4, 4)
    assert layers[0].pools == [Pool("max", (3, 2), (2, 2), (1, 0, 0, 0))]


def test_api_takes_the_image_shape_from_the_data():
    digits_x = np.random.default_rng(SEED).random((30, 1, 8, 8)).astype(np.float32)
    layers, shape, _ = model_layers(small_cnn(), (1, 8, 8))
    assert shape == (1, 8, 8) and len(layers) == 4
    with pytest.raises(UnsupportedLayerError, match="does not say its image size: give input_shape"):
        model_layers(small_cnn())
    with pytest.raises(UnsupportedLayerError, match="ReLU\\) follows an AvgPool2d"):
        layers_from_module(nn.Sequential(nn.Conv2d(1, 2, 3), nn.AvgPool2d(2), nn.ReLU(), nn.Flatten(),
                                         nn.Linear(18, 2)), (1, 8, 8))
    with pytest.raises(UnsupportedLayerError, match="put an nn.Flatten\\(\\) before it"):
        layers_from_module(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(6, 2)), (1, 8, 8))
    with pytest.raises(UnsupportedLayerError, match="groups = 2"):
        layers_from_module(nn.Sequential(nn.Conv2d(2, 2, 3, groups=2), nn.Flatten(), nn.Linear(72, 2)), (2, 8, 8))
    with pytest.raises(ShapeMismatchError, match="takes 50 inputs but receives 72"):
        layers_from_module(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(50, 2)), (1, 8, 8))
    assert digits_x.shape[1:] == (1, 8, 8)


# ---- refusals through the CLI ----------------------------------------------------------------------

@pytest.fixture
def data8(tmp_path):
    rng = np.random.default_rng(SEED)
    x = rng.random((40, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 40)
    np.savez(tmp_path / "data.npz", x_train=x[:30], y_train=y[:30], x_test=x[30:], y_test=y[30:])
    np.savez(tmp_path / "wrong.npz", x_train=rng.random((30, 1, 16, 4)).astype(np.float32), y_train=y[:30],
             x_test=x[30:], y_test=y[30:])
    return tmp_path


def refused(tmp_path, model, data, capsys, out="out"):
    code = main(["compress", str(model), "--data", str(data), "--config", "tiny", "--out", str(tmp_path / out),
                 "--quiet", "--density", "50%", "--prune-steps", "1", "--prune-epochs", "0",
                 "--finetune-epochs", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not (tmp_path / out).exists()
    assert len(err) == 1 and err[0].startswith("eie: error: "), err
    return err[0]


@pytest.mark.parametrize("kw, fragment", [
    (dict(conv_attrs=dict(group=1, dilations=[2, 2])), "dilations [2, 2]: only dilation 1"),
    (dict(conv_attrs=dict(pads=[0, 0, 0, 0]), w_shape=(3, 1, 9, 9)), "kernel 9x9 is larger than its input 8x8"),
    (dict(extra="LRN"), "unsupported op 'LRN' at node 'odd'"),
    (dict(pool="AveragePool", relu_after_pool=True), "Relu after an AveragePool is not supported"),
    (dict(pool_attrs=dict(ceil_mode=1)), "ceil_mode = 1 is not supported"),
    (dict(in_shape=("N", 1, "H", 8)), "needs a known (C, H, W) input shape"),
])
def test_bad_conv_graphs(tmp_path, data8, capsys, kw, fragment):
    if kw.get("extra") == "LRN":
        kw = dict(kw)
        path = tmp_path / "m.onnx"
        conv_graph(path, **{k: v for k, v in kw.items() if k != "extra"})
        m = onnx.load(str(path))      # an LRN (normalisation) between the pool and the flatten
        nodes = list(m.graph.node)
        nodes.insert(3, helper.make_node("LRN", ["p"], ["e"], name="odd", size=3))
        nodes[4].input[0] = "e"
        del m.graph.node[:]
        m.graph.node.extend(nodes)
        onnx.save(m, str(path))
    else:
        path = conv_graph(tmp_path / "m.onnx", **kw)
    msg = refused(tmp_path, path, data8 / "data.npz", capsys)
    assert fragment in msg, msg


def test_grouped_conv_is_refused(tmp_path, data8, capsys):
    # A grouped conv's weights have C / group input channels: a 2-channel image, group 2.
    path = conv_graph(tmp_path / "g.onnx", conv_attrs=dict(group=2), w_shape=(4, 1, 3, 3), in_shape=(1, 2, 8, 8))
    np.savez(tmp_path / "d2.npz", x_train=np.zeros((4, 2, 8, 8), np.float32), y_train=np.zeros(4, int),
             x_test=np.zeros((2, 2, 8, 8), np.float32), y_test=np.zeros(2, int))
    assert "group = 2; only group = 1" in refused(tmp_path, path, tmp_path / "d2.npz", capsys)


def test_image_size_that_does_not_fit(tmp_path, data8, capsys):
    # 1x16x4 holds 64 values like the model's 1x8x8, but it is another image.
    msg = refused(tmp_path, conv_graph(tmp_path / "m.onnx"), data8 / "wrong.npz", capsys)
    assert "x_train has samples of shape (1, 16, 4); the model takes 1x8x8 images" in msg


def test_conv_state_dict_points_to_onnx(tmp_path, data8, capsys):
    torch.save(small_cnn().state_dict(), tmp_path / "cnn.pt")
    msg = refused(tmp_path, tmp_path / "cnn.pt", data8 / "data.npz", capsys)
    assert "a 2-D convolution" in msg and "export the model to ONNX" in msg and "compress.api.compress" in msg


# ---- a quick flow -------------------------------------------------------------------------------------

def test_quick_flow_on_a_small_cnn(tmp_path):
    from compress.data import load_dataset

    d = load_dataset("digits")
    result = compress(small_cnn(), train=(d.x_train.reshape(-1, 1, 8, 8), d.y_train), test=(d.x_test, d.y_test),
                      config="tiny", out=tmp_path / "cnn", densities=(0.5, 0.5, 0.5, 0.8), **QUICK)
    assert [q.indices.shape for q in result.quantized] == [(4, 9), (6, 36), (12, 54), (10, 12)]
    imgs = read_images(tmp_path / "cnn" / "images", result.cfg)
    assert imgs.network == result.program.network and imgs.network.input_shape == (1, 8, 8)
    golden = GoldenModel(imgs)
    from eie import numerics
    acc = 100 * np.mean(golden.run(numerics.act_from_float(d.x_test, result.cfg)).argmax(1) == d.y_test)
    assert acc == result.accuracy["fixed_point"]
    rep = json.loads((tmp_path / "cnn" / "report.json").read_text())
    assert [l["kind"] for l in rep["layers"]] == ["conv", "conv", "fc", "fc"]
    assert rep["network"]["input_shape"] == [1, 8, 8]
    md = (tmp_path / "cnn" / "report.md").read_text()
    assert "0 (conv 4@3x3, 9x4)" in md and "conv net on the array: 1x8x8 -> conv 4@3x3 pad 1,1,1,1" in md


def test_paper_codebook_bits(tmp_path):
    """--codebook-bits paper: 8-bit codebooks for conv layers, 5-bit for fully connected ones,
    within the config's v_bits (refused on a 4-bit config)."""
    from compress.data import load_dataset
    from compress.pipeline import OptionError
    from eie.config import PRESETS

    d = load_dataset("digits")
    args = dict(train=(d.x_train.reshape(-1, 1, 8, 8), d.y_train), test=(d.x_test, d.y_test),
                densities=(0.5, 0.5, 0.5, 0.8), codebook_bits="paper", **QUICK)
    with pytest.raises(OptionError, match="the paper's 8-bit conv codebooks need a config with v_bits = 8"):
        compress(small_cnn(), config="tiny", **args)
    result = compress(small_cnn(), config=PRESETS["tiny"].replace(v_bits=8), out=tmp_path / "p", **args)
    assert [len(c.codebook) - 1 for c in result.codes] == [255, 255, 31, 31]
    rep = json.loads((tmp_path / "p" / "report.json").read_text())
    assert [l["weight_bits_pq"] for l in rep["layers"]] == [8, 8, 5, 5]
    assert rep["accuracy"]["fixed_point"] == result.accuracy["fixed_point"]
