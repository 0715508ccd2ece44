"""The automatic density selection of the flow (`compress.sensitivity` does the analysis).

`select_densities` runs the sensitivity analysis on the validation split, keeps the candidates
that fit the config, picks the reference accuracy and searches with whole runs of the flow
(`compress.flow.run_stages`), each judged by its fixed-point validation accuracy. It returns
the chosen run, its densities and a JSON-ready record for the report and the plot.
"""

from __future__ import annotations

from eie import format as fmt

from .data import Dataset
from .flow import Stages, build_model, check_fits, fixed_point_accuracy, run_stages
from .sensitivity import Sensitivity, Trial, candidates, search, sensitivity

__all__ = ["select_densities"]


def select_densities(layers, cfg, data: Dataset, options, warnings) -> tuple[Stages, tuple, dict]:
    """Automatic densities: sensitivity, candidates that fit, search (`compress.sensitivity`).

    The budget is relative to the dense model's validation accuracy, or, when the model was
    trained on the validation samples (split off its own training data), to the flow's run
    at 100 % density, which retrains without them: a fair reference on unseen samples.
    """
    sens = sensitivity(build_model(layers), data.x_val, data.y_val)
    cands, first_error = [], None
    for t, d in candidates(sens):
        try:
            check_fits(layers, d, cfg, options)
            cands.append((t, d))
        except fmt.CapacityError as e:
            first_error = first_error or e
    if not cands:
        raise first_error

    def run(d):
        st = run_stages(layers, cfg, data, d, options)
        return fixed_point_accuracy(st.program, data.x_val, data.y_val), st.kept_pct, st

    reference, ref_source, ref_trial = sens.dense, "dense model (as given)", None
    if data.val_seen_by_model:
        full = (1.0,) * len(layers)
        check_fits(layers, full, cfg, options)
        acc, kept, st = run(full)
        ref_trial = Trial("reference: 100 %", full, acc, True, kept, st)
        reference, ref_source = acc, "the flow at 100 % density (retrained without the validation samples)"
    chosen, trials = search(cands, run, reference, options.max_drop, grid=sens.grid,
                            names=[l.name for l in layers], sizes=[l.weight.size for l in layers])
    if ref_trial is not None:
        trials.insert(0, ref_trial)
    if not chosen.passed:
        warnings.append(
            f"automatic densities: no candidate kept the fixed-point validation accuracy within "
            f"{options.max_drop:g} points of the reference's {reference:.2f} % ({ref_source}); the most "
            f"cautious one ({_shown(chosen.densities)}) reached {chosen.val_accuracy:.2f} % "
            f"({chosen.val_accuracy - reference:+.2f} points)")
    sel = _selection_dict(sens, trials, chosen, options.max_drop)
    sel.update(reference=reference, reference_source=ref_source)
    return chosen.result, chosen.densities, sel


def _shown(densities) -> str:
    return ", ".join(f"{100 * d:g} %" for d in densities)


def _selection_dict(sens: Sensitivity, trials: list[Trial], chosen: Trial, max_drop: float) -> dict:
    return {"grid": list(sens.grid), "dense_val": sens.dense, "curves": sens.curves, "max_drop": max_drop,
            "trials": [{"step": t.step, "densities": list(t.densities), "kept_pct": t.kept_pct,
                        "val_fixed_point": t.val_accuracy, "passed": t.passed, "chosen": t is chosen}
                       for t in trials]}
