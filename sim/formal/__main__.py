"""``python -m sim.formal``: run the formal proofs (`sim.formal.jobs`), write JSON + Markdown.

``--quick`` runs the short ones (`make test` runs them through pytest); ``--only REGEX``
picks jobs by name; ``--list`` lists them. Exit status 1 if any proof fails.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .jobs import JOBS, quick_jobs, run_job


def _depth(r: dict) -> str:
    if r["mode"] == "structural":
        return "all states (netlist)"
    if r["mode"] == "prove":
        k = r.get("induction_step")
        return f"unbounded (k-induction, k = {k})" if r["status"] == "PASS" else f"base case {r['depth']}"
    if r["mode"] == "cover":
        return ", ".join(f"{name}: step {step}" for name, step in sorted(r.get("covers", {}).items(),
                                                                            key=lambda kv: kv[1]))
    return f"{r['depth']} cycles from reset"


def markdown(recs: list[dict], seconds: float) -> str:
    ok = all(r["status"] == "PASS" for r in recs)
    lines = [f"# Formal proofs: {'PASS' if ok else 'FAIL'}", "",
             f"{sum(r['status'] == 'PASS' for r in recs)} of {len(recs)} jobs passed in {seconds:.0f} s "
             "(SymbiYosys, smtbmc engine, Yices).", "",
             "| job | property | design | mode | proved to | result | s |", "|---|---|---|---|---|---|---|"]
    for r in recs:
        lines.append(f"| {r['name']} | {r['property']} | {r['design']} | {r['mode']} | {_depth(r)} | "
                     f"{r['status']} | {r.get('seconds', '')} |")
    for r in recs:
        if r["status"] != "PASS":
            lines += ["", f"**{r['name']}**: {r.get('failed') or r.get('unreached') or r.get('error')} "
                          f"({r.get('workdir', '')})"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m sim.formal", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out/formal", help="output folder (summary.md, summary.json, one folder per job)")
    p.add_argument("--quick", action="store_true", help="only the short jobs `make test` runs")
    p.add_argument("--only", help="only jobs whose name matches this regular expression")
    p.add_argument("--list", action="store_true", help="list the jobs and exit")
    p.add_argument("--jobs", type=int, default=2, help="jobs run in parallel (each solver uses one core)")
    args = p.parse_args(argv)
    jobs = quick_jobs() if args.quick else list(JOBS)
    if args.only:
        jobs = [j for j in jobs if re.search(args.only, j.name)]
    if args.list:
        for j in jobs:
            print(f"{j.name:16s} {j.mode:10s} {j.depth:3d}  {j.prop} ({j.design})")
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()

    def one(job):
        rec = run_job(job, out)
        print(f"{job.name}: {rec['status']} ({_depth(rec)}, {rec.get('seconds')} s)", flush=True)
        return rec

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        recs = list(pool.map(one, jobs))
    seconds = time.monotonic() - t0
    (out / "summary.json").write_text(json.dumps({"seconds": round(seconds, 1), "jobs": recs}, indent=1) + "\n")
    (out / "summary.md").write_text(markdown(recs, seconds))
    print(markdown(recs, seconds))
    return 0 if all(r["status"] == "PASS" for r in recs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
