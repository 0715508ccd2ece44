"""Mutation check: deliberate one-line bugs in hw/, each applied to a scratch copy of the tree,
and the tests that must catch it.

``python -m sim.mutation --out out/mutation`` copies the working tree (the files git
tracks or would track) into a temporary folder for every mutant in `MUTANTS`, changes the
one line there (never in the real tree), and runs the mutant's catchers in order with the
copy first on ``PYTHONPATH`` and its own build folder, until one fails: the mutant is
*caught* by that one. A mutant no catcher fails is *missed*, and the command exits 1. First
every catcher runs once on the unmutated copy and must pass (a catcher that always fails
would catch everything). Results: ``summary.json`` and ``summary.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .runner import REPO

__all__ = ["Mutant", "MUTANTS", "scratch_copy", "apply", "run_mutants", "main"]

PYTEST = ("-m", "pytest", "-q", "-x", "-p", "no:cacheprovider")
FORMAL = ("-m", "sim.formal", "--jobs", "1", "--out", "out/formal", "--only")
FUZZ = ("-m", "sim.fuzz", "--config", "tiny", "--frames", "800", "--idle", "0.2", "--backpressure", "0.2",
        "--out", "out/fuzz")


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str                  # path under the repository
    old: str                   # text that occurs exactly once in the file
    new: str                   # its replacement (one line changes)
    bug: str                   # what it breaks
    catchers: tuple = field(default_factory=tuple)   # argument lists for the venv's python


MUTANTS: list[Mutant] = [
    Mutant("rounding", "hw/arith.py", "rounded.eq((wb2_half[:W + 2].as_signed() + 1) >> 1)",
           "rounded.eq((wb2_half[:W + 2].as_signed()) >> 1)",
           "write-back rounds down instead of half up",
           ((*PYTEST, "tests/test_hw_arith.py"),)),
    Mutant("bypass", "hw/arith.py", "st.fwd1.eq(st.a_valid & st.a_in & (st.a_row == m_row))", "st.fwd1.eq(0)",
           "no bypass: a second entry on the same row reads the accumulator before the first is written",
           ((*PYTEST, "tests/test_hw_pe.py"),)),
    Mutant("padding", "hw/arith.py", "        with m.If(self.e_valid):\n            m.d.sync += [row_prev",
           "        with m.If(self.e_valid & (self.e_entry.v != 0)):\n            m.d.sync += [row_prev",
           "padding entries (v = 0) do not advance the running row",
           ((*PYTEST, "tests/test_hw_pe.py"), (*PYTEST, "tests/test_sim_top.py", "-k", "odd_shapes and clean"))),
    Mutant("pointer-parity", "hw/ptr_read.py", "return half + a[0], half", "return half, half",
           "an odd column's end pointer is read from the wrong even-bank word",
           ((*PYTEST, "tests/test_hw_pe.py"),)),
    Mutant("stall", "hw/admission.py", "self.commit.eq(self.valid & ~any_full)", "self.commit.eq(self.valid)",
           "broadcasts do not wait for a credit (queues written while full, entries dropped)",
           ((*PYTEST, "tests/test_hw_admission.py"), (*PYTEST, "tests/test_hw_array.py", "-k", "queue_stalls"))),
    Mutant("stall-counter", "hw/pe.py", "with m.If(io.stall):", "with m.If(~io.stall):",
           "the stall counter counts the cycles a broadcast did not wait on this PE",
           ((*PYTEST, "tests/test_hw_array.py", "-k", "queue_stalls"),)),
    Mutant("saturation", "hw/arith.py", "Mux(_fits(value, bits), value[:bits].as_signed(), Mux(value[-1], lo, hi))",
           "Mux(_fits(value, bits), value[:bits].as_signed(), Mux(value[-1], hi, lo))",
           "saturation clamps to the wrong end",
           ((*FORMAL, "^arith-pe1$"), (*PYTEST, "tests/test_hw_arith.py"))),
    Mutant("lowest-lane", "hw/lanepick.py", "self.onehot.eq(self.mask & -self.mask)",
           "self.onehot.eq(self.mask & (self.mask - 1))",
           "the scanner's lane picker clears the lowest set lane instead of isolating it",
           ((*FORMAL, "^lanepick-prio$"),)),
    Mutant("pe-range", "hw/commands.py", "ok_pe = (ma.pe < cfg.n_pe)", "ok_pe = (ma.pe <= cfg.n_pe)",
           "PE number n_pe is accepted (ERR_PE missed)",
           (FUZZ,)),
    Mutant("addr-end", "hw/commands.py", "addr_over.eq(ma.addr + ma.count > r.depth_mem)",
           "addr_over.eq(ma.addr + ma.count >= r.depth_mem)",
           "a transfer ending at the last word is rejected (ERR_ADDR)",
           (FUZZ,)),
    Mutant("discard", "hw/commands.py", 'with m.State("DISCARD"):\n            with m.If(r.rem == 0):',
           'with m.State("DISCARD"):\n            with m.If(r.rem <= 1):',
           "a rejected command's last body byte is left to be read as the next opcode",
           (FUZZ,)),
    Mutant("tx-valid-on-ready", "hw/commands.py", "m.d.comb += [tx.valid.eq(1), tx.payload.byte.eq(r.obuf[:8]),",
           "m.d.comb += [tx.valid.eq(tx.ready), tx.payload.byte.eq(r.obuf[:8]),",
           "host_tx.valid depends on host_tx.ready (stream rule)",
           ((*FORMAL, "^tx-comb-pe1$"),)),
    Mutant("tx-hold", "hw/commands.py",
           "                         tx.payload.last.eq((r.bpos == r.wnb - 1) & (r.words == 1))]\n"
           "            with m.If(tx.ready):",
           "                         tx.payload.last.eq((r.bpos == r.wnb - 1) & (r.words == 1))]\n"
           "            with m.If(tx.ready | tx.valid):",
           "a reply byte moves on while ready is low (payload does not hold)",
           ((*FORMAL, "^commands-pe1$"), FUZZ)),
    Mutant("reset-returns", "hw/distribute.py",
           '(("pop", "pop", True), ("scan_data", "scan_data", False))',
           '(("pop", "pop", False), ("scan_data", "scan_data", False))',
           "pops on their way back survive a reset: the CCU counts credits the queues no longer hold",
           ((*PYTEST, "tests/test_sim_top.py", "-k", "reset_during_run"),)),
]


def scratch_copy(dest: Path) -> Path:
    """The working tree's files (tracked, or untracked and not ignored) copied to ``dest``."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for f in filter(None, files):
        src = REPO / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)
    return dest


