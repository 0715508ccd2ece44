"""In-order scoreboard: expected items from a reference model, observed items from a monitor.

The pattern of cocotbext-axi and cocotb's matrix_multiplier example: the model pushes what
must come out, the monitor pushes what came out, and the checker fails on anything missing,
extra or different. Errors are collected (with the first differing positions), not raised
at once, so a run reports everything it found; each error has a kind (``value``,
``counter`` or ``timing``) so a report can tell a wrong result from a cycle-model mismatch.
"""

from __future__ import annotations

from collections import deque

import numpy as np

__all__ = ["Scoreboard"]


class Scoreboard:
    """In-order checker: the model pushes expected items, the monitor side observed ones.

    Each item is ``(tag, values)``. An observed item with no expected one is *extra*; an
    expected one never observed is *missing*; a tag or any value that differs is *different*.
    Errors are collected (with the first differing positions) rather than raised at once, so
    a case reports everything it found.
    """

    def __init__(self, log, max_errors: int = 20):
        self.log = log
        self.expected: deque = deque()
        self.errors: list[str] = []
        self.kinds: list[str] = []
        self.items = 0
        self.values = 0
        self.max_errors = max_errors
        # The first differing value: {"tag", "index", "got", "expected"} (None: none yet).
        self.first_difference: dict | None = None

    def expect(self, tag: str, values):
        self.expected.append((tag, np.asarray(values, dtype=np.int64).reshape(-1)))

    def observe(self, tag: str, values):
        got = np.asarray(values, dtype=np.int64).reshape(-1)
        if not self.expected:
            self._error(f"extra item {tag}: {len(got)} values nobody expected")
            return
        etag, exp = self.expected.popleft()
        self.items += 1
        if etag != tag:
            self._error(f"out of order: got {tag} where {etag} was expected")
            return
        self.values += len(exp)
        if len(got) != len(exp):
            what = "missing" if len(got) < len(exp) else "extra"
            self._error(f"{tag}: {len(got)} values where {len(exp)} were expected ({what} values)")
            n = min(len(got), len(exp))
            got, exp = got[:n], exp[:n]
        bad = np.nonzero(got != exp)[0]
        if len(bad) and self.first_difference is None:
            i = int(bad[0])
            self.first_difference = {"tag": tag, "index": i, "got": int(got[i]), "expected": int(exp[i])}
        if len(bad):
            show = ", ".join(f"[{i}] got {got[i]} expected {exp[i]}" for i in bad[:6])
            self._error(f"{tag}: {len(bad)} of {len(exp)} values differ: {show}"
                        + (" ..." if len(bad) > 6 else ""))

    def finish(self):
        while self.expected:
            tag, exp = self.expected.popleft()
            self._error(f"missing item {tag}: {len(exp)} expected values never came")

    def check(self, ok: bool, message: str, kind: str = "counter"):
        """A non-value check: ``kind`` is ``counter`` (a counter the hardware owes its
        definition) or ``timing`` (a difference from the cycle model)."""
        if not ok:
            self._error(message, kind)

    def _error(self, message: str, kind: str = "value"):
        if len(self.errors) < self.max_errors:
            self.log.error(message)
        self.errors.append(message)
        self.kinds.append(kind)

    @property
    def passed(self) -> bool:
        return not self.errors
