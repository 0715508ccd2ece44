"""A conv net on Verilator (cocotb): the host runs each image's plan (host.convnet), one RUN per
im2col patch, and the testbench checks every RUN's outputs and input against the golden model,
every RUN's cycles against the cycle model, the counters of the last RUN of each image (layer
cycles of exactly the entries it ran: RUN from a later layer-table entry) and the outputs.

Fast (`make test`): a small conv net (stride, padding, max and average pooling, two dense layers)
on the ``tiny`` preset, clean and with random idle cycles and backpressure. Prints its seed;
replay with ``EIE_SEED=<seed> EIE_WAVES=1``.
"""

import os

import numpy as np
import pytest

from eie import format as fmt
from eie.config import PRESETS
from eie.images import write_images
from eie.network import Conv, Dense, Flatten, Network, Pool
from sim import runner
from sim.cases import Case

REASON = runner.verilator_missing()
pytestmark = [pytest.mark.verilator, pytest.mark.skipif(REASON is not None, reason=REASON or "")]

TINY = PRESETS["tiny"]
OUT = runner.BUILD_ROOT / "tests"
STRESS = {"clean": (0.0, 0.0), "stress": (0.3, 0.3)}


def conv_net_images(folder, seed):
    rng = np.random.default_rng(seed)
    net = Network((2, 7, 6), (Conv(0, 5, (3, 3), (1, 1), (1, 1, 1, 1)), Pool("max", (2, 2), (2, 2)),
                              Conv(1, 6, (2, 2), (1, 1), (0, 1, 0, 0)), Pool("avg", (2, 2), (1, 1), (1, 0, 0, 1)),
                              Flatten(), Dense(2), Dense(3)))

    def q(name, out, inn, relu=True):
        idx = rng.integers(0, TINY.codebook_size, (out, inn)) * (rng.random((out, inn)) < 0.5)
        return fmt.QuantizedLayer(name, idx, np.r_[0, rng.normal(0, .5, TINY.codebook_size - 1)],
                                  rng.normal(0, .2, out), relu)

    layers = [q("c1", 5, 18), q("c2", 6, 20), q("f1", 9, 6 * 2 * 3), q("f2", 4, 9, False)]
    images = write_images(fmt.encode_network(layers, TINY, network=net, allow_loss=True), folder / "images")
    x = rng.integers(-400, 400, (2, 2, 7, 6)) * (rng.random((2, 2, 7, 6)) < 0.7)
    np.save(folder / "inputs.npy", x)
    return images, folder / "inputs.npy"


@pytest.mark.parametrize("stress", STRESS, ids=list(STRESS))
def test_conv_net_on_the_rtl(stress):
    from sim import regression

    seed = int(os.environ.get("EIE_SEED", 70))
    print(f"seed={seed}")
    folder = OUT / f"convnet-{stress}-data"
    images, inputs = conv_net_images(folder, seed)
    idle, bp = STRESS[stress]
    case = Case(name=f"convnet/{stress}", cfg=TINY, kind="images", shape=[84, 4], n_vectors=2, seed=seed,
                idle=idle, backpressure=bp, images=str(images), inputs=str(inputs))
    (r,) = regression.run_cases([case], OUT / f"convnet-{stress}", waves=runner.waves_from_env() is not None,
                                progress=False)
    print(r["status"], r.get("error"), r.get("network"))
    assert r["status"] == "pass", r["error"]
    net = r["network"]
    # Per image: 42 patches of conv 1, 6 of conv 2, one RUN of the two dense layers.
    assert net["images"] == 2 and net["runs"] == 2 * (42 + 6 + 1)
    assert [(l["layer"], l["runs"]) for l in r["layers"][:3]] == [("c1", 42), ("c2", 6), ("f1+f2", 1)]
    assert all(l["rtl"] == l["model"] for l in r["layers"])
    assert net["cycles_per_image"] > net["run_cycles_per_image"] > 0     # host traffic on top
    assert r["values_checked"] == 2 * (42 * 5 + 6 * 6 + 4 + 4)
