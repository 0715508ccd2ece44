"""Model files: the .pt/.npz convention, and every kind of bad input through `eie compress`.

Each bad input must give a clear `ModelError` naming the tensor or file, a nonzero exit
from the CLI, and no output folder (nor a hidden temporary one) left behind.
"""

import collections

import numpy as np
import pytest
import torch

from compress.loader import (NonFiniteWeightsError, ShapeMismatchError, UnreadableModelError,
                             UnsupportedLayerError, load_model, save_model)
from eie.cli import main


def mlp_state(sizes=(64, 32, 10), seed=0):
    rng = np.random.default_rng(seed)
    state = collections.OrderedDict()
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        state[f"fc{i + 1}.weight"] = rng.normal(size=(b, a)).astype(np.float32) * 0.1
        state[f"fc{i + 1}.bias"] = rng.normal(size=b).astype(np.float32) * 0.1
    return state


def write(path, state):
    if path.suffix == ".npz":
        np.savez(path, **state)
    else:
        torch.save(collections.OrderedDict((k, torch.as_tensor(v)) for k, v in state.items()), path)
    return path


@pytest.mark.parametrize("suffix", [".pt", ".npz"])
def test_round_trip_and_order(tmp_path, suffix):
    layers = load_model(write(tmp_path / f"m{suffix}", mlp_state((20, 7, 5, 3))))
    assert [l.name for l in layers] == ["fc1", "fc2", "fc3"]
    assert [l.shape for l in layers] == [(7, 20), (5, 7), (3, 5)]
    assert [l.relu for l in layers] == [True, True, False]
    save_model(layers, tmp_path / f"again{suffix}")
    again = load_model(tmp_path / f"again{suffix}")
    for a, b in zip(layers, again):
        assert a.name == b.name and np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)


def test_file_order_not_alphabetical(tmp_path):
    # "out" before "hidden" alphabetically; the file order (hidden first) is what counts.
    state = collections.OrderedDict([("hidden.weight", np.ones((4, 6), np.float32)),
                                     ("hidden.bias", np.zeros(4, np.float32)),
                                     ("out.weight", np.ones((2, 4), np.float32))])
    for suffix in (".pt", ".npz"):
        layers = load_model(write(tmp_path / f"m{suffix}", state))
        assert [l.name for l in layers] == ["hidden", "out"]
        assert np.array_equal(layers[1].bias, np.zeros(2))   # a missing bias is zero


def test_wrapped_state_dict_and_dotted_names(tmp_path):
    sd = collections.OrderedDict([("net.0.weight", torch.ones(3, 5)), ("net.0.bias", torch.zeros(3)),
                                  ("net.2.weight", torch.ones(2, 3)), ("net.2.bias", torch.zeros(2))])
    torch.save({"state_dict": sd, "epoch": 3}, tmp_path / "m.pt")
    assert [l.name for l in load_model(tmp_path / "m.pt")] == ["net.0", "net.2"]


# ---- bad inputs -----------------------------------------------------------------------------

def nan_state():
    s = mlp_state()
    s["fc2.weight"][3, 4] = np.nan
    return s


def inf_state():
    s = mlp_state()
    s["fc1.bias"][5] = np.inf
    return s


def conv_state():
    s = collections.OrderedDict([("conv1.weight", np.ones((6, 1, 5, 5), np.float32)),
                                 ("conv1.bias", np.zeros(6, np.float32))])
    s.update(mlp_state())
    return s


def batchnorm_state():
    s = mlp_state()
    s2 = collections.OrderedDict()
    for k, v in s.items():
        s2[k] = v
        if k == "fc1.bias":
            s2["bn1.running_mean"] = np.zeros(32, np.float32)
            s2["bn1.running_var"] = np.ones(32, np.float32)
    return s2


def norm_weight_state():
    s = collections.OrderedDict([("ln.weight", np.ones(64, np.float32)), ("ln.bias", np.zeros(64, np.float32))])
    s.update(mlp_state())
    return s


def chain_state():
    s = mlp_state()
    s["fc2.weight"] = np.ones((10, 31), np.float32)
    return s


def bias_state():
    s = mlp_state()
    s["fc1.bias"] = np.zeros(33, np.float32)
    return s


BAD = [
    # (case, build, suffix, error class, message fragments)
    ("nan", nan_state, ".pt", NonFiniteWeightsError, ["'fc2.weight'", "NaN/Inf", "(3, 4)"]),
    ("inf", inf_state, ".npz", NonFiniteWeightsError, ["'fc1.bias'", "NaN/Inf", "(5,)"]),
    ("conv", conv_state, ".pt", UnsupportedLayerError, ["'conv1.weight'", "(6, 1, 5, 5)", "convolution"]),
    ("batchnorm", batchnorm_state, ".pt", UnsupportedLayerError, ["'bn1.running_mean'", "not a Linear layer"]),
    ("layernorm", norm_weight_state, ".npz", UnsupportedLayerError, ["'ln.weight'", "normalisation"]),
    ("chain", chain_state, ".npz", ShapeMismatchError, ["'fc1' has 32 outputs", "'fc2' expects 31 inputs"]),
    ("bias", bias_state, ".pt", ShapeMismatchError, ["'fc1.bias' has 33 entries", "32 outputs"]),
]


