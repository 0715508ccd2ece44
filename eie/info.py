"""`eie config`: show a preset or config file, its derived sizes and its hash."""

from __future__ import annotations

import json

from .config import PRESETS, get_config
from .contract import memory_table
from .format import layer_word_bits


def register(sub):
    p = sub.add_parser("config", help="show a config (preset or JSON file): fields, derived sizes, hash")
    p.add_argument("--config", default="eie", help=f"preset ({', '.join(PRESETS)}) or JSON file (default: eie)")
    p.add_argument("--json", action="store_true", help="print only the config as JSON (to save and edit)")
    p.set_defaults(handler=run)


def run(args):
    cfg = get_config(args.config)
    if args.json:
        print(json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
        return 0
    print(f"config {args.config}  hash {cfg.hash}")
    print(f"  {cfg.describe()}")
    for k, v in cfg.to_dict().items():
        print(f"  {k:18} {v}")
    print("derived:")
    for k in ("codebook_size", "max_run", "entry_bits", "word_bits", "spmat_entries", "ptr_bits",
              "max_len", "len_bits", "shift_bits"):
        print(f"  {k:18} {getattr(cfg, k)}")
    print(f"  {'layer_word_bits':18} {layer_word_bits(cfg)}")
    print("memories (per PE unless global):")
    for info in memory_table(cfg).values():
        where = "per PE" if info.per_pe else "global"
        kib = info.width * info.depth / 8 / 1024
        print(f"  {info.key:10} {info.depth:>7} x {info.width:>3} bits  {kib:9.1f} KiB  {where}")
    return 0
