"""Balanced encodings (eie/balance.py, eie/format.py): round trips with moved rows, the
pattern counter against the encoder, images of format version 2, the golden model's
outputs in the model's order, ESE-style balanced pruning."""

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from eie import balance, format as fmt, images
from eie.config import PRESETS
from eie.golden import GoldenModel

TINY = PRESETS["tiny"]


def roomy(n_pe, z_bits=4):
    return TINY.replace(n_pe=n_pe, z_bits=z_bits, act_depth=64, ptr_depth=512, spmat_depth=4096,
                        bias_depth=256)


def network(rng, sizes, cfg, density, scale=0.05):
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        # Rows of very different densities, so where a row goes matters.
        row_density = density * rng.uniform(0.1, 2.0, (b, 1))
        idx = rng.integers(1, cfg.codebook_size, (b, a)) * (rng.random((b, a)) < row_density)
        cb = np.r_[0.0, rng.normal(size=cfg.codebook_size - 1) * scale]
        layers.append(fmt.QuantizedLayer(f"fc{i}", idx, cb, rng.normal(size=b), i < len(sizes) - 2))
    return layers


@st.composite
def networks(draw):
    n_pe = draw(st.integers(1, 7))
    z_bits = draw(st.integers(1, 6))
    sizes = draw(st.lists(st.integers(1, 40), min_size=2, max_size=4))
    density = draw(st.sampled_from([0.0, 0.05, 0.2, 0.6]))
    seed = draw(st.integers(0, 2**32 - 1))
    return n_pe, z_bits, sizes, density, seed


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_balanced_round_trip(case):
    n_pe, z_bits, sizes, density, seed = case
    print(f"seed={seed} n_pe={n_pe} z_bits={z_bits} sizes={sizes}")
    cfg = roomy(n_pe, z_bits)
    layers = network(np.random.default_rng(seed), sizes, cfg, density)
    # allow_loss: a random codebook value may round to 0 (what is checked here is placement).
    prog = fmt.encode_network(layers, cfg, balance=True, allow_loss=True)
    prev = None
    for q, e in zip(layers, prog.layers):
        assert e.out_len == fmt.padded_len(q.out_len, n_pe)
        assert len(e.out_positions) == q.out_len == e.model_out_len
        fmt.check_positions(e.out_positions, e.out_len)
        assert e.in_len == (q.in_len if prev is None else prev.out_len)
        assert np.array_equal(fmt.model_matrix(e, n_pe), q.indices)
        # Every stored entry is real or padding of its own PE's slice: decode is exact, and
        # the slots no row takes hold no entry and a zero bias.
        empty = np.setdiff1d(np.arange(e.out_len), e.out_positions)
        assert not fmt.decode_layer(e, n_pe)[empty].any() and not e.bias[empty].any()
        prev = e


@settings(max_examples=80, deadline=None)
@given(networks(), st.booleans())
def test_pattern_entries_equal_the_encoders_pointers(case, balanced):
    n_pe, z_bits, sizes, density, seed = case
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    cfg = roomy(n_pe, z_bits)
    q = network(rng, sizes[:2], cfg, density)[0]
    pos = rng.permutation(fmt.padded_len(q.out_len, n_pe))[:q.out_len] if balanced else None
    # allow_loss: the random codebook may hold a value below the fixed-point resolution
    # (seed 815); the pointers do not depend on it.
    e = fmt.encode_layer(q, cfg, pos, allow_loss=True)
    rows, cols = np.nonzero(q.indices)
    dev = np.arange(q.out_len) if pos is None else pos
    counts = fmt.pattern_entries(rows, cols, dev, q.in_len, n_pe, [cfg.max_run, 3])
    assert np.array_equal(counts[0], np.stack([np.diff(p) for p in e.ptr]))
    e3 = fmt.encode_layer(q, cfg.replace(z_bits=2), pos, allow_loss=True)
    assert np.array_equal(counts[1], np.stack([np.diff(p) for p in e3.ptr]))


