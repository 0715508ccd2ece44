"""The whole board core (UART pins, bridge, boot replayer, EIE array) on Verilator via cocotb.

The host driver talks to the design only through the UART pins, bit-banged by
`fpga.tb.uart_transport`; outputs must equal the golden model's exactly and RUN cycles the
cycle model's. Fast tests (`make test`): a small random two-layer network on the ``tiny``
preset with a fast baud divisor, loaded over the UART; and the same network baked into the board core's
boot ROM, with an exact host and with one whose baud rate is 3 % off and that pauses
between bytes. The slow test (`make regression`): the compressed LeNet-300-100 (made once
by the compressor) and a batch of MNIST test images through the UART, on the ``ice40``,
``ice40_1pe`` and ``ecp5_16pe`` presets (the boards' default configs and the 4-PE target).

Every case prints its seed; replay one with ``EIE_SEED=<seed>``.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from eie import format as fmt
from eie.config import PRESETS
from eie.images import read_images, write_images
from sim import runner

REASON = runner.verilator_missing()
pytestmark = [pytest.mark.verilator, pytest.mark.skipif(REASON is not None, reason=REASON or "")]

OUT = runner.BUILD_ROOT / "fpga-sim"


def board_build(cfg, divisor: int, boot: bytes | None = None, fifo_depth: int = 4,
                tx_fifo_depth: int = 1):
    """Verilator build of `BoardCore(EIETop(cfg))` (cached by its Verilog text), with the
    ECP5 boards' transmit FIFO by default."""
    import hashlib
    from hw.netlist import pe_rtlil, to_rtlil, to_verilog
    from hw.top import EIETop
    from fpga.top import BoardCore

    core = BoardCore(EIETop(cfg, hierarchical=True), divisor=divisor, fifo_depth=fifo_depth,
                     tx_fifo_depth=tx_fifo_depth, boot=boot)
    text = to_verilog(pe_rtlil(cfg), to_rtlil(core, "board_core"))
    key = hashlib.sha256(text.encode()).hexdigest()[:12]
    folder = OUT / "verilog" / key
    folder.mkdir(parents=True, exist_ok=True)
    src = folder / "board_core.v"
    if not src.exists():
        src.write_text(text)
    return runner.build_from_verilog([src], "board_core", f"board-{key}", cfg=cfg)


def run_case(name, build, cfg, images, inputs, *, divisor, baked, seed, skew=0.0, gap_bits=0.0,
             save_outputs=None):
    folder = OUT / "runs" / name
    folder.mkdir(parents=True, exist_ok=True)
    case = {"cfg": cfg.to_dict(), "images": str(images), "inputs": str(inputs), "divisor": divisor,
            "baked": baked, "seed": seed, "skew": skew, "gap_bits": gap_bits,
            "results": str(folder / "result.json"),
            "save_outputs": str(save_outputs) if save_outputs else None}
    (folder / "case.json").write_text(json.dumps(case))
    print(f"{name}: seed={seed} divisor={divisor} skew={skew} gap_bits={gap_bits} baked={baked}")
    try:
        build.test("fpga.tb.test_board", test_dir=folder, env={"EIE_BOARD_CASE": folder / "case.json"},
                   log_file=folder / "sim.log")
    finally:
        res = folder / "result.json"
        result = json.loads(res.read_text()) if res.exists() else {"status": "no result"}
        print(f"{name}: {result}")
    assert result.get("status") == "pass", f"{name} failed (seed {seed}): see {folder}/sim.log"
    return result


def small_network(folder: Path, seed: int):
    """A random 2-layer network (37 -> 23 -> 10) on the tiny preset, and 4 input vectors."""
    cfg = PRESETS["tiny"]
    rng = np.random.default_rng(seed)
    sizes = [37, 23, 10]
    layers = []
    for i in range(2):
        a, b = sizes[i], sizes[i + 1]
        # Sparse with long zero runs, so padding entries are exercised too.
        idx = rng.integers(1, 16, (b, a)) * (rng.random((b, a)) < 0.25)
        cb = np.r_[0.0, rng.normal(size=15) * 0.5]
        layers.append(fmt.QuantizedLayer(f"l{i}", idx, cb, rng.normal(size=b), i == 0))
    images = write_images(fmt.encode_network(layers, cfg), folder / "images")
    x = rng.integers(-400, 400, (4, sizes[0])) * (rng.random((4, sizes[0])) < 0.6)
    np.save(folder / "inputs.npy", x)
    return cfg, images, folder / "inputs.npy"


def seed_for(default):
    return int(os.environ.get("EIE_SEED", default))


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    seed = seed_for(2024)
    return (seed, *small_network(tmp_path_factory.mktemp("board"), seed))


def test_small_network_over_the_uart(small):
    """Model and inputs through the UART at 4 clock cycles per bit, back to back."""
    seed, cfg, images, inputs = small
    build = board_build(cfg, divisor=4)
    run_case("small-uart", build, cfg, images, inputs, divisor=4, baked=False, seed=seed)


@pytest.mark.parametrize("host", ["exact", "skewed"])
def test_small_network_baked(small, host):
    """The model in the boot ROM: the host sends only inputs and reads outputs; the skewed
    host runs 3 % fast and pauses up to 1.5 bit times between bytes (8 cycles per bit: a
    4-cycle bit cannot absorb 3 %, a real UART's 16x oversampling could)."""
    from fpga.build import boot_commands

    seed, cfg, images, inputs = small
    boot = boot_commands(read_images(images, cfg))
    build = board_build(cfg, divisor=8, boot=boot)
    skew, gaps = (0.0, 0.0) if host == "exact" else (-0.03, 1.5)
    run_case(f"small-baked-{host}", build, cfg, images, inputs, divisor=8, baked=True, seed=seed,
             skew=skew, gap_bits=gaps)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["ice40", "ice40_1pe", "ecp5_16pe"])
def test_lenet_over_the_uart(preset):
    """Compressed LeNet-300-100 (from the compressor) and a batch of MNIST test images (32, or
    ``EIE_LENET_IMAGES``) over the UART: every output bit-exact against the golden model. On
    the iCE40's 4-PE target, on the 1-PE config the iCEBreaker bitstream is built from, and
    on the 16-PE config of the ECP5 boards' default builds."""
    from compress.data import load_dataset
    from eie import numerics
    from sim.regression import lenet_images

    cfg = PRESETS[preset]
    images = lenet_images(preset)
    data = load_dataset("mnist")
    folder = OUT / f"lenet-{preset}"
    folder.mkdir(parents=True, exist_ok=True)
    n = int(os.environ.get("EIE_LENET_IMAGES", 32))
    x = numerics.act_from_float(data.x_test[:n], cfg)
    np.save(folder / "inputs.npy", x)
    build = board_build(cfg, divisor=4)
    res = run_case(f"lenet-{preset}-uart", build, cfg, images, folder / "inputs.npy", divisor=4,
                   baked=False, seed=seed_for(7), save_outputs=folder / "rtl_out.npy")
    out = np.load(folder / "rtl_out.npy")
    acc = float(np.mean(np.argmax(out, axis=1) == data.y_test[:n]))
    print(f"LeNet-300-100 over the UART: {n} images, accuracy of the RTL's outputs {100 * acc:.1f} %, "
          f"{res['load_bytes']} bytes of model loaded, {res['seconds']} s")
    assert acc > 0.9
