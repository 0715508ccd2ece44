"""`eie sim`: a user's compressed model on the RTL, checked against the golden and cycle models.

``eie sim IMAGES --inputs X.npy`` loads the image folder (written by ``eie compress``) into
the Verilator build of its config, runs every input vector through the RTL and checks
every output value against the golden model and every layer's cycle count against the
cycle model: the regression's testbench (`sim.regression.run_cases`, cases of kind
``images``), with the inputs cut into chunks that each reset the design and load the
images again (a progress bar counts them). `check_inputs` refuses bad input before
anything is built; `report` turns the results into the summary line, the first difference
and the command that replays it exactly (a chunk's seed depends only on ``--seed`` and
the index of its first vector).
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eie.errors import EIEError

__all__ = ["SimRequest", "check_inputs", "chunk_cases", "report", "parse_vectors"]


@dataclass
class SimRequest:
    """What `eie sim` was asked to do, checked by `check_inputs`."""

    images: Path
    inputs: Path
    config: str | None = None
    output: Path | None = None
    labels: Path | None = None
    idle: float = 0.0
    backpressure: float = 0.0
    load: str = "protocol"
    waves: bool = False
    seed: int = 1
    vectors: tuple[int, int] | None = None     # a slice of the inputs (replays)
    chunk: int | None = None                   # vectors per simulator reset


def parse_vectors(text: str | None) -> tuple[int, int] | None:
    """``"A:B"`` -> (A, B): vectors A .. B-1 of the inputs."""
    if text is None:
        return None
    try:
        a, b = (int(t) for t in text.split(":"))
    except ValueError:
        raise EIEError(f"--vectors must be START:END (vector indices), not {text!r}") from None
    if not 0 <= a < b:
        raise EIEError(f"--vectors {text!r}: need 0 <= START < END")
    return a, b


def _load_npy(path: Path, what: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise EIEError(f"cannot read {what} {str(path)!r}: {e}") from None


def check_inputs(req: SimRequest):
    """``(images, x, labels)`` of a request: the images read and checked against
    ``--config``, the input vectors as a (batch, in_len) integer array (the ``--vectors``
    slice), the labels (or None); EIEError naming the first problem."""
    from eie.config import get_config
    from eie.images import read_images

    if not 0.0 <= req.idle < 1.0:
        raise EIEError(f"--idle must be a probability in [0, 1), not {req.idle}")
    if not 0.0 <= req.backpressure < 1.0:
        raise EIEError(f"--backpressure must be a probability in [0, 1), not {req.backpressure}")
    if req.chunk is not None and req.chunk < 1:
        raise EIEError(f"--chunk must be at least 1, not {req.chunk}")
    if req.output is not None and Path(req.output).is_dir():
        raise EIEError(f"-o {str(req.output)!r} is a folder; give a .npy file name")
    images = read_images(Path(req.images), get_config(req.config) if req.config else None)
    cfg, in_len = images.cfg, images.layers[0]["in_len"]
    x = _load_npy(req.inputs, "inputs")
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != in_len or x.shape[0] == 0:
        raise EIEError(f"inputs {str(req.inputs)!r} have shape {x.shape}; the model takes {in_len} values "
                       f"per vector: shape ({in_len},) or (batch, {in_len})")
    if not np.issubdtype(x.dtype, np.integer):
        raise EIEError(f"inputs must be fixed-point integers (Q{cfg.act_bits - cfg.act_frac}.{cfg.act_frac}), "
                       f"not {x.dtype}; `eie golden --float` shows the conversion")
    if x.min() < cfg.act_min or x.max() > cfg.act_max:
        raise EIEError(f"input values must lie in {cfg.act_min}..{cfg.act_max} ({cfg.act_bits}-bit activations)")
    labels = None
    if req.labels is not None:
        labels = _load_npy(req.labels, "labels")
        out_len = images.layers[-1]["out_len"]
        if labels.shape != (len(x),) or not np.issubdtype(labels.dtype, np.integer) \
                or labels.min() < 0 or labels.max() >= out_len:
            raise EIEError(f"labels {str(req.labels)!r} must be {len(x)} integers in 0..{out_len - 1}, "
                           f"one per input vector (shape {labels.shape}, {labels.dtype})")
    if req.vectors is not None:
        a, b = req.vectors
        if b > len(x):
            raise EIEError(f"--vectors {a}:{b}: the inputs hold {len(x)} vectors")
        x = x[a:b]
        labels = labels[a:b] if labels is not None else None
    return images, x.astype(np.int64), labels


def chunk_size(n: int) -> int:
    """Vectors per chunk: about 20 chunks (a progress bar that moves), at most 100 each."""
    return max(1, min(100, math.ceil(n / 20)))


def chunk_cases(req: SimRequest, images, x: np.ndarray, work: Path):
    """The regression cases of the run: one per chunk of vectors, each with its inputs file
    under ``work``, its RTL outputs saved there, and a seed from ``--seed`` and its first
    vector's index."""
    from .cases import Case

    cfg = images.cfg
    first = req.vectors[0] if req.vectors else 0
    size = req.chunk or chunk_size(len(x))
    work.mkdir(parents=True, exist_ok=True)
    shape = [images.layers[0]["in_len"]] + [e["out_len"] for e in images.layers]
    cases = []
    for start in range(0, len(x), size):
        part = x[start:start + size]
        index = first + start
        path = work / f"inputs{index:07d}.npy"
        np.save(path, part)
        cases.append(Case(name=f"sim/{index}", cfg=cfg, kind="images", shape=shape,
                          weight_density=0.0, input_density=float(np.mean(part != 0)),
                          n_vectors=len(part), seed=req.seed * 1_000_003 + index, load=req.load,
                          idle=req.idle, backpressure=req.backpressure, images=str(Path(req.images).resolve()),
                          inputs=str(path), tags={"first_vector": index, "size": len(part),
                                                  "save_outputs": str(work / f"rtl{index:07d}.npy")}))
    return cases, size