def test_balancing_evens_out_skewed_rows():
    rng = np.random.default_rng(5)
    n_pe = 8
    # Row i's density grows with i % 8: interleaving gives PE 7 eight times PE 0's entries.
    idx = ((rng.random((256, 200)) < (np.arange(256)[:, None] % 8 + 1) / 40) * 3).astype(np.int64)
    plain = balance.pe_entries(idx, np.arange(256), n_pe, 15)
    pos = balance.balanced_positions(idx, n_pe, 15)
    bal = balance.pe_entries(idx, pos, n_pe, 15)
    print(f"imbalance plain {balance.imbalance(plain):.3f}, balanced {balance.imbalance(bal):.3f}")
    assert balance.imbalance(plain) > 1.5 and balance.imbalance(bal) < 1.01
    assert np.array_equal(np.bincount(pos % n_pe, minlength=n_pe), np.full(n_pe, 32))


def test_swaps_count_padding():
    # One-bit run lengths: padding is a large share of the entries and depends on which
    # rows share a PE; the deal sees only real entries, the swaps count padding.
    rng = np.random.default_rng(9)
    idx = (rng.random((200, 50)) < 0.03).astype(np.int64)
    dealt = balance.balanced_positions(idx, 4, 1, swap_rounds=0)
    swapped = balance.balanced_positions(idx, 4, 1)
    a, b = (balance.pe_entries(idx, p, 4, 1) for p in (dealt, swapped))
    print(f"busiest PE with padding: dealt {a.max()}, swapped {b.max()}")
    assert b.max() < a.max()
    assert np.array_equal(np.sort(dealt % 4), np.sort(swapped % 4))   # still 50 rows per PE


def test_balanced_golden_matches_plain_in_model_order():
    rng = np.random.default_rng(11)
    cfg = roomy(5)
    layers = network(rng, [37, 29, 23, 11], cfg, 0.3)
    plain, bal = (GoldenModel(fmt.encode_network(layers, cfg, balance=b)) for b in (False, True))
    x = rng.integers(-300, 300, (6, 37)) * (rng.random((6, 37)) < 0.6)
    # Small weights: no partial sum saturates, so the column order cannot matter.
    assert np.array_equal(plain.run(x), bal.run(x))
    assert bal.out_len == 11 and bal.run_layers(x)[-1].shape == (6, 15)
    assert not np.array_equal(plain.run_layers(x)[0], bal.run_layers(x)[0])


def test_balanced_images_are_version_2(tmp_path):
    rng = np.random.default_rng(3)
    cfg = roomy(3)
    layers = network(rng, [10, 14, 7], cfg, 0.4)
    images.write_images(fmt.encode_network(layers, cfg), tmp_path / "plain")
    images.write_images(fmt.encode_network(layers, cfg, balance=True), tmp_path / "bal")
    assert json.loads((tmp_path / "plain/manifest.json").read_text())["format_version"] == 1
    man = json.loads((tmp_path / "bal/manifest.json").read_text())
    assert man["format_version"] == 2 and [len(l["out_positions"]) for l in man["layers"]] == [14, 7]
    im = images.read_images(tmp_path / "bal", cfg)
    prog = im.program()
    assert np.array_equal(im.memories.output_positions, man["layers"][-1]["out_positions"])
    assert np.array_equal(prog.layers[1].in_positions, man["layers"][0]["out_positions"])
    for q, e in zip(layers, prog.layers):
        assert np.array_equal(fmt.model_matrix(e, cfg.n_pe), q.indices)


@pytest.mark.parametrize("change,match", [
    (lambda m: m["layers"][1].update(out_positions=[0, 0, 1, 2, 3, 4, 5]), "two rows in one"),
    (lambda m: m["layers"][1].update(out_positions=[0, 1, 2, 3, 4, 5, 9]), "lie in 0..8"),
    (lambda m: m.update(format_version=1), "format version 1 does not have"),
    (lambda m: m.update(format_version=4), "reads versions 1, 2, 3"),
])
def test_bad_positions_are_rejected(tmp_path, change, match):
    cfg = roomy(3)
    layers = network(np.random.default_rng(4), [10, 14, 7], cfg, 0.4)
    images.write_images(fmt.encode_network(layers, cfg, balance=True), tmp_path / "m")
    path = tmp_path / "m/manifest.json"
    man = json.loads(path.read_text())
    change(man)
    path.write_text(json.dumps(man))
    with pytest.raises(images.ImageError, match=match):
        images.read_images(tmp_path / "m", cfg)