def apply(mutant: Mutant, tree: Path) -> None:
    """Change ``mutant.file`` in ``tree`` (the old text must occur exactly once)."""
    path = tree / mutant.file
    text = path.read_text()
    n = text.count(mutant.old)
    if n != 1:
        raise ValueError(f"mutant {mutant.name}: the text to change occurs {n} times in {mutant.file} "
                         "(hw/ changed? update sim/mutation.py)")
    path.write_text(text.replace(mutant.old, mutant.new))


def _run(argv, tree: Path, log: Path) -> tuple[int, float]:
    env = dict(os.environ, PYTHONPATH=str(tree), EIE_BUILD_DIR=str(tree / "build"), AMARANTH_USE_YOSYS="builtin")
    env.pop("EIE_SEED", None)
    t0 = time.monotonic()
    with open(log, "w") as f:
        rc = subprocess.run([sys.executable, *argv], cwd=tree, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
    return rc, round(time.monotonic() - t0, 1)


def _check_live(tree: Path) -> None:
    """The copy's packages, not the real tree's, are the ones imported there."""
    out = subprocess.run([sys.executable, "-c", "import hw; print(hw.__file__)"], cwd=tree, capture_output=True,
                         text=True, env=dict(os.environ, PYTHONPATH=str(tree))).stdout.strip()
    if not out.startswith(str(tree)):
        raise RuntimeError(f"the scratch copy is not what Python imports ({out})")


def run_mutants(mutants: list[Mutant], out: Path, clean_check: bool = True) -> dict:
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    records = {"clean": [], "mutants": []}
    if clean_check:
        with tempfile.TemporaryDirectory(prefix="eie-clean-") as tmp:
            tree = scratch_copy(Path(tmp))
            _check_live(tree)
            for i, argv in enumerate(dict.fromkeys(c for m in mutants for c in m.catchers)):
                rc, s = _run(argv, tree, out / f"clean-{i}.log")
                records["clean"].append({"catcher": " ".join(argv), "rc": rc, "seconds": s})
                print(f"clean: {'pass' if rc == 0 else 'FAIL'} ({s} s) python {' '.join(argv)}", flush=True)
    for m in mutants:
        rec = {"name": m.name, "file": m.file, "bug": m.bug, "old": m.old.strip(), "new": m.new.strip(),
               "caught_by": None, "runs": []}
        with tempfile.TemporaryDirectory(prefix=f"eie-mutant-{m.name}-") as tmp:
            tree = scratch_copy(Path(tmp))
            apply(m, tree)
            for i, argv in enumerate(m.catchers):
                rc, s = _run(argv, tree, out / f"{m.name}-{i}.log")
                rec["runs"].append({"catcher": " ".join(argv), "rc": rc, "seconds": s})
                if rc != 0:
                    rec["caught_by"] = " ".join(argv)
                    break
        print(f"{m.name}: {'caught by python ' + rec['caught_by'] if rec['caught_by'] else 'MISSED'}", flush=True)
        records["mutants"].append(rec)
    records["caught"] = sum(r["caught_by"] is not None for r in records["mutants"])
    records["clean_ok"] = all(r["rc"] == 0 for r in records["clean"])
    (out / "summary.json").write_text(json.dumps(records, indent=1) + "\n")
    (out / "summary.md").write_text(markdown(records))
    return records


def markdown(records: dict) -> str:
    ms = records["mutants"]
    lines = [f"# Mutation check: {records['caught']} of {len(ms)} mutants caught"
             + ("" if records["clean_ok"] else " (A CATCHER FAILS ON THE CLEAN TREE)"), "",
             "| mutant | file | bug | change | caught by | s |", "|---|---|---|---|---|---|"]
    for r in ms:
        old, new = next((a, b) for a, b in zip(r["old"].splitlines(), r["new"].splitlines()) if a != b)
        change = f"`{old.strip()}` -> `{new.strip()}`"
        secs = sum(x["seconds"] for x in r["runs"])
        lines.append(f"| {r['name']} | {r['file']} | {r['bug']} | {change} | "
                     f"{'`' + r['caught_by'] + '`' if r['caught_by'] else '**MISSED**'} | {secs:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m sim.mutation", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out/mutation", help="output folder (summary.md, summary.json, logs)")
    p.add_argument("--only", help="only mutants whose name matches this regular expression")
    p.add_argument("--no-clean-check", action="store_true", help="skip running the catchers on the clean tree")
    p.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = p.parse_args(argv)
    mutants = [m for m in MUTANTS if not args.only or re.search(args.only, m.name)]
    if args.list:
        for m in mutants:
            print(f"{m.name:18s} {m.file:16s} {m.bug}")
        return 0
    rec = run_mutants(mutants, Path(args.out), clean_check=not args.no_clean_check)
    print(markdown(rec))
    return 0 if rec["caught"] == len(rec["mutants"]) and rec["clean_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
