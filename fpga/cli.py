"""`eie build`: a bitstream and a build report for one board.

    eie build --board icebreaker|ulx3s|orangecrab [--config NAME|FILE] [--freq MHZ]
              [--baud N] [--bake IMAGES] [--model IMAGES] --out DIR

Writes ``DIR/<board>/`` (atomically): the bitstream, ``report.json``, ``report.md`` and
the tools' logs. Heavy imports stay inside the handler so ``eie --help`` is fast.
"""

from __future__ import annotations

__all__ = ["register"]


def register(sub):
    from .boards import BOARDS

    p = sub.add_parser("build", help="FPGA bitstream and build report for a board",
                       description="Build a bitstream for a board with the YoWASP tools and write a "
                                   "report (Fmax, utilisation, PE count, peak and modeled GOP/s).")
    p.add_argument("--board", required=True, choices=sorted(BOARDS), help="target board")
    p.add_argument("--config", default=None, metavar="NAME|FILE",
                   help="EIE config: preset name or JSON file (default: the board's, see docs/fpga.md)")
    p.add_argument("--freq", type=float, default=None, metavar="MHZ",
                   help="requested clock in MHz (default: "
                        + ", ".join(f"{b.default_freq / 1e6:g} {n}" for n, b in sorted(BOARDS.items())) + ")")
    p.add_argument("--baud", type=int, default=None, metavar="N",
                   help="UART baud rate (default: "
                        + ", ".join(f"{b.baud} {n}" for n, b in sorted(BOARDS.items())) + ")")
    p.add_argument("--bake", default=None, metavar="IMAGES",
                   help="image folder to bake into the bitstream (loaded at reset; default: load over UART)")
    p.add_argument("--model", default=None, metavar="IMAGES",
                   help="image folder whose modeled GOP/s goes into the report (default: --bake's)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default 1)")
    p.add_argument("--no-retry", action="store_true",
                   help="do not rebuild at the found Fmax when timing fails")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder; the build goes in DIR/<board>")
    p.set_defaults(handler=run_build)


def run_build(args):
    from pathlib import Path

    from eie.errors import EIEError
    from .boards import get_board
    from .build import build_board

    board = get_board(args.board)
    cfg = board.config(args.config)
    if args.freq is not None and not args.freq > 0:
        raise EIEError(f"--freq must be a positive number of MHz, not {args.freq!r}")
    out = Path(args.out) / board.name
    try:
        report = build_board(board, out, cfg=cfg,
                             freq=None if args.freq is None else args.freq * 1e6,
                             baud=args.baud, bake=args.bake, model=args.model,
                             seed=args.seed, retry=not args.no_retry)
    except ValueError as e:      # PLL or baud rate out of reach
        raise EIEError(str(e)) from None
    c = report["clock"]
    util = ", ".join(f"{k} {u}/{t}" for k, (u, t) in report["utilisation"].items())
    print(f"{board.name}: {report['n_pe']} PEs, Fmax {c['fmax_mhz']:.2f} MHz, clock {c['pll_mhz']:.3f} MHz "
          f"(timing {'met' if c['timing_met'] else 'NOT met'}); {util}")
    print(f"wrote {out}/{report['bitstream']}, {out}/report.md, {out}/report.json")
    return 0 if c["timing_met"] else 1
