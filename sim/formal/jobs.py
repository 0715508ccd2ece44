"""The formal proofs of the array: which property, on which design and config, how deep.

Configs: the ``tiny`` preset (4 PEs, queue depth 4) and ``pe1`` (one PE, queue depth 1, one
entry per word: the degenerate corner of the regression, with memories of a few words so
that a bounded proof from reset reaches compute). Jobs (`JOBS`, `quick_jobs`):

======================  ====================================================================
``lanepick-prio``       the scanner's lane picker = a reference priority encoder (lowest set
                        lane, its index, valid) for N = 1..17, 32, 64, 256 lanes, every input
``scan-order-<cfg>``    the scanner alone, every input free: the offers are the non-zero lanes of
                        the rows read, lowest first, with their values, none skipped (BMC)
``scan-cover-<cfg>``    what scan's depth reaches: three offers in a layer, a finished layer of
                        three rows, a full row buffer, an offer waiting for its commit
``tx-comb-<cfg>``       host_tx valid and payload do not depend on ready (netlist structure)
``commands-<cfg>``      the command engine alone, every input free: host_tx holds while it
                        waits (host_rx assumed to follow the rule), k-induction
``arith-<cfg>``         the arithmetic unit alone, every input free: each accumulator write is
                        the exact sum clamped to the range, k-induction
``rxgap-<cfg>``         the command engine alone, every input free: host_rx.ready is low at most
                        three cycles in a row inside a command, bounded (BMC)
``top-<cfg>``           the whole array from reset: streams, queues never written while full,
                        accumulator sums, bounded (BMC)
``queue-<cfg>``         the whole array, queue property, k-induction (with the credit
                        invariant that makes it inductive: `sim.formal.harness`)
``cover-<cfg>``         what the BMC depth reaches: a reply byte held by backpressure and (pe1)
                        the first queue write, a full queue, a saturating accumulator write
======================  ====================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from amaranth.back import rtlil

from eie.config import EIEConfig, PRESETS
from hw.arith import ArithmeticUnit
from hw.commands import CommandEngine
from hw.netlist import to_rtlil
from hw.top import EIETop
from sim.cases import regression_config

from .expose import exposed_rtlil
from .harness import DesignHarness, acc_prefixes, acc_wires, queue_wires
from .scan import LanePickHarness, ScanHarness
from .sby import SbyResult, run_sby
from .structural import check_stream_independence

__all__ = ["CONFIGS", "Job", "JOBS", "quick_jobs", "run_job"]

CONFIGS: dict[str, EIEConfig] = {
    "tiny": PRESETS["tiny"],
    "pe1": regression_config(1, 1, entries_per_word=1).replace(
        act_depth=4, bias_depth=8, ptr_depth=16, spmat_depth=16, max_layers=2),
}


@dataclass(frozen=True)
class Job:
    """One proof: ``files()`` gives (RTLIL files, top) for SymbiYosys, or ``check`` runs
    something else (the structural check)."""

    name: str
    prop: str                      # what is proved, for the report
    design: str                    # what it is proved on
    mode: str                      # bmc, prove, cover or structural
    depth: int = 0
    files: Callable[[], tuple[dict[str, str], str]] | None = None
    check: Callable[[Path], dict] | None = None
    quick: bool = False            # part of `make test`
    timeout: float = 900.0


def _harnessed(dut_factory, cfg: EIEConfig, exposed: list[str], groups, acc=(), covers=False):
    """Files of a `DesignHarness` around ``dut_factory()`` with ``exposed`` wires as ports."""
    def files():
        module, dut = "dut", dut_factory()
        text = exposed_rtlil(dut, module, exposed)
        harness = DesignHarness(cfg, dut.signature, module, text, exposed=exposed, groups=groups,
                                acc=acc, covers=covers)
        return {"dut.il": text, "harness.il": rtlil.convert(harness, name="harness", emit_src=False)}, "harness"
    return files


LANE_COUNTS = (*range(1, 18), 32, 64, 256)


def _lanepick_files():
    h = LanePickHarness(CONFIGS["tiny"], LANE_COUNTS)
    return {"harness.il": rtlil.convert(h, name="harness", emit_src=False)}, "harness"


def _scan_jobs(name: str, cfg: EIEConfig, depth: int) -> list[Job]:
    """The scanner's jobs for one config: the offer order by BMC, and its covers."""
    design = f"Scanner({name}: {cfg.n_pe} PE)"
    files = lambda covers: lambda: ({"harness.il": to_rtlil(ScanHarness(cfg, covers=covers), "harness")}, "harness")
    return [
        Job(f"scan-order-{name}", "offers = a layer's non-zero inputs once each, lowest first (a row's lanes upward, "
            "none skipped), with their values; a waiting offer holds (any input)",
            design, "bmc", depth, files(False)),
        Job(f"scan-cover-{name}", "what the scan BMC depth reaches", design, "cover", depth, files(True)),
    ]


