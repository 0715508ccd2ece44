"""The Python API: nn.Sequential / state_dict / file, tensors or DataLoaders, same outputs as the CLI;
and the runnable example of docs/compress.md."""

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from compress.api import compress, model_layers
from compress.data import load_dataset
from compress.loader import UnsupportedLayerError
from compress.torch_model import layers_from_module
from eie.config import PRESETS
from eie.images import read_images

SEED = 0
QUICK = dict(prune_steps=1, prune_epochs=1, finetune_epochs=1, progress=False)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "compress.md"


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def sequential(seed=SEED):
    print(f"seed {seed}")
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Dropout(0.1),
                         nn.Sequential(nn.Linear(16, 10)))


def test_sequential_layers_and_relu_flags():
    layers, shape = layers_from_module(sequential())
    assert [l.name for l in layers] == ["1", "4.0"] and [l.relu for l in layers] == [True, False]
    assert shape == (64,)
    # A ReLU after the last layer and none between two Linear layers are kept as given.
    layers, _ = layers_from_module(nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2), nn.ReLU()))
    assert [l.relu for l in layers] == [False, True]


@pytest.mark.parametrize("module,fragment", [
    (nn.Sequential(nn.Linear(4, 3), nn.Sigmoid(), nn.Linear(3, 2)), "module '1' (Sigmoid) is not supported"),
    (nn.Sequential(nn.ReLU(), nn.Linear(4, 3)), "before any Linear"),
    (nn.Sequential(nn.Linear(4, 3), nn.Flatten()), "Flatten"),
    (nn.Sequential(nn.Conv2d(1, 2, 3)), "Conv2d"),
    (nn.Linear(4, 3), "not an nn.Sequential"),
])
def test_unsupported_modules(module, fragment):
    with pytest.raises(UnsupportedLayerError, match=re.escape(fragment)):
        layers_from_module(module)


def test_model_forms_agree(tmp_path):
    model = sequential()
    a, _, _ = model_layers(model)
    b, _, _ = model_layers({k.replace("4.0", "4.0"): v for k, v in model.state_dict().items()})
    torch.save(model.state_dict(), tmp_path / "m.pt")
    c, _, _ = model_layers(tmp_path / "m.pt")
    for x, y, z in zip(a, b, c):
        assert np.array_equal(x.weight, y.weight) and np.array_equal(y.weight, z.weight)


def test_tensors_and_dataloaders_give_the_same_result(digits, tmp_path):
    model = sequential()
    x_tr = torch.tensor(digits.x_train).reshape(-1, 1, 8, 8)       # shaped samples are flattened
    y_tr = torch.tensor(digits.y_train)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x_tr, y_tr), batch_size=100)
    test = (digits.x_test, digits.y_test)
    a = compress(model, train=(x_tr, y_tr), test=test, config="tiny", densities=(0.5, 0.8), **QUICK)
    b = compress(model, train=loader, test=test, config="tiny", densities=(0.5, 0.8), out=tmp_path / "out",
                 **QUICK)
    for qa, qb in zip(a.quantized, b.quantized):
        assert np.array_equal(qa.indices, qb.indices) and np.array_equal(qa.codebook, qb.codebook)
    assert a.accuracy == b.accuracy
    # The same outputs as the CLI.
    for rel in ("images/manifest.json", "report.md", "report.json", "compressed.npz", "plots/weights_1.png"):
        assert (tmp_path / "out" / rel).is_file(), rel
    assert read_images(tmp_path / "out" / "images", PRESETS["tiny"]).n_layers == 2
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    assert rep == json.loads(json.dumps(b.report)) and rep["accuracy"]["fixed_point"] == b.accuracy["fixed_point"]


def test_bad_inputs_through_the_api(digits, tmp_path):
    from compress.data import DataError

    model = sequential()
    with pytest.raises(DataError, match="shape"):
        compress(model, train=(digits.x_train[:, :60], digits.y_train), test=(digits.x_test, digits.y_test),
                 config="tiny", **QUICK)
    with pytest.raises(DataError, match="outside 0 .. 9"):
        compress(model, train=(digits.x_train, digits.y_train + 1), test=(digits.x_test, digits.y_test),
                 config="tiny", **QUICK)
    with pytest.raises(DataError, match="iterable of"):
        compress(model, train=42, test=(digits.x_test, digits.y_test), config="tiny", **QUICK)
    assert not list(tmp_path.iterdir())


def doc_example() -> str:
    """The Python block under the API heading of docs/compress.md."""
    text = DOCS.read_text()
    section = text[text.index("## Python API"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_docs_example_runs(tmp_path, capsys):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(doc_example(), str(DOCS), "exec"), {"__name__": "__docs__"})
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr().out
    assert "fixed point" in printed
    rep = json.loads((tmp_path / "out" / "digits-mlp" / "report.json").read_text())
    assert rep["density_source"] == "automatic" and (tmp_path / "out/digits-mlp/plots/sensitivity.png").is_file()
    assert rep["validation_accuracy"]["fixed_point"] > 0
