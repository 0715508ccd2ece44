"""The mutation check's list (`sim.mutation.MUTANTS`, `make mutation`) still fits hw/: every
mutant's text occurs exactly once in its file, so a refactor of hw/ cannot quietly turn a
mutant into one that is never applied."""

from pathlib import Path

import pytest

from sim.mutation import MUTANTS

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_applies_once(mutant):
    text = (REPO / mutant.file).read_text()
    assert text.count(mutant.old) == 1, f"{mutant.name}: {mutant.old!r} occurs {text.count(mutant.old)} times in {mutant.file}"
    assert mutant.old != mutant.new and mutant.new not in text
