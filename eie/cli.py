"""The `eie` command: one entry point, subcommands contributed by each part.

Each part keeps its subcommands next to its code in a ``cli.py`` with a
``register(subparsers)`` function (heavy imports stay inside the handlers so
``eie --help`` is fast), and announces it as an entry point of the group
``eie.commands`` in pyproject.toml. This module finds them there, so the bottom package
names none of the packages above it. Errors derived from `EIEError` print one clear line
and exit with status 2; nothing partial is left behind by the writers (eie.atomic).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from importlib.metadata import entry_points

from .errors import EIEError

# Entry-point group of the parts that contribute subcommands (pyproject.toml).
COMMAND_GROUP = "eie.commands"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eie",
        description="eie-gen: Deep Compression, EIE storage images, Amaranth RTL, golden model, FPGA builds.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for ep in entry_points(group=COMMAND_GROUP):
        ep.load()(sub)          # a part that fails to import is a bug: let it show
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    parser = build_parser()
    args = parser.parse_args(argv)
    # SIGTERM (a job killed by a scheduler or `kill`) unwinds like Ctrl-C, so atomic output
    # folders are removed and child tools are killed instead of left behind.
    previous = signal.signal(signal.SIGTERM, _terminated) \
        if threading.current_thread() is threading.main_thread() else None
    try:
        result = args.handler(args)
    except EIEError as e:
        print(f"eie: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("eie: interrupted", file=sys.stderr)
        return 130
    except _Terminated:
        print("eie: terminated", file=sys.stderr)
        return 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return int(result or 0)


class _Terminated(BaseException):
    """Raised by the SIGTERM handler; a BaseException so `except Exception` lets it pass."""


def _terminated(signum, frame):
    raise _Terminated()


if __name__ == "__main__":
    sys.exit(main())
