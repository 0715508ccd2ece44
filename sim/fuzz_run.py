"""Running the protocol fuzzer on Verilator: batches, parallel jobs, the JSON + Markdown summary.

A batch is one simulator run of `sim.tb.test_fuzz`: a config, a seed, a frame count and
the stream knobs (idle cycles on host_rx, backpressure on host_tx). `fuzz_set` splits a
total frame count over the standard batches (4-PE ``tiny`` clean and stressed, the 1-PE /
queue-depth-1 corner, 3 PEs so the flat activation index is split by a PE count that is no
power of two); ``--config`` runs one batch. Every batch prints the command that replays it.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from eie.config import EIEConfig, PRESETS

from . import runner
from .cases import regression_config

__all__ = ["FUZZ_CONFIGS", "Batch", "fuzz_set", "run_batch", "main"]

FUZZ_CONFIGS: dict[str, EIEConfig] = {
    "tiny": PRESETS["tiny"],
    "pe1": regression_config(1, 1, entries_per_word=1),
    "pe3": regression_config(3, 2, entries_per_word=2),
}


@dataclass
class Batch:
    config: str
    seed: int
    frames: int
    idle: float = 0.0
    backpressure: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.config}-s{self.seed}-{'stress' if self.idle or self.backpressure else 'clean'}"

    @property
    def replay(self) -> str:
        return (f"python -m sim.fuzz --config {self.config} --seed {self.seed} --frames {self.frames} "
                f"--idle {self.idle} --backpressure {self.backpressure}")


# Share of the frames, config, idle, backpressure.
_SET = [(0.3, "tiny", 0.0, 0.0), (0.3, "tiny", 0.3, 0.3), (0.2, "pe1", 0.3, 0.3), (0.2, "pe3", 0.0, 0.2)]


def fuzz_set(frames: int, seed: int) -> list[Batch]:
    """The standard batches, ``frames`` in total, seeds ``seed``, ``seed + 1``, ..."""
    return [Batch(cfg, seed + i, max(50, int(round(share * frames))), idle, bp)
            for i, (share, cfg, idle, bp) in enumerate(_SET)]


def run_batch(batch: Batch, out: Path) -> dict:
    """One simulator run; its result record (``status`` pass or fail)."""
    cfg = FUZZ_CONFIGS[batch.config]
    folder = Path(out).resolve() / "runs" / batch.name
    folder.mkdir(parents=True, exist_ok=True)
    results = folder / "result.json"
    results.unlink(missing_ok=True)
    spec = {"cfg": cfg.to_dict(), "seed": batch.seed, "frames": batch.frames, "idle": batch.idle,
            "backpressure": batch.backpressure, "results": str(results)}
    (folder / "spec.json").write_text(json.dumps(spec))
    print(f"fuzz {batch.name}: seed={batch.seed} frames={batch.frames} (replay: {batch.replay})", flush=True)
    build = runner.get_build(cfg)
    t0 = time.monotonic()
    try:
        build.test("sim.tb.test_fuzz", test_dir=folder, env={"EIE_FUZZ": folder / "spec.json"},
                   log_file=folder / "sim.log")
    except SystemExit:
        pass                                   # the result file says why
    rec = json.loads(results.read_text()) if results.exists() else \
        {"status": "error", "error": f"no result: see {folder / 'sim.log'}"}
    rec.update(batch=batch.name, config=batch.config, replay=batch.replay, log=str(folder / "sim.log"),
               seconds=round(time.monotonic() - t0, 1))
    print(f"fuzz {batch.name}: {rec['status']} {rec.get('frames', 0)} frames, {rec.get('bytes_sent', 0)} bytes "
          f"sent, {rec.get('cycles', 0)} cycles, {rec['seconds']} s" + (f": {rec['error']}" if rec.get("error") else ""),
          flush=True)
    return rec


def summary_markdown(recs: list[dict], seconds: float) -> str:
    frames = sum(r.get("frames", 0) for r in recs)
    ok = all(r["status"] == "pass" for r in recs)
    statuses: dict[str, int] = {}
    for r in recs:
        for k, v in (r.get("statuses") or {}).items():
            statuses[k] = statuses.get(k, 0) + v
    lines = [f"# Protocol fuzzing: {'PASS' if ok else 'FAIL'}", "",
             f"{frames} frames in {len(recs)} batches, {seconds:.0f} s; replies by status: "
             + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())), "",
             "| batch | config | idle | backpressure | frames | bytes sent | bytes received | cycles | result | replay |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in recs:
        lines.append(f"| {r['batch']} | {r['config']} | {r.get('idle')} | {r.get('backpressure')} | "
                     f"{r.get('frames', 0)} | {r.get('bytes_sent', 0)} | {r.get('bytes_received', 0)} | "
                     f"{r.get('cycles', 0)} | {r['status']} | `{r['replay']}` |")
    bad = [r for r in recs if r["status"] != "pass"]
    for r in bad:
        lines += ["", f"**{r['batch']}**: {r.get('error')} (log {r['log']})"]
    return "\n".join(lines) + "\n"


def run_set(batches: list[Batch], out: Path, jobs: int = 2) -> list[dict]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    # Build every config first (one at a time: the builds share the two cores).
    for name in sorted({b.config for b in batches}):
        runner.get_build(FUZZ_CONFIGS[name])
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        recs = list(pool.map(lambda b: run_batch(b, out), batches))
    seconds = time.monotonic() - t0
    summary = {"frames": sum(r.get("frames", 0) for r in recs), "seconds": round(seconds, 1),
               "passed": all(r["status"] == "pass" for r in recs), "batches": recs}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "summary.md").write_text(summary_markdown(recs, seconds))
    return recs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m sim.fuzz", description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=6000, help="frames in total (default 6000: the quick set)")
    p.add_argument("--seed", type=int, default=1, help="seed of the first batch (the others count up)")
    p.add_argument("--config", choices=sorted(FUZZ_CONFIGS), help="one batch on this config (a replay)")
    p.add_argument("--idle", type=float, default=0.0, help="with --config: idle probability on host_rx")
    p.add_argument("--backpressure", type=float, default=0.0, help="with --config: backpressure on host_tx")
    p.add_argument("--jobs", type=int, default=2, help="batches run in parallel")
    p.add_argument("--out", default="out/fuzz", help="output folder (summary.md, summary.json, runs/)")
    args = p.parse_args(argv)
    batches = ([Batch(args.config, args.seed, args.frames, args.idle, args.backpressure)] if args.config
               else fuzz_set(args.frames, args.seed))
    recs = run_set(batches, Path(args.out), args.jobs)
    print((Path(args.out) / "summary.md").read_text())
    return 0 if all(r["status"] == "pass" for r in recs) else 1