def _top_jobs(name: str, cfg: EIEConfig, bmc_depth: int, prove_depth: int, compute_covers: bool,
              rx_depth: int = 18) -> list[Job]:
    """The array's jobs for one config. ``compute_covers``: the BMC depth reaches compute
    (after the reset sweep of ``act_depth`` cycles), so the cover job looks for it too."""
    top = lambda: EIETop(cfg)
    everything = queue_wires(cfg) + acc_wires(acc_prefixes(cfg))
    design = f"EIETop({name}: {cfg.n_pe} PE, queue {cfg.queue_depth})"
    return [
        Job(f"tx-comb-{name}", "host_tx valid/payload independent of ready", design, "structural",
            check=lambda wd: check_stream_independence(top(), workdir=wd), quick=True),
        Job(f"commands-{name}", "host_tx valid/payload hold while waiting (any input)",
            f"CommandEngine({name})", "prove", prove_depth,
            _harnessed(lambda: CommandEngine(cfg), cfg, [], ["streams"])),
        Job(f"rxgap-{name}", "host_rx.ready low at most 3 cycles in a row inside a command (any input)",
            f"CommandEngine({name})", "bmc", rx_depth,
            _harnessed(lambda: CommandEngine(cfg), cfg, [], ["streams", "rx_body"])),
        Job(f"arith-{name}", "accumulator write = clamp(previous + product), exact (any input)",
            f"ArithmeticUnit({name})", "prove", prove_depth,
            _harnessed(lambda: ArithmeticUnit(cfg), cfg, acc_wires([""]), ["acc"], acc=[""]),
            quick=name == "pe1"),
        Job(f"queue-{name}", "no activation queue written while full, level <= depth; per PE, "
            "credits + broadcasts in flight + level + credits returning = depth", design,
            "prove", prove_depth, _harnessed(top, cfg, queue_wires(cfg), ["queue"])),
        Job(f"top-{name}", "streams, queues, accumulator sums, from reset", design, "bmc", bmc_depth,
            _harnessed(top, cfg, everything, ["streams", "queue", "acc"], acc=acc_prefixes(cfg))),
        Job(f"cover-{name}", "what the BMC depth reaches", design, "cover", bmc_depth,
            _harnessed(top, cfg, everything,
                       ["streams", "rx_body", "queue", "acc"] if compute_covers else ["streams", "rx_body"],
                       acc=acc_prefixes(cfg), covers=True)),
    ]


JOBS: list[Job] = [
    # The scanner's lane picker for many lane counts: combinational, one step is every input.
    Job("lanepick-prio", "one-hot = lowest set lane, index = base + its lane, valid = some lane: a reference "
        "priority chain, every input (N = 1..17, 32, 64, 256)", "LanePicker", "prove", 1, _lanepick_files, quick=True),
    # pe1's base cases (14 steps, 0-13) reach compute (the first queue write is at step 13, a
    # full queue at 14: cover-pe1), so a property broken from reset early in compute fails
    # with a trace, not only as an induction step.
    *_scan_jobs("pe1", CONFIGS["pe1"], depth=16),
    *_scan_jobs("tiny", CONFIGS["tiny"], depth=16),
    *_top_jobs("pe1", CONFIGS["pe1"], bmc_depth=40, prove_depth=14, compute_covers=True),
    # tiny's reset sweep takes 32 cycles: compute starts beyond its BMC depth; its queues and
    # accumulators are proved by k-induction (queue-tiny, arith-tiny).
    *_top_jobs("tiny", CONFIGS["tiny"], bmc_depth=30, prove_depth=4, compute_covers=False),
]


def quick_jobs() -> list[Job]:
    """The jobs `make test` runs (well under a minute together)."""
    return [j for j in JOBS if j.quick]


def run_job(job: Job, out: Path) -> dict:
    """Run ``job`` in ``out/<name>``; its result record."""
    workdir = Path(out) / job.name
    rec = {"name": job.name, "property": job.prop, "design": job.design, "mode": job.mode,
           "depth": job.depth}
    if job.check is not None:
        rec.update(job.check(workdir))
        return rec
    files, top = job.files()
    res: SbyResult = run_sby(job.name, workdir, files, top, job.mode, job.depth, timeout=job.timeout)
    rec.update(status=res.status, seconds=res.seconds, induction_step=res.induction_step,
               failed=res.failed, covers=res.covers, unreached=res.unreached, workdir=res.workdir)
    return rec
