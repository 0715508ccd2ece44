"""Conv nets in eie/: the network description (eie.network), the host's fixed-point ops
(eie.hostops) against naive loops, the golden model's conv-net forward pass (eie.convnet)
against a direct integer convolution, image folders holding a network, and input forms."""

import json

import numpy as np
import pytest

from eie import format as fmt
from eie import hostops, numerics
from eie.config import PRESETS
from eie.convnet import as_images, forward, image_runs
from eie.convtiming import image_timing, run_bytes
from eie.golden import GoldenModel, InputError
from eie.images import ImageError, read_images, write_images
from eie.network import Conv, Dense, Flatten, Network, NetworkError, Pool

TINY = PRESETS["tiny"]
SEED = 2024


def rng_for(test: str):
    seed = SEED + sum(map(ord, test))
    print("seed", seed)
    return np.random.default_rng(seed)


# ---- naive references ------------------------------------------------------------------------

def naive_patch(x, c, y0, x0, kh, kw, pads):
    """Patch of one image (C, H, W) at window origin (y0, x0) in padded coordinates."""
    pt, pl = pads[0], pads[1]
    out = []
    for ch in range(c):
        for i in range(kh):
            for j in range(kw):
                yy, xx = y0 + i - pt, x0 + j - pl
                inside = 0 <= yy < x.shape[1] and 0 <= xx < x.shape[2]
                out.append(int(x[ch, yy, xx]) if inside else 0)
    return out


def naive_pool(x, p: Pool):
    c, h, w = x.shape
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = p.kernel, p.stride, p.pads
    oh, ow = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
    out = np.zeros((c, oh, ow), np.int64)
    for ch in range(c):
        for oy in range(oh):
            for ox in range(ow):
                vals, n = [], 0
                for i in range(kh):
                    for j in range(kw):
                        yy, xx = oy * sh + i - pt, ox * sw + j - pl
                        if 0 <= yy < h and 0 <= xx < w:
                            vals.append(int(x[ch, yy, xx]))
                        n += 1
                if p.kind == "max":
                    out[ch, oy, ox] = max(vals)
                else:
                    d = n if p.count_include_pad else len(vals)
                    # round half up, in exact fractions
                    from fractions import Fraction
                    q = Fraction(sum(vals), d) + Fraction(1, 2)
                    out[ch, oy, ox] = q.numerator // q.denominator
    return out


def naive_conv_layer(x, w, bias_q, shift, relu, conv: Conv, cfg):
    """Integer convolution, straight from docs/format.md's layer arithmetic: per output the
    accumulator starts at bias << shift, takes the products in patch-index order, saturating."""
    c, h, wd = x.shape
    out_ch = w.shape[0]
    (kh, kw), (sh, sw), pads = conv.kernel, conv.stride, conv.pads
    oh, ow = (h + pads[0] + pads[2] - kh) // sh + 1, (wd + pads[1] + pads[3] - kw) // sw + 1
    y = np.zeros((out_ch, oh, ow), np.int64)
    for oy in range(oh):
        for ox in range(ow):
            patch = naive_patch(x, c, oy * sh, ox * sw, kh, kw, pads)
            for o in range(out_ch):
                acc = int(bias_q[o]) << shift
                for k, a in enumerate(patch):
                    if a and w[o, k]:
                        acc = min(max(acc + a * int(w[o, k]), cfg.acc_min), cfg.acc_max)
                y[o, oy, ox] = numerics.requantize(np.array([acc]), shift, relu, cfg)[0]
    return y


# ---- the description -----------------------------------------------------------------------------

def lenet5_network():
    return Network((1, 28, 28), (Conv(0, 20, (5, 5)), Pool("max", (2, 2), (2, 2)), Conv(1, 50, (5, 5)),
                                 Pool("max", (2, 2), (2, 2)), Flatten(), Dense(2), Dense(3)))


