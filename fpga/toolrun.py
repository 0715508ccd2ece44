"""Running the FPGA tools: their environment, and the build script in a process group of its own.

amaranth's build script finds each tool through one environment variable named after it
(``YOSYS``, ``NEXTPNR_ICE40``, ...). `tool_env` points them at the YoWASP commands from PyPI
(`eie.tools.tool_path`: next to this Python first, then PATH), so nothing needs to be on
PATH. `run_tools` runs the script with its output in a log, in a process group of its own,
and kills the whole group if the caller is interrupted: nextpnr can run for an hour, and
should not run on as an orphan after Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from eie.errors import EIEError
from eie.tools import ToolError, tool_path

__all__ = ["BuildError", "tool_env", "run_tools"]


class BuildError(EIEError):
    """A build that could not finish: missing tools, a design that does not fit, a tool error."""


def tool_env(board) -> dict:
    """The build's environment: ours, plus one variable per tool of ``board`` pointing at YoWASP."""
    env = dict(os.environ)
    # amaranth would source a toolchain script if this were set; we bring our own tools.
    for key in list(env):
        if key.startswith("AMARANTH_ENV_"):
            del env[key]
    for var, command in board.tools.items():
        try:
            env[var] = tool_path(command)
        except ToolError as e:
            raise BuildError(str(e)) from None
    env.setdefault("AMARANTH_USE_YOSYS", "builtin")
    return env


def run_tools(build_dir: Path, env: dict, log_path: Path, script: str = "build_top.sh") -> int:
    """Run ``build_dir/script`` (amaranth's build script) with ``env``, its output in
    ``log_path``; return its exit status. If this is interrupted (any exception, Ctrl-C
    included), the script and every tool it started are killed before it propagates."""
    with open(log_path, "w") as out:
        proc = subprocess.Popen(["sh", script], cwd=build_dir, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return proc.wait()
        except BaseException:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            raise
