"""Subcommands of the simulation side: `eie golden` (and the regression runner)."""

from __future__ import annotations

from pathlib import Path

from eie.errors import EIEError


def register(sub):
    p = sub.add_parser("golden", help="run the bit-exact golden model (and cycle model) on an image folder")
    p.add_argument("images", help="image folder written by `eie compress` (holds manifest.json)")
    p.add_argument("--inputs", required=True,
                   help=".npy of input vectors, shape (in_len,) or (batch, in_len): fixed-point "
                        "integers, or floats with --float")
    p.add_argument("--float", action="store_true", help="inputs are floats: convert to fixed point first")
    p.add_argument("--config", help="expected config (preset or JSON): refuse images made for another")
    p.add_argument("-o", "--output", help="write the last layer's outputs to this .npy")
    p.set_defaults(handler=run_golden_cmd)


def _load_inputs(path: str):
    import numpy as np
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise EIEError(f"cannot read inputs {path!r}: {e}") from None


def run_golden_cmd(args):
    import numpy as np

    from eie import numerics
    from eie.atomic import atomic_write_bytes
    from eie.config import get_config
    from sim.golden import GoldenModel

    cfg = get_config(args.config) if args.config else None
    model = GoldenModel(Path(args.images), cfg)
    x = _load_inputs(args.inputs)
    if args.float:
        if not np.all(np.isfinite(x)):
            raise EIEError("inputs contain NaN or Inf")
        x = numerics.act_from_float(x, model.cfg)
    outs = model.run_layers(x)
    y = outs[-1]
    batch = 1 if y.ndim == 1 else y.shape[0]
    print(f"golden model: {len(model.layers)} layers, {batch} input vector(s), config {model.cfg.hash}")
    if args.output:
        import io
        buf = io.BytesIO()
        np.save(buf, y)
        atomic_write_bytes(args.output, buf.getvalue())
        print(f"outputs written to {args.output}")
    else:
        print(np.array2string(y, threshold=64))
    return 0
