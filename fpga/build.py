"""Bitstream builds with the YoWASP tools, and the build report (JSON and Markdown).

`build_board` elaborates the board top (`fpga.top.BoardTop` around `hw.top.EIETop`),
runs Yosys, nextpnr and the packer from PyPI's YoWASP wheels (the environment variables
amaranth reads for each tool are set here, to the commands next to this Python), and
writes into the output folder, atomically:

* the bitstream (``top.bin`` for the iCE40, ``top.bit`` for the ECP5, plus ``top.dfu``
  with a DFU suffix for the OrangeCrab's bootloader);
* ``report.json`` and ``report.md``: Fmax from nextpnr, LUT/FF/block RAM/SPRAM/DSP use,
  PE count, peak GOP/s (``2 * n_pe * f``), and, for a compressed model, the modeled
  GOP/s at that clock from the cycle model (`eie.cycle_model`) over real test inputs;
* ``build/``: the tools' logs (``top.rpt`` Yosys, ``top.tim`` nextpnr) and scripts.

If nextpnr's Fmax misses the requested clock, the build is repeated once with the PLL
set at or below the Fmax found (``retry=True``), and the report records both attempts.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

from eie.atomic import atomic_dir
from eie.errors import EIEError

__all__ = ["BuildError", "build_board", "tool_env", "parse_nextpnr_log", "parse_yosys_log", "module_cells",
           "add_dfu_suffix", "boot_commands", "write_report", "render_markdown"]


class BuildError(EIEError):
    """A build that could not finish: missing tools, a design that does not fit, a tool error."""


# ---- tools ---------------------------------------------------------------------------------

def _tool_path(command: str) -> str:
    if command in ("true", "false"):
        return command
    # Next to this interpreter first: `eie` may run without the venv's bin on PATH.
    here = Path(sys.executable).parent / command
    if here.exists():
        return str(here)
    found = shutil.which(command)
    if found is None:
        raise BuildError(f"{command} not found (install eie-gen's dependencies: `make install`)")
    return found


def tool_env(board) -> dict:
    """The build's environment: ours, plus one variable per tool pointing at YoWASP."""
    env = dict(os.environ)
    # amaranth would source a toolchain script if this were set; we bring our own tools.
    for key in list(env):
        if key.startswith("AMARANTH_ENV_"):
            del env[key]
    for var, command in board.tools.items():
        env[var] = _tool_path(command)
    env.setdefault("AMARANTH_USE_YOSYS", "builtin")
    return env


# ---- log parsing ---------------------------------------------------------------------------

_FMAX = re.compile(r"Max frequency for clock\s+'([^']+)':\s*([\d.]+)\s*MHz\s*\((PASS|FAIL) at ([\d.]+) MHz\)")
_UTIL = re.compile(r"^Info:\s+(\S+):\s+(\d+)/\s*(\d+)\s+\d+%")


def parse_nextpnr_log(text: str) -> dict:
    """Fmax per clock (the last, post-route figures), cell use and the critical paths.

    Returns ``{"fmax": {clock: {"mhz", "target_mhz", "pass"}}, "cells": {type: [used,
    total]}, "critical_paths": [lines of the last report per clock], "errors": [...]}``.
    """
    fmax = {}
    for clock, mhz, verdict, target in _FMAX.findall(text):
        fmax[clock] = {"mhz": float(mhz), "target_mhz": float(target), "pass": verdict == "PASS"}
    cells = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Info: Device utilisation:"):
            cells = {}
            for follow in lines[i + 1:]:
                m = _UTIL.match(follow)
                if not m:
                    break
                cells[m.group(1)] = [int(m.group(2)), int(m.group(3))]
    # The last "Critical path report for clock" block of each clock (post-route).
    paths = {}
    for i, line in enumerate(lines):
        m = re.match(r"Info: Critical path report for (clock '[^']+'|cross-domain path .*):?", line)
        if m:
            block = []
            for follow in lines[i + 1:]:
                if not follow.strip():
                    break
                block.append(follow[6:] if follow.startswith("Info: ") else follow)
            paths[m.group(1)] = block
    errors = [line for line in lines if line.startswith("ERROR:")]
    return {"fmax": fmax, "cells": cells, "critical_paths": paths, "errors": errors}