def test_lenet5_shapes_and_plan():
    net = lenet5_network()
    shapes = [s[2] for s in net.shapes([20, 50, 500, 10])]
    assert shapes == [(20, 24, 24), (20, 12, 12), (50, 8, 8), (50, 4, 4), (800,), (500,), (10,)]
    plan = net.plan([20, 50, 500, 10])
    assert [(s.kind, s.first, s.n_layers, s.runs) for s in plan] == [
        ("patches", 0, 1, 576), ("pool", 0, 0, 0), ("patches", 1, 1, 64), ("pool", 0, 0, 0),
        ("flatten", 0, 0, 0), ("vector", 2, 2, 1)]
    net.check_layers([(25, 20), (500, 50), (800, 500), (500, 10)])
    with pytest.raises(NetworkError, match="layer 1: a 5x5 conv of 20 channels to 50 needs a 50 x 500"):
        net.check_layers([(25, 20), (400, 50), (800, 500), (500, 10)])
    with pytest.raises(NetworkError, match="dense layer receiving 800 values has 784 inputs"):
        net.check_layers([(25, 20), (500, 50), (784, 500), (500, 10)])
    assert Network.from_dict(json.loads(json.dumps(net.to_dict()))) == net


@pytest.mark.parametrize("make, match", [
    (lambda: Network((1, 4, 4), (Conv(0, 2, (5, 5)),)), "kernel 5x5 is larger than its input 4x4"),
    (lambda: Network((1, 4, 4), (Conv(0, 2, (5, 3), pads=(0, 0, 0, 0)),)), "larger than its input"),
    (lambda: Pool("max", (2, 2), (2, 2), (2, 0, 0, 0)), "must be smaller than the kernel"),
    (lambda: Network((1, 8, 8), (Conv(0, 2, (3, 3)), Dense(1))), "needs a vector; its input has shape"),
    (lambda: Network((1, 8, 8), (Conv(1, 2, (3, 3)),)), "entries are used in order, so 0 comes next"),
    (lambda: Network((1, 8, 8), (Dense(0),)), "needs at least one conv"),
    (lambda: Network((1, 8, 8), (Conv(0, 2, (3, 3)), Flatten(), Conv(1, 2, (1, 1)))), "needs an image"),
    (lambda: Network((8, 8), (Conv(0, 2, (3, 3)),)), "input shape is \\(channels, height, width\\)"),
    (lambda: Pool("min", (2, 2), (2, 2)), "pool kind"),
    (lambda: Network.from_dict({"input_shape": [1, 8, 8], "ops": [{"op": "lrn"}]}), "unknown op 'lrn'"),
])
def test_bad_networks(make, match):
    with pytest.raises(NetworkError, match=match):
        make()


# ---- host ops against loops -------------------------------------------------------------------

@pytest.mark.parametrize("case", range(6))
def test_im2col_and_pool_match_loops(case):
    rng = rng_for(f"im2col{case}")
    c, h, w = int(rng.integers(1, 4)), int(rng.integers(3, 9)), int(rng.integers(3, 9))
    kh, kw = (int(v) for v in rng.integers(1, min(h, w) + 1, 2))
    conv = Conv(0, 2, (kh, kw), tuple(int(v) for v in rng.integers(1, 3, 2)),
                tuple(int(v) for v in rng.integers(0, 3, 4)))
    x = rng.integers(-1000, 1000, (2, c, h, w))
    p = hostops.im2col(x, conv)
    _, oh, ow = conv.out_shape((c, h, w))
    assert p.shape == (2, oh * ow, c * kh * kw)
    for b in range(2):
        for oy in range(oh):
            for ox in range(ow):
                assert list(p[b, oy * ow + ox]) == naive_patch(x[b], c, oy * conv.stride[0], ox * conv.stride[1],
                                                               kh, kw, conv.pads)
    for kind in ("max", "avg"):
        for include in (False, True):
            k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
            pool = Pool(kind, k, tuple(int(v) for v in rng.integers(1, 3, 2)),
                        (int(rng.integers(0, k[0])), int(rng.integers(0, k[1])), int(rng.integers(0, k[0])),
                         int(rng.integers(0, k[1]))), include)
            if min(h, w) + 0 < max(k):
                continue
            got = hostops.pool(x, pool)
            for b in range(2):
                np.testing.assert_array_equal(got[b], naive_pool(x[b], pool), err_msg=f"{pool}")