def test_balanced_prune_mask_keeps_the_same_count_per_pe():
    rng = np.random.default_rng(2)
    n_pe = 6
    w = rng.normal(size=(50, 40)) * (np.arange(50)[:, None] % 6 + 1)   # PE 5's rows are largest
    mask = balance.balanced_prune_mask(w, 0.1, n_pe)
    per_pe = np.array([mask[k::n_pe].sum() for k in range(n_pe)])
    assert mask.sum() == 200 and per_pe.max() - per_pe.min() <= 1
    for k in range(n_pe):      # within its share, a PE keeps its largest weights
        share, keep = np.abs(w[k::n_pe]), mask[k::n_pe]
        assert share[keep].min() >= share[~keep].max()
    plain = np.abs(w) >= np.sort(np.abs(w).ravel())[-200]
    assert np.ptp([plain[k::n_pe].sum() for k in range(n_pe)]) > 20
    with pytest.raises(ValueError, match="density"):
        balance.balanced_prune_mask(w, 1.5, n_pe)


def test_balanced_prune_mask_fewer_rows_than_pes_and_alive():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(10, 100))
    mask = balance.balanced_prune_mask(w, 0.26, 64)       # LeNet's fc3 on 64 PEs: 10 PEs hold rows
    assert mask.sum() == 260 and set(mask.sum(axis=1)) == {26}
    alive = rng.random(w.shape) < 0.5
    alive[0::4] = False
    alive[0, :5] = True                                   # PE 0 has 5 weights left: keeps them all
    mask = balance.balanced_prune_mask(w, 0.2, 4, alive=alive)
    per_pe = np.array([mask[k::4].sum() for k in range(4)])
    assert mask.sum() == 200 and not (mask & ~alive).any()
    assert per_pe.tolist() == [5, 65, 65, 65]              # the others share the rest evenly
    assert np.array_equal(mask, balance.balanced_prune_mask(w, 0.2, 4, alive=alive))


def test_an_even_interleaved_placement_is_kept():
    # ESE-pruned: every PE already holds the same count; the deal would not find that again.
    rng = np.random.default_rng(4)
    w = rng.normal(size=(300, 80)) * rng.gamma(0.5, size=(300, 1))      # a few heavy rows
    idx = balance.balanced_prune_mask(w, 0.08, 64).astype(np.int64)
    pos = balance.balanced_positions(idx, 64, 15)
    assert np.array_equal(pos, np.arange(300))
    skewed = (np.abs(w) > np.quantile(np.abs(w), 0.92)).astype(np.int64)  # plain pruning: moved
    moved = balance.balanced_positions(skewed, 64, 15)
    assert balance.pe_entries(skewed, moved, 64, 15).max() < balance.pe_entries(skewed, np.arange(300), 64, 15).max()


@pytest.mark.parametrize("max_run", [1, 3, 15])
def test_placement_counts_are_the_pattern_counts(max_run):
    # The swap pass keeps each PE's per-column entries up to date as rows move; they must
    # be exactly what the format counts for the final positions (and what encode_layer writes).
    rng = np.random.default_rng(max_run)
    idx = (rng.random((90, 70)) < rng.uniform(0.01, 0.2, (90, 1))).astype(np.int64)
    rows, cols = np.nonzero(idx)
    pos, counts = balance.balanced_placement(rows, cols, idx.shape, 6, max_run)
    assert np.array_equal(counts, fmt.pattern_entries(rows, cols, pos, 70, 6, [max_run])[0])
    cfg = roomy(6, max_run.bit_length())
    e = fmt.encode_layer(fmt.QuantizedLayer("p", idx, np.r_[0.0, np.ones(15)], np.zeros(90)), cfg, pos)
    assert np.array_equal(counts, np.stack([np.diff(p) for p in e.ptr]))