def _cell_counts(block: str) -> dict:
    """``count  cell`` lines of one ``stat`` block. Cell types are SB_*, TRELLIS_*, DP16KD,
    $scopeinfo ...; "wires", "cells" and module names are skipped."""
    cells = {}
    for m in re.finditer(r"^\s+(\d+)\s+(\$?[A-Za-z_][\w$]*)\s*$", block, re.M):
        name = m.group(2)
        if name[0].isupper() or name.startswith("$"):
            cells[name] = cells.get(name, 0) + int(m.group(1))
    return cells


def parse_yosys_log(text: str) -> dict:
    """Cell counts of the top module after synthesis (the last ``stat`` in the log)."""
    blocks = text.split("=== design hierarchy ===")
    return _cell_counts(blocks[-1] if len(blocks) > 1 else text.rsplit("=== top ===", 1)[-1])


def module_cells(stat: str) -> dict:
    """Cell counts of every module of a ``stat`` report (``-noflatten`` synthesis)."""
    parts = re.split(r"^=== (.+?) ===$", stat, flags=re.M)
    return {name: _cell_counts(body) for name, body in zip(parts[1::2], parts[2::2])
            if name != "design hierarchy"}


def summarize_utilisation(family: str, cells: dict, yosys_cells: dict) -> dict:
    """Map the tools' cell names onto LUT / FF / BRAM / SPRAM / DSP: name -> [used, total]."""
    def get(name):
        return cells.get(name)

    out = {}
    if family == "ice40":
        lc = get("ICESTORM_LC")
        if lc:
            out["LUT"] = lc                          # logic cells: LUT4 + FF + carry
        ffs = sum(n for c, n in yosys_cells.items() if c.startswith("SB_DFF"))
        out["FF"] = [ffs, lc[1] if lc else 5280]
        for key, name in (("BRAM", "ICESTORM_RAM"), ("SPRAM", "ICESTORM_SPRAM"), ("DSP", "ICESTORM_DSP")):
            if get(name):
                out[key] = get(name)
    else:
        for key, name in (("LUT", "TRELLIS_COMB"), ("FF", "TRELLIS_FF"), ("BRAM", "DP16KD"),
                          ("DSP", "MULT18X18D"), ("LUTRAM", "TRELLIS_RAMW")):
            if get(name):
                out[key] = get(name)
    return out


# ---- DFU suffix (replaces dfu-util's dfu-suffix for the OrangeCrab) -------------------------

def add_dfu_suffix(data: bytes, vendor: int = 0x1209, product: int = 0x5AF0,
                   device: int = 0xFFFF) -> bytes:
    """``data`` followed by a DFU 1.0 suffix, as ``dfu-suffix -v 1209 -p 5af0 -a`` writes it.

    The suffix is bcdDevice, idProduct, idVendor, bcdDFU (0x0100), "UFD", bLength (16),
    then dwCRC: the CRC-32 of everything before it, without the final inversion.
    """
    suffix = (device.to_bytes(2, "little") + product.to_bytes(2, "little")
              + vendor.to_bytes(2, "little") + (0x0100).to_bytes(2, "little") + b"UFD" + bytes([16]))
    crc = zlib.crc32(data + suffix) ^ 0xFFFFFFFF
    return data + suffix + crc.to_bytes(4, "little")


# ---- baked models --------------------------------------------------------------------------

def boot_commands(images) -> bytes:
    """The command frames the host driver sends to load ``images``, back to back
    (`host.load.load_frames`, the driver's own load), so a baked model is loaded exactly as
    a host would load it."""
    from host.load import load_bytes
    return load_bytes(images)


# ---- performance figures -------------------------------------------------------------------