def test_avg_pool_rounds_half_up():
    x = np.array([[[[1, 2], [0, 0]]], [[[-1, -2], [0, 0]]], [[[-3, -3], [0, 0]]]])    # sums 3, -3, -6 over 4
    got = hostops.pool(x, Pool("avg", (2, 2), (2, 2)))
    assert got.ravel().tolist() == [1, -1, -1]          # 0.75 -> 1, -0.75 -> -1, -1.5 -> -1


# ---- the golden model on a conv net -------------------------------------------------------------

def random_conv_net(rng, cfg, saturate=False):
    net = Network((2, 7, 6), (Conv(0, 3, (3, 3), (1, 1), (1, 1, 1, 1)), Pool("max", (2, 2), (2, 2)),
                              Conv(1, 4, (2, 2), (1, 1)), Pool("avg", (2, 2), (1, 1), (1, 0, 0, 1)),
                              Flatten(), Dense(2), Dense(3)))

    def q(name, out, inn, relu=True):
        idx = rng.integers(0, 16, (out, inn)) * (rng.random((out, inn)) < 0.6)
        scale = 40.0 if saturate else 0.4
        return fmt.QuantizedLayer(name, idx, np.r_[0, rng.normal(0, scale, 15)], rng.normal(0, .2, out), relu)

    layers = [q("c1", 3, 18), q("c2", 4, 12), q("f1", 5, 16), q("f2", 6, 5, False)]
    return fmt.encode_network(layers, cfg, network=net, allow_loss=True)


@pytest.mark.parametrize("saturate", [False, True])
def test_conv_forward_matches_direct_convolution(saturate):
    rng = rng_for(f"forward{saturate}")
    cfg = TINY
    prog = random_conv_net(rng, cfg, saturate)
    golden = GoldenModel(prog)
    x = rng.integers(-3000 if saturate else -300, 3000 if saturate else 300, (3, 2, 7, 6))
    got = golden.run(x)
    net = prog.network
    for b in range(len(x)):
        a = x[b]
        for op in net.ops:
            if isinstance(op, Conv):
                e = prog.layers[op.layer]
                w = np.asarray(e.codebook, np.int64)[fmt.decode_layer(e, cfg.n_pe)]
                a = naive_conv_layer(a, w, e.bias, e.shift, e.relu, op, cfg)
            elif isinstance(op, Pool):
                a = naive_pool(a, op)
            elif isinstance(op, Flatten):
                a = a.reshape(-1)
            else:
                a = golden.layers[op.layer].forward(a[None], cfg)[0]
        np.testing.assert_array_equal(got[b], a)
    # Every accepted input form gives the same outputs; one image gives a vector.
    np.testing.assert_array_equal(golden.run(x.reshape(3, -1)), got)
    np.testing.assert_array_equal(golden.run(x[1]), got[1])
    np.testing.assert_array_equal(golden.run(x[1].reshape(-1)), got[1])
    # The RUNs of one image: 42 patches of conv 1, 4 of conv 2, one dense RUN.
    runs = image_runs(golden, x[0])
    assert [(r.first, r.n_layers) for r in runs] == [(0, 1)] * 42 + [(1, 1)] * 4 + [(2, 2)]
    np.testing.assert_array_equal(runs[-1].output, got[0])
    t = image_timing(golden, prog, x[0])
    assert t.runs == 47 and [s.runs for s in t.steps] == [42, 4, 1]
    assert t.host_bytes == 42 * run_bytes(cfg, 18, 3) + 4 * run_bytes(cfg, 12, 4) + run_bytes(cfg, 16, 6)
    if saturate:
        assert np.any(np.abs(got) == cfg.act_max) or np.any(got == 0)


