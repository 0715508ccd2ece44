"""Bitstream builds: the board top through amaranth's build plan and the YoWASP tools, atomically.

`build_board` elaborates the board top (`fpga.top.BoardTop` around `hw.top.EIETop`), runs
Yosys, nextpnr and the packer (`fpga.toolrun`), and writes into the output folder,
atomically (`eie.atomic`):

* the bitstream (``top.bin`` for the iCE40, ``top.bit`` for the ECP5, plus ``top.dfu``
  for a board with a DFU bootloader, `Board.dfu_ids`, `fpga.dfu`);
* ``report.json`` and ``report.md`` (`fpga.report`): Fmax from nextpnr, LUT/FF/block
  RAM/SPRAM/DSP use, PE count, peak GOP/s (``2 * n_pe * f``), and, for a compressed model,
  the modeled GOP/s at that clock (`fpga.performance`);
* ``build/``: the tools' logs (``top.rpt`` Yosys, ``top.tim`` nextpnr) and scripts.

Before any of that, `fpga.capacity.check_fits` refuses a config the board cannot hold.

The netlist is the one the Verilog and Verilator builds use (`hw.netlist`): the PE converted
once as its own module, added to amaranth's build plan as ``<pe module>.il`` (the Lattice
build scripts read every ``.il`` file of the plan), the top instantiating it N times
(``EIETop(cfg, hierarchical=True)``), and no zero memory contents (`build_plan`). Yosys
flattens the design before it maps it, so the logic is that of the flat design.

If nextpnr's Fmax misses the requested clock, the build is repeated once with the PLL
set at or below the Fmax found (``retry=True``), and the report records both attempts.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from eie.atomic import atomic_dir
from eie.config import EIEConfig

from .capacity import boot_rom_blocks, check_fits
from .dfu import add_dfu_suffix
from .pll import plan_clock
from .report import attempt_result, build_report, failure_message, write_report
from .toolrun import BuildError, run_tools, tool_env
from .uart import baud_divisor

__all__ = ["build_board", "build_plan", "boot_commands"]


def boot_commands(images) -> bytes:
    """The command frames the host driver sends to load ``images``, back to back
    (`host.load.load_bytes`, the driver's own load), so a baked model is loaded exactly as
    a host would load it."""
    from host.load import load_bytes
    return load_bytes(images)


@dataclass(frozen=True)
class _Job:
    """What every attempt of one build shares."""

    board: object
    cfg: EIEConfig
    make_core: Callable
    netlists: dict          # file name -> RTLIL of the modules the core instantiates
    baud: int | None
    boot: bytes | None
    baked: object
    seed: int
    env: dict
    out_dir: Path
    log: Callable


def build_board(board, out_dir, *, cfg=None, freq: float | None = None, baud: int | None = None,
                bake=None, model=None, core_factory=None, seed: int = 1, retry: bool = True,
                n_inputs: int = 100, log=print) -> dict:
    """Build ``board``'s bitstream into ``out_dir``; return the report (also written there).

    Parameters
    ----------
    board : fpga.boards.Board
    out_dir : path
        Written atomically: bitstream, report.json, report.md, build/ (logs).
    cfg : EIEConfig or None
        The array's configuration (default: the board's).
    freq : float or None
        Requested clock in Hz (default: the board's).
    baud : int or None
        UART baud rate (default: the board's).
    bake : path or Images or None
        An image folder to bake into the bitstream (loaded at reset by `fpga.boot`).
    model : path or Images or None
        An image folder whose modeled performance goes into the report (default: ``bake``).
    core_factory : callable(cfg) -> Component, optional
        A self-contained design (no instances of separately converted modules) in place of
        the array (`hw.top.EIETop`); tests pass fixtures here.
    seed : int
        nextpnr's placement seed.
    retry : bool
        Rebuild once at a clock within the Fmax found if timing fails.
    """
    from .performance import model_performance

    cfg = cfg if cfg is not None else board.default_config
    f_target = float(freq) if freq is not None else board.default_freq
    # Clock and baud rate first: a request out of reach fails before anything is built.
    _, f_sync = plan_clock(board.family, board.clk_freq, f_target)
    baud_divisor(f_sync, baud if baud is not None else board.baud)

    baked = _images(bake, cfg)
    model_images = _images(model, cfg) if model is not None else baked
    boot = boot_commands(baked) if baked is not None else None
    if core_factory is None:
        # Before anything is built: a config the board cannot hold fails here, in one line.
        check_fits(board, cfg, extra_bram=boot_rom_blocks(board.family, len(boot or b"")))
    env = tool_env(board)
    make_core, netlists = _design(cfg, core_factory)
    job = _Job(board=board, cfg=cfg, make_core=make_core, netlists=netlists, baud=baud, boot=boot,
               baked=baked, seed=seed, env=env, out_dir=Path(out_dir), log=log)
    t_start = time.perf_counter()
    with atomic_dir(job.out_dir) as tmp:
        attempts = _attempts(job, tmp, f_target, retry)
        products = _products(board, _keep_last_attempt(tmp, len(attempts)), tmp)
        report = build_report(board, cfg, attempts, products, baked, job.boot,
                              time.perf_counter() - t_start)
        if model_images is not None:
            t = time.perf_counter()
            report["model"] = model_performance(model_images, attempts[-1]["f_sync_mhz"] * 1e6,
                                                n_inputs=n_inputs, log=log)
            report["model"]["folder"] = str(model_images.folder)
            report["model"]["seconds"] = round(time.perf_counter() - t, 2)
        write_report(report, tmp)
    return report


def _images(x, cfg):
    from eie.images import Images, read_images
    if x is None or isinstance(x, Images):
        return x
    return read_images(x, cfg)


def _design(cfg, core_factory):
    """``(make_core, netlists)``: the design's factory and the netlist files of the modules it
    instantiates (the PE's, for the array; none for a self-contained fixture)."""
    if core_factory is not None:
        return core_factory, {}
    from hw.netlist import pe_module_name, pe_rtlil
    from hw.top import EIETop

    def make_core(c):
        return EIETop(c, hierarchical=True)
    return make_core, {f"{pe_module_name(cfg)}.il": pe_rtlil(cfg)}


def build_plan(board, top, netlists: dict | None = None, *, seed: int = 1):
    """amaranth's build plan of ``top`` for ``board``, with the ``netlists`` (file name ->
    RTLIL) added for Yosys to read before ``top.il``, and the all-zero memory contents left
    out of ``top.il`` (`hw.netlist.strip_zero_meminit`: the iCE40 SPRAM cannot be
    initialised, so Yosys maps only a memory without contents to it; the hardware writes
    every memory it reads), and the distribution trees' registers kept apart
    (`hw.distribute.KEEP_SCRIPT`: Yosys would merge the copies)."""
    from hw.distribute import KEEP_SCRIPT
    from hw.netlist import strip_zero_meminit

    platform = board.platform()
    for name, text in (netlists or {}).items():
        platform.add_file(name, text)
    plan = platform.prepare(
        top, name="top", synth_opts=board.synth_opts, script_after_read=KEEP_SCRIPT,
        nextpnr_opts=f"--timing-allow-fail --seed {seed} {board.nextpnr_opts}".strip())
    plan.files["top.il"] = strip_zero_meminit(plan.files["top.il"])
    return plan


def _attempts(job: _Job, tmp: Path, f_target: float, retry: bool) -> list[dict]:
    """Build at ``f_target``; if timing fails (and ``retry``), once more within the Fmax found."""
    attempts = []
    requested = f_target
    while True:
        folder = tmp / "build" if not attempts else tmp / f"build-{len(attempts)}"
        attempt = _attempt(job, folder, requested)
        attempts.append(attempt)
        if attempt["timing_met"] or not retry or len(attempts) > 1:
            return attempts
        fmax = attempt["fmax_mhz"]
        requested = _retry_freq(job.board, fmax * 1e6)
        if requested is None:
            job.log(f"{job.board.name}: timing failed and no clock at or below {fmax:.2f} MHz can be made")
            return attempts
        job.log(f"{job.board.name}: timing failed; rebuilding with the clock at or below "
                f"{requested / 1e6:.2f} MHz")


def _attempt(job: _Job, folder: Path, requested: float) -> dict:
    """One run of the tools at ``requested`` Hz in ``folder``; BuildError if they fail."""
    from .top import BoardTop

    board, cfg = job.board, job.cfg
    top = BoardTop(board, job.make_core(cfg), freq=requested, baud=job.baud, boot=job.boot,
                   fifo_depth=board.fifo_depth, tx_fifo_depth=board.tx_fifo_depth)
    job.log(f"{board.name}: {cfg.n_pe} PEs (config {cfg.hash}), PLL {top.f_sync / 1e6:.3f} MHz "
            f"(requested {requested / 1e6:g} MHz), UART {top.baud} baud (divisor {top.divisor})"
            + (f", baked model {job.baked.folder} ({len(job.boot)} bytes)" if job.baked is not None else ""))
    t = time.perf_counter()
    build_plan(board, top, job.netlists, seed=job.seed).extract(str(folder))
    rc = run_tools(folder, job.env, folder / "build.log")
    seconds = time.perf_counter() - t
    attempt = attempt_result(board, folder, top, requested, seconds, rc)
    if rc != 0:
        kept = _keep_failed(folder, job.out_dir)
        raise BuildError(failure_message(board, attempt, folder, kept))
    job.log(f"{board.name}: built in {seconds:.1f} s: Fmax {attempt['fmax_mhz']:.2f} MHz at "
            f"{attempt['f_sync_mhz']:.3f} MHz ({'met' if attempt['timing_met'] else 'FAILED'})")
    return attempt


def _retry_freq(board, fmax_hz: float):
    """A clock request the PLL can meet just under ``fmax_hz``: the oscillator itself when
    the PLL cannot go that low (the iCE40 PLL stops at 16 MHz), None when nothing fits."""
    target = fmax_hz * 0.995
    try:
        plan_clock(board.family, board.clk_freq, target)
        return target
    except ValueError:
        return board.clk_freq if board.clk_freq <= target else None


def _keep_last_attempt(tmp: Path, n_attempts: int) -> Path:
    """The folder of the attempt that counts, moved to ``build/`` (a first attempt's logs
    stay in ``build-first/``)."""
    if n_attempts == 1:
        return tmp / "build"
    os.rename(tmp / "build", tmp / "build-first")
    os.rename(tmp / f"build-{n_attempts - 1}", tmp / "build")
    return tmp / "build"


def _products(board, build_dir: Path, tmp: Path) -> dict:
    """The bitstream (and DFU file) next to the report; their names and the bitstream's hash."""
    bitstream = tmp / f"top.{board.bitstream}"
    shutil.copyfile(build_dir / bitstream.name, bitstream)
    products = {"bitstream": bitstream.name,
                "bitstream_sha256": hashlib.sha256(bitstream.read_bytes()).hexdigest()}
    if board.dfu_ids is not None:
        vendor, product = board.dfu_ids
        dfu = tmp / "top.dfu"
        dfu.write_bytes(add_dfu_suffix(bitstream.read_bytes(), vendor, product))
        products["dfu"] = dfu.name
    return products


def _keep_failed(build_dir: Path, out_dir: Path) -> Path:
    # atomic_dir removes the temporary folder; the logs of a failed build stay here.
    failed = out_dir.parent / f"{out_dir.name}.failed"
    shutil.rmtree(failed, ignore_errors=True)
    shutil.copytree(build_dir, failed)
    return failed