def model_performance(images, f_hz: float, *, n_inputs: int = 100, log=print) -> dict:
    """Modeled throughput of ``images`` at ``f_hz`` over real test inputs.

    Cycles come from the cycle model (`eie.cycle_model`, exact against the RTL); the inputs
    are the built-in dataset whose images match the first layer (MNIST for LeNet-300-100),
    quantized as the golden model takes them. Without such a dataset the result says so and
    holds no modeled figures.
    """
    import numpy as np
    from compress.data import dataset_for_inputs, load_dataset
    from eie import format as fmt
    from eie import numerics
    from eie.cycle_model import CycleModel
    from eie.golden import GoldenModel

    program = images.program()
    cfg = images.cfg
    result = {"layers": [{"name": e.name, "in": e.in_len, "out": e.out_len} for e in program.layers]}
    name = dataset_for_inputs(program.layers[0].in_len)
    if name is None:
        result["note"] = "no built-in dataset matches the first layer: no modeled figures"
        return result
    x = numerics.act_from_float(load_dataset(name).x_test[:n_inputs], cfg)
    result["inputs"] = f"{len(x)} {name} test images"

    # Useful MACs: non-zero weight times non-zero input, per layer, on the actual activations.
    acts = [x] + GoldenModel(images).run_layers(x)
    macs = 0
    dense_macs = 0
    for e, a in zip(program.layers, acts):
        nz_w = (fmt.decode_layer(e, cfg.n_pe) != 0)            # out x in
        macs += int(((a[:, :e.in_len] != 0).astype(np.int64) @ nz_w.T.astype(np.int64)).sum())
        dense_macs += e.in_len * e.out_len * len(x)
    result["useful_macs_per_input"] = macs / len(x)
    result["dense_macs_per_input"] = dense_macs / len(x)
    per_input = float(np.mean(CycleModel(program).run(x).total_cycles))
    seconds = per_input / f_hz
    result.update({
        "cycles_per_input": per_input,
        "us_per_input": 1e6 * seconds,
        "inputs_per_second": 1.0 / seconds,
        "gops": 2 * result["useful_macs_per_input"] / seconds / 1e9,
        "dense_equivalent_gops": 2 * result["dense_macs_per_input"] / seconds / 1e9,
        "pe_utilisation": result["useful_macs_per_input"] / (per_input * cfg.n_pe),
    })
    return result


# ---- the build -----------------------------------------------------------------------------

def _default_core(cfg):
    from hw.top import EIETop
    return EIETop(cfg)


def _uninit_script(board) -> str:
    # Amaranth gives every memory initial contents (zeros by default); the iCE40 SPRAM has
    # none, so Yosys will not map an initialised memory to it. The hardware writes the
    # sparse-matrix memory before it reads any word of it, so its zeros can go.
    return "\n".join(f"delete */t:$meminit_v2 r:MEMID=\\\\{name} %i" for name in board.uninit_memories) \
        or "# (no memories left uninitialised)"


