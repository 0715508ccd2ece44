"""The README's layering holds: no package imports one above it (not even inside a function),
no package imports another's private names, and nothing uses Amaranth's private API."""

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# What each package may import (README, "Layout").
ALLOWED = {
    "eie": set(),
    "compress": {"eie"},
    "hw": {"eie"},
    "host": {"eie"},
    "sim": {"eie", "compress", "hw", "host"},
    "fpga": {"eie", "compress", "hw", "host", "sim"},
    "bench": {"eie", "compress", "hw", "host", "sim", "fpga"},
}


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def _sources(*packages):
    for pkg in packages:
        yield from sorted((REPO / pkg).rglob("*.py"))


def test_no_upward_imports():
    bad = []
    for path in _sources(*ALLOWED):
        pkg = path.relative_to(REPO).parts[0]
        for line, name in _imports(path):
            top = name.split(".")[0]
            if top in ALLOWED and top != pkg and top not in ALLOWED[pkg]:
                bad.append(f"{path.relative_to(REPO)}:{line}: {pkg} imports {name}")
    assert not bad, "\n".join(bad)


def test_explore_reads_only_eie():
    """sim/explore/ is the cycle-model side of sim/: it must run without hw, host or compress."""
    bad = [f"{path.relative_to(REPO)}:{line}: imports {name}"
           for path in _sources("sim/explore") for line, name in _imports(path)
           if name.split(".")[0] in ALLOWED and not name.startswith(("eie", "sim.explore"))]
    assert not bad, "\n".join(bad)


def test_no_private_names_across_packages():
    bad = []
    for path in _sources(*ALLOWED, "tests"):
        pkg = path.relative_to(REPO).parts[0]
        for line, name in _imports(path):
            parts = name.split(".")
            if parts[0] in ALLOWED and parts[0] != pkg and any(
                    p.startswith("_") and not p.startswith("__") for p in parts[1:]):
                bad.append(f"{path.relative_to(REPO)}:{line}: imports private {name}")
    assert not bad, "\n".join(bad)


def test_no_private_amaranth_api():
    private = re.compile(r"_MustUse__|amaranth\.(?:\w+\.)*_(?!_)\w+|from amaranth(?:\.\w+)* import _(?!_)")
    bad = [f"{path.relative_to(REPO)}:{i}: {line.strip()}"
           for path in _sources(*ALLOWED, "tests") if path.name != "test_layering.py"
           for i, line in enumerate(path.read_text().splitlines(), 1) if private.search(line)]
    assert not bad, "\n".join(bad)
