"""Image folders: round trip through files, checksums, config checks, atomic writes."""

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from eie import format as fmt, images
from eie.config import PRESETS

TINY = PRESETS["tiny"]


def network(rng, sizes, cfg=TINY, density=0.3):
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        idx = rng.integers(1, cfg.codebook_size, (b, a)) * (rng.random((b, a)) < density)
        cb = np.r_[0.0, rng.normal(size=cfg.codebook_size - 1)]
        layers.append(fmt.QuantizedLayer(f"fc{i}", idx, cb, rng.normal(size=b), i < len(sizes) - 2))
    return fmt.encode_network(layers, cfg)


def same_program(p, q):
    assert len(p.layers) == len(q.layers)
    for a, b in zip(p.layers, q.layers):
        assert np.array_equal(fmt.decode_layer(a, p.cfg.n_pe), fmt.decode_layer(b, q.cfg.n_pe))
        assert np.array_equal(a.codebook, b.codebook) and np.array_equal(a.bias, b.bias)
        assert (a.shift, a.relu, a.in_len, a.out_len) == (b.shift, b.relu, b.in_len, b.out_len)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n_pe=st.integers(1, 6), epw=st.sampled_from([1, 3, 4, 8, 16]),
       sizes=st.lists(st.integers(1, 30), min_size=2, max_size=4))
def test_round_trip_through_files(tmp_path_factory, seed, n_pe, epw, sizes):
    print(f"seed={seed}")
    # epw=16: 128-bit words. Memories hold the largest network drawn (three 30 x 30 layers
    # on one PE, padding included), so every example fits whatever the PE count and packing.
    cfg = TINY.replace(n_pe=n_pe, entries_per_word=epw, spmat_depth=-(-4096 // epw), bias_depth=128)
    prog = network(np.random.default_rng(seed), sizes, cfg)
    out = tmp_path_factory.mktemp("img") / "model"
    images.write_images(prog, out)
    same_program(prog, images.read_images(out, cfg).program())


def test_hex_files_are_readmemh_words(tmp_path):
    prog = network(np.random.default_rng(1), [12, 8, 4])
    images.write_images(prog, tmp_path / "m")
    im = images.read_images(tmp_path / "m")
    lines = (tmp_path / "m/pe000/spmat.hex").read_text().split()
    assert all(len(x) == TINY.word_bits // 4 for x in lines)
    assert [int(x, 16) for x in lines] == [int(w) for w in im.pe_memory("spmat", 0)]
    ptr = [int(x, 16) for x in (tmp_path / "m/pe000/ptr.hex").read_text().split()]
    assert ptr == im.pe_memory("ptr", 0).tolist() and len(ptr) == 12 + 1 + 8 + 1


def test_corrupt_image_is_rejected(tmp_path):
    images.write_images(network(np.random.default_rng(2), [8, 8]), tmp_path / "m")
    path = tmp_path / "m/pe001/spmat.bin"
    raw = bytearray(path.read_bytes()); raw[0] ^= 1; path.write_bytes(bytes(raw))
    with pytest.raises(images.ImageError, match="pe001/spmat.bin does not match its checksum"):
        images.read_images(tmp_path / "m")


def test_missing_image_and_missing_manifest(tmp_path):
    images.write_images(network(np.random.default_rng(2), [8, 8]), tmp_path / "m")
    (tmp_path / "m/global/codebook.hex").unlink()
    with pytest.raises(images.ImageError, match="global/codebook.hex is missing"):
        images.read_images(tmp_path / "m")
    with pytest.raises(images.ImageError, match="no manifest.json"):
        images.read_images(tmp_path)


def test_images_from_another_config_are_rejected(tmp_path):
    images.write_images(network(np.random.default_rng(3), [8, 8]), tmp_path / "m")
    other = TINY.replace(queue_depth=8)
    with pytest.raises(images.ImageError) as e:
        images.read_images(tmp_path / "m", other)
    assert f"made for config {TINY.hash}, not {other.hash}" in str(e.value)
    assert "queue_depth=4 (expected 8)" in str(e.value)


def test_tampered_manifest_config_is_rejected(tmp_path):
    images.write_images(network(np.random.default_rng(3), [8, 8]), tmp_path / "m")
    mpath = tmp_path / "m/manifest.json"
    m = json.loads(mpath.read_text()); m["config"]["n_pe"] = 2
    mpath.write_text(json.dumps(m))
    with pytest.raises(images.ImageError, match="does not match its config"):
        images.read_images(tmp_path / "m")


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    prog = network(np.random.default_rng(4), [8, 8])
    calls = {"n": 0}
    real = images.bytes_to_hex

    def failing(*a, **k):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError("disk full")
        return real(*a, **k)

    monkeypatch.setattr(images, "bytes_to_hex", failing)
    with pytest.raises(OSError):
        images.write_images(prog, tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_rewrite_replaces_old_folder(tmp_path):
    images.write_images(network(np.random.default_rng(5), [8, 8]), tmp_path / "m")
    prog = network(np.random.default_rng(6), [6, 3])
    images.write_images(prog, tmp_path / "m")
    same_program(prog, images.read_images(tmp_path / "m").program())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