def test_conv_inputs_refused():
    rng = rng_for("refused")
    prog = random_conv_net(rng, TINY)
    golden = GoldenModel(prog)
    with pytest.raises(InputError, match="do not fit the network's 2x7x6 images"):
        golden.run(np.zeros((2, 1, 7, 6), np.int64))
    with pytest.raises(InputError, match="do not fit"):
        golden.run(np.zeros((3, 83), np.int64))
    with pytest.raises(InputError, match="fixed-point integers"):
        golden.run(np.zeros((1, 2, 7, 6)))
    with pytest.raises(InputError, match="activation range"):
        golden.run(np.full((2, 7, 6), 1 << 20))
    with pytest.raises(InputError, match="im2col patches"):
        golden.run_layers(np.zeros((2, 7, 6), np.int64))
    x, single = as_images(np.zeros(84, np.int64), prog.network, TINY)
    assert x.shape == (1, 2, 7, 6) and single


def test_images_hold_the_network(tmp_path):
    rng = rng_for("images")
    prog = random_conv_net(rng, TINY)
    write_images(prog, tmp_path / "m")
    imgs = read_images(tmp_path / "m", TINY)
    assert imgs.network == prog.network
    x = rng.integers(-300, 300, (2, 2, 7, 6))
    np.testing.assert_array_equal(GoldenModel(imgs).run(x), GoldenModel(prog).run(x))
    # Format version 3 (a network); a reader of versions 1 and 2 refuses it rather than run the
    # layers one after another, and version 3 is the only one a network may appear in.
    mpath = tmp_path / "m" / "manifest.json"
    manifest = json.loads(mpath.read_text())
    assert manifest["format_version"] == 3
    mpath.write_text(json.dumps({**manifest, "format_version": 2}))
    with pytest.raises(ImageError, match="a network description, which format version 2 does not have"):
        read_images(tmp_path / "m", TINY)
    # A network that does not fit the layer table is refused when the folder is read.
    manifest["network"]["ops"][0]["kernel"] = [2, 2]
    mpath.write_text(json.dumps(manifest))
    with pytest.raises(ImageError, match="bad network description: layer 0: a 2x2 conv of 2 channels to 3"):
        read_images(tmp_path / "m", TINY)


def test_a_conv_net_is_not_balanced():
    rng = rng_for("balance")
    prog = random_conv_net(rng, TINY)
    layers = [fmt.QuantizedLayer(e.name, np.zeros((e.out_len, e.in_len), np.int64), np.r_[0, rng.normal(0, .5, 15)],
                                 np.zeros(e.out_len)) for e in prog.layers]
    with pytest.raises(fmt.FormatError, match="balanced row placement is for networks of fully connected layers"):
        fmt.encode_network(layers, TINY, balance=True, network=prog.network)


def test_mlp_forward_is_run_layers():
    rng = rng_for("mlp")
    layers = [fmt.QuantizedLayer("a", rng.integers(0, 16, (7, 5)), np.r_[0, rng.normal(0, .5, 15)],
                                 rng.normal(0, .1, 7)),
              fmt.QuantizedLayer("b", rng.integers(0, 16, (3, 7)), np.r_[0, rng.normal(0, .5, 15)],
                                 rng.normal(0, .1, 3), False)]
    golden = GoldenModel(fmt.encode_network(layers, TINY))
    x = rng.integers(-300, 300, (4, 5))
    seen = []
    np.testing.assert_array_equal(forward(golden, x, on_layer=lambda l, a, y: seen.append((l, a, y))),
                                  golden.run(x))
    assert [l for l, _, _ in seen] == [0, 1]
    np.testing.assert_array_equal(seen[1][1], golden.run_layers(x)[0])
