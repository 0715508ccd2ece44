"""Where regression batches run: in this process (threads) or on a Dask cluster.

A *batch* is a few cases of one config that one simulator process runs one after the
other (`run_batch`): it materialises the cases' images and inputs, gets the config's
Verilator build (`sim.runner.get_build`: cached by config hash, file-locked, so any
number of processes on any number of machines sharing the file system make each build
once), runs the cocotb testbench on them and returns one result record per case. Every
argument and result is plain JSON-like data, so a batch runs the same in a thread, in a
`distributed.LocalCluster` worker or on a worker of a cluster elsewhere.

`DaskEngine` schedules one build task per config and the config's batches after it, so
builds of different configs run in parallel on different workers and no worker waits on
another's build lock. Without ``address`` it starts a `LocalCluster` (one single-threaded
worker process per job); with one (``tcp://host:8786``) it uses that cluster, whose
workers must see this repository, its venv and the output folder at the same paths
(docs/verification.md, "Running the regression on a cluster").
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Callable

from eie.config import EIEConfig

__all__ = ["run_batch", "build_config", "ThreadEngine", "DaskEngine", "make_engine", "error_record"]

TB_MODULE = "sim.tb.test_top"


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def error_record(case, message: str, status: str = "error") -> dict:
    """The result record of a case that produced none of its own."""
    d = case.to_dict()
    return {"name": case.name, "status": status, "error": message, "config_hash": case.cfg.hash,
            "n_pe": case.cfg.n_pe, "queue_depth": case.cfg.queue_depth,
            "entries_per_word": case.cfg.entries_per_word, "z_bits": case.cfg.z_bits,
            "balance": getattr(case, "balance", False), "kind": case.kind, "shape": d["shape"],
            "weight_density": case.weight_density, "input_density": case.input_density,
            "load": case.load, "idle": case.idle, "backpressure": case.backpressure,
            "seed": case.seed, "vectors": 0, "values_checked": 0, "mismatches": None,
            "layers": [], "tags": case.tags}


def build_config(cfg_dict: dict, waves: str | None = None) -> dict:
    """Make (or find) the Verilator build of a config; what it took. Runs on a worker."""
    from . import runner

    cfg = EIEConfig.from_dict(cfg_dict)
    reason = runner.verilator_missing()
    if reason:
        return {"hash": cfg.hash, "error": f"skipped: {reason}", "status": "skip", "seconds": 0.0}
    t0 = time.monotonic()
    try:
        build = runner.get_build(cfg, waves=waves)
    except Exception as e:
        return {"hash": cfg.hash, "error": f"build failed: {type(e).__name__}: {e}", "status": "error",
                "seconds": round(time.monotonic() - t0, 1)}
    return {"hash": cfg.hash, "error": None, "status": "ok", "seconds": round(time.monotonic() - t0, 1),
            "built": build.build_seconds > 0, "build_seconds": round(build.build_seconds, 1)}


def run_batch(spec: dict, build_info: dict | None = None, on_result: Callable[[dict], None] | None = None) -> list[dict]:
    """Run one batch; returns one record per case, in the batch's order. Runs on a worker.

    ``spec``: ``cfg`` (config dict), ``cases`` (case dicts, one config), ``out`` (absolute
    output folder: case images go to ``out/cases/<name>``, the simulator runs in
    ``out/runs/<hash>/<batch>``), ``strict_cycles``, ``waves``, ``plusargs``. ``build_info``
    is `build_config`'s answer (a failed build fails the batch's cases without running
    them). ``on_result`` sees each record as the simulator writes it (progress)."""
    from . import runner
    from .cases import Case

    cfg = EIEConfig.from_dict(spec["cfg"])
    cases = [Case.from_dict(d) for d in spec["cases"]]
    out = Path(spec["out"])
    if build_info is not None and build_info.get("error"):
        return [error_record(c, build_info["error"], status=build_info.get("status", "error")) for c in cases]
    reason = runner.verilator_missing()
    if reason:
        return [error_record(c, f"skipped: {reason}", status="skip") for c in cases]
    t0 = time.monotonic()
    try:
        build = runner.get_build(cfg, waves=spec.get("waves"))
    except Exception as e:
        return [error_record(c, f"build failed: {type(e).__name__}: {e}") for c in cases]
    build_s = (build_info or {}).get("seconds", round(time.monotonic() - t0, 1))
    run_dir = out / "runs" / cfg.hash / spec["batch"]
    run_dir.mkdir(parents=True, exist_ok=True)
    records, results = [], {}
    for c in cases:
        try:
            records.append(c.materialise(out / "cases" / _safe(c.name)))
        except Exception as e:        # a generator bug fails the case, not the sweep
            results[c.name] = error_record(c, f"case generation failed: {type(e).__name__}: {e}")
    (run_dir / "cases.json").write_text(json.dumps(records, indent=1) + "\n")
    res_file = run_dir / "results.jsonl"
    res_file.unlink(missing_ok=True)
    log = run_dir / "sim.log"
    lock = threading.Lock()

    def record(res: dict):
        with lock:
            if res["name"] in results:
                return
            results[res["name"]] = res
        if on_result is not None:
            on_result(res)

    stop = threading.Event()

    def tail():
        seen = 0
        while not stop.is_set():
            seen = _read_new(res_file, seen, record)
            stop.wait(0.5)
        _read_new(res_file, seen, record)

    err = None
    if records:
        th = threading.Thread(target=tail, daemon=True)
        th.start()
        try:
            build.test(TB_MODULE, test_dir=run_dir, testcase="run_cases", waves=bool(spec.get("waves")),
                       env={"EIE_CASES": run_dir / "cases.json", "EIE_RESULTS": res_file,
                            "EIE_STRICT_CYCLES": int(spec.get("strict_cycles", True)),
                            "EIE_BUILD_SECONDS": build_s},
                       plusargs=spec.get("plusargs"), log_file=log)
        except SystemExit as e:      # cocotb: a failing test (details in the results)
            err = f"simulator exit {e.code}"
        except Exception as e:
            err = f"{type(e).__name__}: {e}"
        finally:
            stop.set()
            th.join()
    for c in cases:
        if c.name not in results:
            record(error_record(c, f"no result ({err or 'simulator stopped'}); see {log}"))
    where = f"{socket.gethostname()}:{os.getpid()}"
    for r in results.values():
        r["worker"] = where
    return [results[c.name] for c in cases]


def _read_new(path: Path, seen: int, record) -> int:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return seen
    for line in lines[seen:]:
        try:
            record(json.loads(line))
        except json.JSONDecodeError:   # a half-written last line: read it next time
            return seen
        seen += 1
    return seen


# ---- engines ------------------------------------------------------------------------------

class ThreadEngine:
    """Batches in this process: ``jobs`` simulator processes at a time, builds first per config."""

    name = "threads"

    def __init__(self, jobs: int = 1):
        self.jobs = max(1, jobs)

    def describe(self) -> str:
        return f"{self.jobs} thread(s) in this process"

    def run(self, groups: list[tuple[dict, list[dict]]], record: Callable[[dict], None],
            waves: str | None = None) -> dict:
        """``groups``: (config dict, batch specs) per config, most expensive first."""
        builds = {}

        def one_config(cfg_dict, specs):
            info = build_config(cfg_dict, waves)
            builds[info["hash"]] = info
            for spec in specs:
                for r in run_batch(spec, info, on_result=record):
                    record(r)

        if self.jobs == 1:
            for cfg_dict, specs in groups:
                one_config(cfg_dict, specs)
        else:
            with cf.ThreadPoolExecutor(self.jobs) as pool:
                for f in [pool.submit(one_config, c, s) for c, s in groups]:
                    f.result()
        return builds

    def close(self):
        pass


class DaskEngine:
    """Batches as Dask tasks: a `LocalCluster` of ``jobs`` workers, or the cluster at ``address``."""

    name = "dask"

    def __init__(self, jobs: int = 2, address: str | None = None):
        from distributed import Client, LocalCluster

        self.address = address
        self.cluster = None
        if address:
            self.client = Client(address, timeout="30s")
        else:
            # One single-threaded worker process per job: each runs one simulator at a time
            # (the simulator is a child process; the worker's thread waits on it).
            self.cluster = LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                                        dashboard_address=None, memory_limit=0)
            self.client = Client(self.cluster)

    def workers(self) -> int:
        return len(self.client.scheduler_info(n_workers=-1)["workers"])

    def describe(self) -> str:
        where = self.address or f"LocalCluster at {self.client.scheduler.address}"
        return f"Dask: {self.workers()} worker(s), {where}"

    def run(self, groups: list[tuple[dict, list[dict]]], record: Callable[[dict], None],
            waves: str | None = None) -> dict:
        from distributed import as_completed

        # A config's batches are submitted once its build task is done, with the build's
        # answer as plain data: a batch then depends on nothing a worker holds, so the
        # scheduler spreads the batches over every idle worker.
        builds, spec_of = {}, {}
        todo = as_completed()
        for i, (cfg_dict, specs) in enumerate(groups):
            # Higher priority runs first: configs in the given order (the most expensive first).
            b = self.client.submit(build_config, cfg_dict, waves, key=f"build-{i}-{_key(cfg_dict)}",
                                   pure=False, priority=2 * (len(groups) - i) + 1)
            spec_of[b.key] = (i, specs)
            todo.add(b)
        for fut in todo:
            i, payload = spec_of.pop(fut.key)
            if fut.key.startswith("build-"):
                try:
                    info = fut.result()
                except Exception as e:   # a worker lost during the build
                    info = {"hash": _key(groups[i][0]), "status": "error", "seconds": 0.0,
                            "error": f"build task failed: {type(e).__name__}: {e}"}
                builds[info["hash"]] = info
                for spec in payload:
                    f = self.client.submit(run_batch, spec, info, key=f"batch-{i}-{spec['batch']}-{info['hash']}",
                                           pure=False, priority=2 * (len(groups) - i))
                    spec_of[f.key] = (i, spec)
                    todo.add(f)
                continue
            try:
                recs = fut.result()
            except Exception as e:        # a worker lost, an exception outside the simulator
                from .cases import Case
                recs = [error_record(Case.from_dict(d), f"batch task failed: {type(e).__name__}: {e}")
                        for d in payload["cases"]]
            for r in recs:
                record(r)
        return builds

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _key(cfg_dict: dict) -> str:
    return EIEConfig.from_dict(cfg_dict).hash


def make_engine(scheduler: str | None, jobs: int):
    """``None`` or ``"local"``: a `LocalCluster` of ``jobs`` workers; ``"threads"``: no Dask;
    anything else: the address of a Dask scheduler."""
    if scheduler == "threads":
        return ThreadEngine(jobs)
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise RuntimeError("Dask distributed is not installed (pip install 'dask[distributed]'); "
                           "--scheduler threads runs without it") from None
    if scheduler in (None, "", "local"):
        return DaskEngine(jobs)
    return DaskEngine(jobs, address=scheduler)