def replay_command(req: SimRequest, case_tags: dict, size: int) -> str:
    """The `eie sim` command that runs one chunk again, exactly, with a waveform."""
    a = case_tags["first_vector"]
    parts = ["eie", "sim", str(req.images), "--inputs", str(req.inputs)]
    if req.config:
        parts += ["--config", req.config]
    parts += ["--load", req.load, "--idle", f"{req.idle:g}", "--backpressure", f"{req.backpressure:g}",
              "--seed", str(req.seed), "--vectors", f"{a}:{a + case_tags['size']}", "--chunk", str(size), "--waves"]
    return " ".join(shlex.quote(p) for p in parts)


def report(req: SimRequest, images, results: list[dict], size: int, labels=None,
           outputs: np.ndarray | None = None) -> tuple[int, list[str]]:
    """(exit status, lines): 0 and the summary line when every value and every layer's
    cycles match; 1 and the first difference with its replay command otherwise."""
    cfg = images.cfg
    vectors = sum(r.get("vectors") or 0 for r in results)
    want = sum(r["tags"]["size"] for r in results)
    rows = [l for r in results for l in r.get("layers", [])]
    exact = sum(l["model"] is not None and l["rtl"] == l["model"] for l in rows)
    rtl, model = sum(l["rtl"] for l in rows), sum(l["model"] or 0 for l in rows)
    values_ok = all(r["status"] in ("pass", "cycles") for r in results)
    parts = [f"eie sim: {vectors} of {want} vectors on config {cfg.hash} ({cfg.n_pe} PEs, {cfg.host_bits}-bit host port, "
             f"load {req.load}, idle {req.idle:g}, backpressure {req.backpressure:g})",
             f"outputs {'bit-exact' if values_ok and vectors == want else 'DIFFER'} "
             f"({sum(r.get('values_checked') or 0 for r in results)} values)",
             f"cycles {'= cycle model' if exact == len(rows) else 'DIFFER from the cycle model'} "
             f"({exact}/{len(rows)} layer runs exact; RTL {rtl}, model {model})"]
    if labels is not None and outputs is not None and len(outputs) == len(labels):
        parts.append(f"accuracy {100.0 * np.mean(np.argmax(outputs, axis=1) == labels):.2f} % "
                     f"({len(labels)} labels)")
    lines = ["; ".join(parts)]
    bad = [r for r in results if r["status"] != "pass"]
    if not bad:
        return 0, lines
    r = bad[0]
    lines.append(_first_difference(r))
    lines.append(f"replay: {replay_command(req, r['tags'], size)}")
    return 1, lines


def _first_difference(r: dict) -> str:
    """Where a failed chunk first differs: a value (vector, item, position), a layer's
    cycles, or the error that stopped it."""
    first = r["tags"]["first_vector"]
    d = r.get("first_difference")
    if d is not None:
        v, item = d["tag"].split("/", 1)
        what = "output" if item == "out" else f"output of layer {int(item[6:]) + 1} (read back)"
        return (f"first difference: vector {first + int(v[1:])}, {what} position {d['index']}: "
                f"RTL {d['got']}, golden model {d['expected']}")
    for row in r.get("layers", []):
        if row["model"] is not None and row["rtl"] != row["model"]:
            return (f"first difference: vector {first + row['vector']}, layer {row['layer']}: "
                    f"RTL {row['rtl']} cycles, cycle model {row['model']}")
    return f"first failure in the chunk from vector {first}: {r['status']}: {r.get('error')}"