def no_leftovers(parent, name):
    return not (parent / name).exists() and not [p for p in parent.iterdir() if p.name.startswith(f".{name}")]


@pytest.mark.parametrize("case,build,suffix,error,fragments", BAD, ids=[b[0] for b in BAD])
def test_bad_model(tmp_path, capsys, case, build, suffix, error, fragments):
    path = write(tmp_path / f"bad{suffix}", build())
    with pytest.raises(error) as e:
        load_model(path)
    for frag in fragments:
        assert frag in str(e.value)
    out = tmp_path / "out"
    assert main(["compress", str(path), "--config", "tiny", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("eie: error: ") and all(f in err for f in fragments)
    assert no_leftovers(tmp_path, "out")


@pytest.mark.parametrize("name,content,fragment", [
    ("garbage.pt", b"this is not a torch file", "cannot read model file"),
    ("garbage.npz", b"PK\x03\x04 not really a zip", "cannot read model file"),
    ("model.tflite", b"whatever", "unknown kind '.tflite'"),
    ("missing.pt", None, "does not exist"),
])
def test_unreadable(tmp_path, capsys, name, content, fragment):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UnreadableModelError, match=fragment):
        load_model(path)
    assert main(["compress", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert fragment in capsys.readouterr().err
    assert no_leftovers(tmp_path, "out")


def test_whole_module_pickle_is_refused(tmp_path):
    # weights_only=True refuses arbitrary pickles: a saved nn.Module is not a state_dict.
    torch.save(torch.nn.Sequential(torch.nn.Linear(3, 2)), tmp_path / "module.pt")
    with pytest.raises(UnreadableModelError, match="weights_only=True"):
        load_model(tmp_path / "module.pt")


def test_integer_buffer_and_empty(tmp_path):
    s = mlp_state()
    s["fc1.num_batches_tracked"] = np.array(3)
    with pytest.raises(UnsupportedLayerError, match="'fc1.num_batches_tracked'"):
        load_model(write(tmp_path / "m.pt", s))
    np.savez(tmp_path / "empty.npz")
    with pytest.raises(UnreadableModelError, match="holds no tensors"):
        load_model(tmp_path / "empty.npz")


def test_too_large_for_config(tmp_path, capsys):
    # 784 inputs on the tiny config (4 PEs x 32 activation slots): named layer and sizes.
    path = write(tmp_path / "big.npz", mlp_state((784, 30, 10)))
    out = tmp_path / "out"
    assert main(["compress", str(path), "--config", "tiny", "--one-shot", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "layer fc1: 784 inputs need 196 activation slots per PE on 4 PEs; act_depth is 32" in err
    assert no_leftovers(tmp_path, "out")


def test_unknown_config_and_density(tmp_path, capsys):
    path = write(tmp_path / "m.npz", mlp_state())
    assert main(["compress", str(path), "--config", "nope", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "unknown config 'nope'" in capsys.readouterr().err
    assert main(["compress", str(path), "--density", "0.1,2", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "'2' is not a fraction in (0, 1]" in capsys.readouterr().err
    assert main(["compress", str(path), "--density", "0.1,0.2,0.3", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "3 densities given for 2 layers" in capsys.readouterr().err
    assert main(["compress", str(path), "--density", "ten", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "'ten' is not a number" in capsys.readouterr().err
    assert no_leftovers(tmp_path, "o")


def test_data_mismatch_and_no_data(tmp_path, capsys):
    path = write(tmp_path / "m.npz", mlp_state((20, 8, 3)))
    assert main(["compress", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "no built-in dataset has that many" in capsys.readouterr().err
    assert main(["compress", str(path), "--data", "digits", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "data digits has 64 features per sample but layer 'fc1' expects 20 inputs" in capsys.readouterr().err
    assert no_leftovers(tmp_path, "o")


def test_refuses_to_replace_foreign_folder(tmp_path, capsys):
    path = write(tmp_path / "m.npz", mlp_state())
    foreign = tmp_path / "precious"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    assert main(["compress", str(path), "--one-shot", "--config", "tiny", "--out", str(foreign), "--quiet"]) == 2
    assert "is not an earlier" in capsys.readouterr().err
    assert (foreign / "thesis.tex").read_text() == "keep me"


def test_paper_densities_only_for_lenet(tmp_path, capsys):
    path = write(tmp_path / "m.npz", mlp_state((64, 32, 10)))
    assert main(["compress", str(path), "--density", "paper", "--config", "tiny", "--out", str(tmp_path / "o"),
                 "--quiet"]) == 2
    assert "the paper's densities are known for LeNet-300-100 (784-300-100-10), not for 64-32-10" in \
        capsys.readouterr().err
    assert no_leftovers(tmp_path, "o")
