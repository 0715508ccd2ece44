"""`eie golden` from the command line: results, and clean failures on bad images."""

import numpy as np
import pytest

from eie import format as fmt, images, numerics
from eie.cli import main
from eie.config import PRESETS
from eie.golden import GoldenModel

TINY = PRESETS["tiny"]


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(11)
    layers = [fmt.QuantizedLayer("fc1", rng.integers(0, 16, (6, 9)), np.r_[0.0, rng.normal(size=15)],
                                 rng.normal(size=6), True),
              fmt.QuantizedLayer("fc2", rng.integers(0, 16, (3, 6)), np.r_[0.0, rng.normal(size=15)],
                                 rng.normal(size=3), False)]
    images.write_images(fmt.encode_network(layers, TINY), tmp_path / "m")
    np.save(tmp_path / "x.npy", rng.normal(size=(4, 9)))
    return tmp_path


def test_golden_writes_outputs(folder, capsys):
    assert main(["golden", str(folder / "m"), "--inputs", str(folder / "x.npy"), "--float",
                 "-o", str(folder / "y.npy")]) == 0
    x = numerics.act_from_float(np.load(folder / "x.npy"), TINY)
    assert np.array_equal(np.load(folder / "y.npy"), GoldenModel(folder / "m").run(x))


def test_corrupt_image_fails_cleanly(folder, capsys):
    path = folder / "m/pe002/ptr.bin"
    path.write_bytes(path.read_bytes()[:-1] + b"\x07")
    code = main(["golden", str(folder / "m"), "--inputs", str(folder / "x.npy"), "--float",
                 "-o", str(folder / "y.npy")])
    assert code == 2 and "pe002/ptr.bin does not match its checksum" in capsys.readouterr().err
    assert not (folder / "y.npy").exists()


def test_images_for_another_config_fail_cleanly(folder, capsys):
    code = main(["golden", str(folder / "m"), "--inputs", str(folder / "x.npy"), "--float", "--config", "eie"])
    assert code == 2 and "images were made for config" in capsys.readouterr().err


def test_nan_inputs_and_wrong_lengths_fail_cleanly(folder, capsys):
    np.save(folder / "bad.npy", np.full((2, 9), np.nan))
    assert main(["golden", str(folder / "m"), "--inputs", str(folder / "bad.npy"), "--float"]) == 2
    assert "NaN or Inf" in capsys.readouterr().err
    np.save(folder / "short.npy", np.zeros((2, 5), np.int64))
    assert main(["golden", str(folder / "m"), "--inputs", str(folder / "short.npy")]) == 2
    assert "9 values per vector" in capsys.readouterr().err


def test_golden_on_a_conv_net(tmp_path, capsys):
    """A conv net's images as (batch, C, H, W) or flattened give the same outputs; another image
    size is refused with exit status 2 and nothing written."""
    from eie.network import Conv, Dense, Flatten, Network, Pool

    rng = np.random.default_rng(12)
    print("seed 12")
    net = Network((1, 6, 6), (Conv(0, 2, (3, 3)), Pool("max", (2, 2), (2, 2)), Flatten(), Dense(1)))
    layers = [fmt.QuantizedLayer("c", rng.integers(0, 16, (2, 9)), np.r_[0.0, rng.normal(size=15)], rng.normal(size=2)),
              fmt.QuantizedLayer("f", rng.integers(0, 16, (3, 8)), np.r_[0.0, rng.normal(size=15)], rng.normal(size=3),
                                 False)]
    images.write_images(fmt.encode_network(layers, TINY, network=net), tmp_path / "m")
    x = rng.random((4, 1, 6, 6))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "flat.npy", x.reshape(4, 36))
    for name in ("x", "flat"):
        assert main(["golden", str(tmp_path / "m"), "--inputs", str(tmp_path / f"{name}.npy"), "--float",
                     "-o", str(tmp_path / f"y_{name}.npy")]) == 0
    out = capsys.readouterr().out
    assert "conv net on 1x6x6 images" in out and "16" in out        # 16 patches of the conv
    assert np.array_equal(np.load(tmp_path / "y_x.npy"), np.load(tmp_path / "y_flat.npy"))
    assert np.array_equal(np.load(tmp_path / "y_x.npy"),
                          GoldenModel(tmp_path / "m").run(numerics.act_from_float(x, TINY)))
    np.save(tmp_path / "big.npy", rng.random((2, 1, 8, 8)))
    assert main(["golden", str(tmp_path / "m"), "--inputs", str(tmp_path / "big.npy"), "--float",
                 "-o", str(tmp_path / "y_big.npy")]) == 2
    assert "do not fit the network's 1x6x6 images" in capsys.readouterr().err
    assert not (tmp_path / "y_big.npy").exists()