def _run_tools(build_dir: Path, env: dict, log_path: Path):
    script = build_dir / "build_top.sh"
    with open(log_path, "w") as out:
        # Its own process group: if the build is interrupted, the tools the script started
        # (nextpnr can run for an hour) go with it instead of running on as orphans.
        proc = subprocess.Popen(["sh", str(script.name)], cwd=build_dir, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return proc.wait()
        except BaseException:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            raise


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
        The design (default `hw.top.EIETop`); tests pass fixtures here.
    seed : int
        nextpnr's placement seed.
    retry : bool
        Rebuild once at a clock within the Fmax found if timing fails.
    """
    from eie.images import Images, read_images
    from .top import BoardTop

    from .pll import plan_clock
    from .uart import baud_divisor

    cfg = cfg if cfg is not None else board.default_config
    make_core = core_factory or _default_core
    f_target = float(freq) if freq is not None else board.default_freq
    # Clock and baud rate first: a request out of reach fails before anything is built.
    _, f_sync = plan_clock(board.family, board.clk_freq, f_target)
    baud_divisor(f_sync, baud if baud is not None else board.baud)

    def load(x):
        if x is None or isinstance(x, Images):
            return x
        return read_images(x, cfg)

    baked = load(bake)
    model_images = load(model) if model is not None else baked
    boot = boot_commands(baked) if baked is not None else None

    out_dir = Path(out_dir)
    env = tool_env(board)
    attempts = []
    t_start = time.perf_counter()
    with atomic_dir(out_dir) as tmp:
        requested = f_target
        while True:
            top = BoardTop(board, make_core(cfg), freq=requested, baud=baud, boot=boot,
                           fifo_depth=board.fifo_depth)
            attempt_dir = tmp / "build" if not attempts else tmp / f"build-{len(attempts)}"
            log(f"{board.name}: {cfg.n_pe} PEs (config {cfg.hash}), PLL {top.f_sync / 1e6:.3f} MHz "
                f"(requested {requested / 1e6:g} MHz), UART {top.baud} baud (divisor {top.divisor})"
                + (f", baked model {baked.folder} ({len(boot)} bytes)" if baked is not None else ""))
            t = time.perf_counter()
            plan = board.platform().prepare(
                top, name="top", synth_opts=board.synth_opts,
                script_after_read=_uninit_script(board),
                nextpnr_opts=f"--timing-allow-fail --seed {seed} {board.nextpnr_opts}".strip())
            plan.extract(str(attempt_dir))
            rc = _run_tools(attempt_dir, env, attempt_dir / "build.log")
            seconds = time.perf_counter() - t
            attempt = _attempt_result(board, attempt_dir, top, requested, seconds, rc)
            attempts.append(attempt)
            if rc != 0:
                _keep_failed(attempt_dir, out_dir)
                raise BuildError(_failure_message(board, attempt, attempt_dir, out_dir))
            fmax = attempt["fmax_mhz"]
            log(f"{board.name}: built in {seconds:.1f} s: Fmax {fmax:.2f} MHz at "
                f"{attempt['f_sync_mhz']:.3f} MHz ({'met' if attempt['timing_met'] else 'FAILED'})")
            if attempt["timing_met"] or not retry or len(attempts) > 1:
                break
            requested = _retry_freq(board, fmax * 1e6)
            if requested is None:
                log(f"{board.name}: timing failed and no clock at or below {fmax:.2f} MHz can be made")
                break
            log(f"{board.name}: timing failed; rebuilding with the clock at or below {requested / 1e6:.2f} MHz")

        final = attempts[-1]
        final_dir = tmp / "build" if len(attempts) == 1 else tmp / f"build-{len(attempts) - 1}"
        if len(attempts) > 1:
            # The bitstream and logs of the attempt that counts go in build/; the first
            # attempt's logs stay in build-first/.
            os.rename(tmp / "build", tmp / "build-first")
            os.rename(final_dir, tmp / "build")
            final_dir = tmp / "build"
        bit_src = final_dir / f"top.{board.bitstream}"
        bitstream = tmp / f"top.{board.bitstream}"
        shutil.copyfile(bit_src, bitstream)
        products = {"bitstream": bitstream.name, "bitstream_sha256": _sha256(bitstream)}
        if board.dfu_ids is not None:
            vendor, product = board.dfu_ids
            dfu = tmp / "top.dfu"
            dfu.write_bytes(add_dfu_suffix(bitstream.read_bytes(), vendor, product))
            products["dfu"] = dfu.name

        report = _report(board, cfg, final, attempts, products, baked, boot,
                         time.perf_counter() - t_start)
        if model_images is not None:
            t = time.perf_counter()
            report["model"] = model_performance(model_images, final["f_sync_mhz"] * 1e6,
                                                n_inputs=n_inputs, log=log)
            report["model"]["folder"] = str(model_images.folder)
            report["model"]["seconds"] = round(time.perf_counter() - t, 2)
        write_report(report, tmp)
    return report


def _retry_freq(board, fmax_hz: float):
    """A clock request the PLL can meet just under ``fmax_hz``: the oscillator itself when
    the PLL cannot go that low (the iCE40 PLL stops at 16 MHz), None when nothing fits."""
    from .pll import plan_clock

    target = fmax_hz * 0.995
    try:
        plan_clock(board.family, board.clk_freq, target)
        return target
    except ValueError:
        return board.clk_freq if board.clk_freq <= target else None


def _attempt_result(board, build_dir: Path, top, requested: float, seconds: float, rc: int) -> dict:
    tim = (build_dir / "top.tim").read_text() if (build_dir / "top.tim").exists() else ""
    rpt = (build_dir / "top.rpt").read_text() if (build_dir / "top.rpt").exists() else ""
    pnr = parse_nextpnr_log(tim)
    ys = parse_yosys_log(rpt)
    # The sync clock is the one with the highest target: the oscillator's own constraint
    # (12/25/48 MHz) also appears when a PLL multiplies it.
    clocks = sorted(pnr["fmax"].items(), key=lambda kv: -kv[1]["target_mhz"])
    sync_clock = clocks[0] if clocks else None
    fmax = sync_clock[1]["mhz"] if sync_clock else 0.0
    crit = []
    if sync_clock:
        crit = pnr["critical_paths"].get(f"clock '{sync_clock[0]}'", [])
    return {
        "requested_mhz": requested / 1e6,
        "f_sync_mhz": top.f_sync / 1e6,
        "pll": _pll_dict(top.clock.pll),
        "fmax_mhz": fmax,
        # nextpnr's own verdict, against the target it derived through the PLL.
        "timing_met": bool(sync_clock and sync_clock[1]["pass"]),
        "clocks": dict(clocks),
        "utilisation": summarize_utilisation(board.family, pnr["cells"], ys),
        "cells": pnr["cells"],
        "yosys_cells": ys,
        "critical_path": crit,
        "errors": pnr["errors"] + [l for l in rpt.splitlines() if l.startswith("ERROR")],
        "seconds": round(seconds, 1),
        "returncode": rc,
        "baud": top.baud,
        "divisor": top.divisor,
    }


def _pll_dict(pll):
    if pll is None:
        return None
    from dataclasses import asdict
    return {k: (round(v / 1e6, 6) if k.startswith("f_") else v) for k, v in asdict(pll).items()}


def _keep_failed(build_dir: Path, out_dir: Path):
    # atomic_dir removes the temporary folder; the logs of a failed build stay here.
    failed = out_dir.parent / f"{out_dir.name}.failed"
    shutil.rmtree(failed, ignore_errors=True)
    shutil.copytree(build_dir, failed)


def _failure_message(board, attempt, build_dir, out_dir) -> str:
    failed = out_dir.parent / f"{out_dir.name}.failed"
    log = (build_dir / "build.log").read_text(errors="replace") if (build_dir / "build.log").exists() else ""
    errors = attempt["errors"] or [l for l in log.splitlines() if "ERROR" in l or "error" in l.lower()][-5:]
    over = [f"{k} {u}/{t}" for k, (u, t) in attempt["cells"].items() if u > t]
    msg = f"{board.name} build failed"
    if over:
        msg += f": does not fit ({', '.join(over)})"
    if errors:
        msg += ": " + " | ".join(e.strip() for e in errors[:3])
    return msg + f" (logs kept in {failed})"


def _report(board, cfg, final, attempts, products, baked, boot, seconds) -> dict:
    f = final["f_sync_mhz"] * 1e6
    return {
        "board": board.name,
        "description": board.description,
        "device": board.device,
        "family": board.family,
        "n_pe": cfg.n_pe,
        "config": cfg.to_dict(),
        "config_hash": cfg.hash,
        "clock": {
            "oscillator_mhz": board.clk_freq / 1e6,
            "requested_mhz": final["requested_mhz"],
            "pll_mhz": final["f_sync_mhz"],
            "pll": final["pll"],
            "fmax_mhz": final["fmax_mhz"],
            "timing_met": final["timing_met"],
        },
        "uart": {"baud": final["baud"], "divisor": final["divisor"],
                 "actual_baud": round(f / final["divisor"])},
        "utilisation": final["utilisation"],
        "cells": final["cells"],
        "peak_gops": 2 * cfg.n_pe * f / 1e9,
        "peak_gops_at_fmax": 2 * cfg.n_pe * final["fmax_mhz"] * 1e6 / 1e9,
        "critical_path": final["critical_path"],
        "baked_model": None if baked is None else {"folder": str(baked.folder), "boot_bytes": len(boot)},
        "attempts": [{k: a[k] for k in ("requested_mhz", "f_sync_mhz", "fmax_mhz", "timing_met", "seconds")}
                     for a in attempts],
        "build_seconds": round(seconds, 1),
        **products,
    }


# ---- report writing ------------------------------------------------------------------------

def _shorten(line: str, keep: int = 90) -> str:
    """Yosys names nets after whole chains of cells; keep the start (where in the design)."""
    return re.sub(r"(\S{%d})\S{12,}" % keep, r"\1...", line)


def write_report(report: dict, folder: Path):
    folder = Path(folder)
    (folder / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (folder / "report.md").write_text(render_markdown(report))


def render_markdown(r: dict) -> str:
    c = r["clock"]
    lines = [
        f"# FPGA build: {r['board']} ({r['device']})",
        "",
        f"{r['description']}.",
        "",
        "| | |",
        "|---|---|",
        f"| PEs | {r['n_pe']} (config `{r['config_hash']}`) |",
        (f"| clock | PLL {c['pll_mhz']:.3f} MHz from a {c['oscillator_mhz']:g} MHz oscillator "
         f"(requested {c['requested_mhz']:g} MHz) |" if c["pll"] else
         f"| clock | the {c['oscillator_mhz']:g} MHz oscillator, no PLL (requested {c['requested_mhz']:g} MHz) |"),
        f"| Fmax (nextpnr) | {c['fmax_mhz']:.2f} MHz: timing {'met' if c['timing_met'] else '**not met**'} |",
        f"| UART | {r['uart']['baud']} baud requested, divisor {r['uart']['divisor']} "
        f"({r['uart']['actual_baud']} baud) |",
        f"| peak | {r['peak_gops']:.3f} GOP/s at the clock (2 x {r['n_pe']} PEs x f); "
        f"{r['peak_gops_at_fmax']:.3f} at Fmax |",
        f"| bitstream | `{r['bitstream']}` (sha256 {r['bitstream_sha256'][:16]}...)"
        + (f", `{r['dfu']}` for dfu-util" if r.get("dfu") else "") + " |",
        f"| baked model | {r['baked_model']['folder'] + ' (' + str(r['baked_model']['boot_bytes']) + ' bytes of commands)' if r['baked_model'] else 'none (models load over the UART)'} |",
        f"| build time | {r['build_seconds']:.0f} s |",
        "",
        "## Utilisation",
        "",
        "| resource | used | available | % |",
        "|---|---|---|---|",
    ]
    for key, (used, total) in r["utilisation"].items():
        lines.append(f"| {key} | {used} | {total} | {100 * used / total:.0f} |")
    m = r.get("model")
    if m:
        lines += ["", "## Compressed model", "", f"Images: `{m.get('folder')}`; layers "
                  + ", ".join(f"{l['name']} {l['in']}x{l['out']}" for l in m["layers"]) + "."]
        if "inputs" in m:
            lines.append(f"Inputs: {m['inputs']}; {m['useful_macs_per_input']:.0f} useful MACs per input "
                         f"(non-zero weight x non-zero activation) of {m['dense_macs_per_input']:.0f} dense.")
        if "gops" in m:
            lines += ["", "| | |", "|---|---|",
                      f"| cycles per input (cycle model) | {m['cycles_per_input']:.0f} |",
                      f"| time per input | {m['us_per_input']:.1f} us ({m['inputs_per_second']:.0f} inputs/s) |",
                      f"| modeled | {m['gops']:.3f} GOP/s on the compressed model "
                      f"({m['dense_equivalent_gops']:.2f} dense-equivalent) |",
                      f"| PE utilisation | {100 * m['pe_utilisation']:.0f} % of peak |"]
        if m.get("note"):
            lines += ["", f"Note: {m['note']}."]
    if len(r["attempts"]) > 1:
        lines += ["", "## Attempts", "", "| requested MHz | PLL MHz | Fmax MHz | met | s |", "|---|---|---|---|---|"]
        for a in r["attempts"]:
            lines.append(f"| {a['requested_mhz']:.2f} | {a['f_sync_mhz']:.3f} | {a['fmax_mhz']:.2f} | "
                         f"{'yes' if a['timing_met'] else 'no'} | {a['seconds']:.0f} |")
    if r["critical_path"]:
        lines += ["", "## Critical path (nextpnr)", "", "```"]
        path = [_shorten(l) for l in r["critical_path"]
                if "Defined in" not in l and not l.strip().startswith("/")]
        lines += path[:60] + (["..."] if len(path) > 60 else []) + ["```"]
    lines.append("")
    return "\n".join(lines)
