"""A small conv net run on the array by the host (host.convnet) in Amaranth's simulator: every
RUN's input and outputs bit for bit against the golden model's (eie.convnet.image_runs), every
RUN's cycles against the cycle model, the image's outputs against the golden model."""

import numpy as np

from eie import format as fmt
from eie.config import PRESETS
from eie.convnet import image_runs
from eie.cycle_model import layer_timing
from eie.golden import GoldenModel
from eie.network import Conv, Dense, Flatten, Network, Pool
from host.convnet import infer_network

from array_sim import layer, simulate

TINY = PRESETS["tiny"]


def tiny_conv_net(rng, cfg):
    """1x6x5 image: conv 3@3x3 (stride 1, pads 1) -> max pool 2x2 -> conv 2@2x2 (stride 2) ->
    flatten -> dense 5 -> dense 3."""
    net = Network((1, 6, 5), (Conv(0, 3, (3, 3), (1, 1), (1, 1, 1, 1)), Pool("max", (2, 2), (2, 2)),
                              Conv(1, 2, (2, 2), (2, 2)), Flatten(), Dense(2), Dense(3)))
    layers = [layer(rng, cfg, 3, 9, 0.6, "c1"), layer(rng, cfg, 2, 12, 0.6, "c2"),
              layer(rng, cfg, 5, 2, 0.8, "f1"), layer(rng, cfg, 3, 5, 0.8, "f2", relu=False)]
    return fmt.encode_network(layers, cfg, network=net)


def test_conv_net_on_the_array():
    seed = 5
    print("seed", seed)
    rng = np.random.default_rng(seed)
    cfg = TINY
    program = tiny_conv_net(rng, cfg)
    golden = GoldenModel(program)
    images = [np.where(rng.random((1, 6, 5)) < 0.7, rng.integers(0, 400, (1, 6, 5)), 0) for _ in range(1)]
    seen = []

    async def body(drv):
        await drv.load(program)
        for img in images:
            runs = image_runs(golden, img)

            def check(i, run):
                exp = runs[i]
                assert (run.step, run.first, run.n_layers) == (exp.step, exp.first, exp.n_layers)
                np.testing.assert_array_equal(run.input, exp.inputs[0])
                np.testing.assert_array_equal(run.output, exp.output)
                model = sum(layer_timing(cfg, program.layers[l], a).cycles
                            for l, a in zip(range(exp.first, exp.first + exp.n_layers), exp.inputs))
                assert run.cycles == model
                seen.append(i)

            y = await infer_network(drv, program, img, on_run=check)
            np.testing.assert_array_equal(y, golden.run(img))
            assert len(runs) == 6 * 5 + 1 + 1   # conv1 patches, conv2 patch, the dense RUN

    simulate(cfg, body)
    assert len(seen) == 32      # one image: Amaranth's simulator is slow; Verilator runs more (test_sim_convnet)


def test_host_bytes_are_the_driver_frames_in_whole_beats():
    """eie.convtiming's bytes of one RUN (WRITE_ACT of the patch, RUN, READ_ACT of the outputs,
    each command and response filled up to whole beats) against host.protocol's frames, on an
    8-bit and a 32-bit host port; a patch longer than one body takes several WRITE_ACT frames."""
    from eie import contract as C
    from eie.bits import nbytes
    from eie.convtiming import run_bytes
    from host import protocol as proto

    for cfg in (TINY, TINY.replace(host_bits=32)):
        beat = C.beat_bytes(cfg)
        rsp = C.header_bytes(C.RSP_HEADER)
        for in_len, out_len in ((18, 3), (25, 20), (C.MAX_BODY, 7)):
            x = np.arange(in_len) % 50
            cmds = proto.write_act_frames(cfg, 0, x) + [proto.cmd_run(1, 1)]
            rsps = [rsp] * (len(cmds) - 1) + [rsp + C.reply_bytes(cfg, C.Op.RUN)]
            for o, n in proto.read_chunks(out_len, 2):
                cmds.append(proto.cmd_read_act(cfg, o, n))
                rsps.append(rsp + nbytes(cfg.act_bits) * n)
            want = sum(C.padded_bytes(len(f), beat) for f in cmds) + sum(C.padded_bytes(r, beat) for r in rsps)
            assert run_bytes(cfg, in_len, out_len) == want, (cfg.host_bits, in_len, out_len)
            if in_len == C.MAX_BODY:
                assert len(proto.write_act_frames(cfg, 0, x)) >= 2
