"""SRAM images: what the hardware, the golden model and the FPGA load, on disk.

A folder holds ``manifest.json`` and, for every memory of `eie.format.memory_specs`,
one ``.hex`` file (one word per line, ``$readmemh``-ready) and one ``.bin`` file (each
word little-endian in ``ceil(width/8)`` bytes). Per-PE memories live in ``peNNN/``,
global ones (codebook, layer table) in ``global/``. Only the used words are written;
the rest of each memory is zero. The manifest records the config (and its hash), the
layer table in readable form, the memory sizes and the SHA-256 of every image file.

`write_images` is atomic (a failure leaves no folder). `read_images` checks the
manifest's format, its config against the expected one, every checksum, and every
size, and reads the binary files back into integer arrays; `Images.program()` decodes
them back into a `Program` (the golden model's input).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import format as fmt
from .atomic import atomic_dir
from .config import EIEConfig, ConfigError
from .errors import EIEError

__all__ = ["ImageError", "Images", "write_images", "read_images", "program_memories",
           "words_to_bytes", "bytes_to_words", "MANIFEST", "FORMAT_NAME", "FORMAT_VERSION"]

MANIFEST = "manifest.json"
FORMAT_NAME = "eie-gen images"
FORMAT_VERSION = 1


class ImageError(EIEError):
    """Images that are missing, corrupt, or don't belong to the expected config."""


# ---- word <-> bytes/hex ------------------------------------------------------------------

def _nbytes(width: int) -> int:
    return (width + 7) // 8


def words_to_bytes(words, width: int) -> np.ndarray:
    """Unsigned words (int64 array, or object array for > 63 bits) to (n, nbytes) uint8, LE."""
    nb = _nbytes(width)
    words = np.asarray(words)
    if words.dtype != object and width <= 63:
        w = words.astype(np.uint64)
        return w.view(np.uint8).reshape(-1, 8)[:, :nb].copy() if len(w) else np.zeros((0, nb), np.uint8)
    out = np.zeros((len(words), nb), dtype=np.uint8)
    for i, w in enumerate(words):
        out[i] = np.frombuffer(int(w).to_bytes(nb, "little"), dtype=np.uint8)
    return out


def bytes_to_words(raw: np.ndarray, width: int) -> np.ndarray:
    """(n, nbytes) uint8 LE to words: int64 when width <= 63, else an object array of ints."""
    raw = np.asarray(raw, dtype=np.uint8)
    if width <= 63:
        padded = np.zeros((raw.shape[0], 8), dtype=np.uint8)
        padded[:, :raw.shape[1]] = raw
        return padded.view(np.uint64).reshape(-1).astype(np.int64)
    return np.array([int.from_bytes(bytes(r), "little") for r in raw], dtype=object)


def entries_to_bytes(codes: np.ndarray, cfg: EIEConfig) -> np.ndarray:
    """Entry codes (n_words, entries_per_word) to packed words as (n_words, nbytes) uint8.

    Vectorised for any word width: entry ``e`` of a word sits at bits
    ``[e * entry_bits, (e+1) * entry_bits)``.
    """
    n = codes.shape[0]
    bits = (codes[:, :, None] >> np.arange(cfg.entry_bits)) & 1          # (n, E, entry_bits)
    bits = bits.reshape(n, cfg.word_bits).astype(np.uint8)
    pad = _nbytes(cfg.word_bits) * 8 - cfg.word_bits
    if pad:
        bits = np.concatenate([bits, np.zeros((n, pad), np.uint8)], axis=1)
    return np.packbits(bits, axis=1, bitorder="little")


def bytes_to_entries(raw: np.ndarray, cfg: EIEConfig) -> np.ndarray:
    """Inverse of `entries_to_bytes`: (n_words, entries_per_word) entry codes."""
    n = raw.shape[0]
    bits = np.unpackbits(np.asarray(raw, np.uint8), axis=1, bitorder="little")[:, :cfg.word_bits]
    bits = bits.reshape(n, cfg.entries_per_word, cfg.entry_bits).astype(np.int64)
    return (bits << np.arange(cfg.entry_bits)).sum(axis=2)


def bytes_to_hex(raw: np.ndarray, width: int) -> str:
    """One hex word per line, most significant digit first, exactly ceil(width/4) digits."""
    digits = (width + 3) // 4
    if raw.shape[0] == 0:
        return ""
    nb = raw.shape[1]
    text = raw[:, ::-1].tobytes().hex()
    lines = np.frombuffer(text.encode(), dtype=f"S{2 * nb}")
    cut = 2 * nb - digits
    return "\n".join(s[cut:].decode() for s in lines) + "\n"


# ---- Program -> memory contents ------------------------------------------------------------

def _to_unsigned(values, width: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.int64)
    return values & ((1 << width) - 1)


def program_memories(program: fmt.Program) -> dict:
    """Contents of every memory, as the hardware holds them.

    Returns ``{"pe": [ {"ptr": ints, "spmat": (words, E) entry codes, "bias": ints} ...],
    "global": {"codebook": ints, "layers": words}}``; signed values in two's complement.
    """
    cfg, layers = program.cfg, program.layers
    specs = fmt.memory_specs(cfg)
    pe = []
    for k in range(cfg.n_pe):
        ptr = np.concatenate([e.ptr[k] + e.entry_base[k] for e in layers]
                             + [np.zeros(0, np.int64)]).astype(np.int64)
        codes = np.concatenate([fmt.pack_entries(e.v[k], e.z[k], cfg) for e in layers]).astype(np.int64)
        n_words = -(-len(codes) // cfg.entries_per_word)
        padded = np.zeros(n_words * cfg.entries_per_word, dtype=np.int64)
        padded[:len(codes)] = codes
        bias = np.zeros(sum(fmt.local_rows(e.out_len, cfg.n_pe) for e in layers), dtype=np.int64)
        for e in layers:
            mine = e.bias[k::cfg.n_pe]
            bias[e.bias_base:e.bias_base + len(mine)] = mine
        pe.append({
            "ptr": ptr,
            "spmat": padded.reshape(n_words, cfg.entries_per_word),
            "bias": _to_unsigned(bias, specs["bias"]["width"]),
        })
    codebook = np.concatenate([e.codebook for e in layers])
    table = fmt.pack_fields({
        "in_len": [e.in_len for e in layers],
        "out_len": [e.out_len for e in layers],
        "ptr_base": [e.ptr_base for e in layers],
        "bias_base": [e.bias_base for e in layers],
        "shift": [e.shift for e in layers],
        "relu": [int(e.relu) for e in layers],
    }, fmt.layer_fields(cfg))
    return {"pe": pe, "global": {"codebook": _to_unsigned(codebook, specs["codebook"]["width"]),
                                 "layers": table}}


def _memory_bytes(name: str, content, cfg: EIEConfig) -> np.ndarray:
    if name == "spmat":
        return entries_to_bytes(content, cfg)
    return words_to_bytes(content, fmt.memory_specs(cfg)[name]["width"])


# ---- writing ---------------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_images(program: fmt.Program, out_dir: str | Path, extra: dict | None = None) -> Path:
    """Write manifest and images into ``out_dir`` atomically; return the folder."""
    cfg = program.cfg
    specs = fmt.memory_specs(cfg)
    mems = program_memories(program)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        files: dict[str, str] = {}
        used: dict[str, list[int]] = {name: [] for name in specs}

        def emit(rel: str, name: str, content):
            raw = _memory_bytes(name, content, cfg)
            width = specs[name]["width"]
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            (path.with_suffix(".hex")).write_text(bytes_to_hex(raw, width))
            (path.with_suffix(".bin")).write_bytes(raw.tobytes())
            for suffix in (".hex", ".bin"):
                files[rel + suffix] = _sha256(path.with_suffix(suffix))
            used[name].append(int(raw.shape[0]))

        for k, pe in enumerate(mems["pe"]):
            for name in ("ptr", "spmat", "bias"):
                emit(f"pe{k:03d}/{name}", name, pe[name])
        for name in ("codebook", "layers"):
            emit(f"global/{name}", name, mems["global"][name])

        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "config": cfg.to_dict(),
            "config_hash": cfg.hash,
            "n_layers": len(program.layers),
            "layers": [{
                "name": e.name, "in_len": e.in_len, "out_len": e.out_len,
                "shift": e.shift, "relu": bool(e.relu),
                "ptr_base": e.ptr_base, "bias_base": e.bias_base,
                "entry_base_per_pe": [int(x) for x in e.entry_base],
                "entries_per_pe": [int(x) for x in e.entries_per_pe],
                "padding_per_pe": [int(x) for x in e.padding_per_pe],
                "codebook": [int(x) for x in e.codebook],
            } for e in program.layers],
            "memories": {name: {
                "width": spec["width"], "depth": spec["depth"], "per_pe": spec["per_pe"],
                "signed": spec["signed"], "used_max": max(used[name]),
            } for name, spec in specs.items()},
            "images": dict(sorted(files.items())),
        }
        if extra:
            manifest["extra"] = extra
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return out_dir


# ---- reading ---------------------------------------------------------------------------------

@dataclass
class Images:
    """Images read back from a folder, checked, as integer arrays."""

    folder: Path
    cfg: EIEConfig
    manifest: dict
    _pe: list[dict]
    _global: dict

    @property
    def n_layers(self) -> int:
        return int(self.manifest["n_layers"])

    @property
    def layers(self) -> list[dict]:
        return self.manifest["layers"]

    def pe_memory(self, name: str, k: int) -> np.ndarray:
        """Words of a per-PE memory (``ptr``, ``spmat``, ``bias``) as unsigned integers.

        ``spmat`` words are int64 when they fit 63 bits, else Python ints (object array).
        """
        if name == "spmat":
            codes = self._pe[k]["spmat"]
            return _words_from_entries(codes, self.cfg)
        return self._pe[k][name]

    def spmat_entries(self, k: int) -> np.ndarray:
        """Entry codes of PE ``k`` as (words, entries_per_word)."""
        return self._pe[k]["spmat"]

    def global_memory(self, name: str) -> np.ndarray:
        return self._global[name]

    def program(self) -> fmt.Program:
        """Decode the memories back into a `Program` (layer table, pointers, entries)."""
        cfg = self.cfg
        table = fmt.unpack_fields(self._global["layers"], fmt.layer_fields(cfg))
        cb_all = _to_signed(self._global["codebook"], cfg.weight_bits)
        layers = []
        for l in range(self.n_layers):
            in_len, out_len = int(table["in_len"][l]), int(table["out_len"][l])
            ptr_base, bias_base = int(table["ptr_base"][l]), int(table["bias_base"][l])
            name = self.layers[l]["name"]
            ptrs, vs, zs, bases = [], [], [], []
            bias = np.zeros(out_len, dtype=np.int64)
            for k in range(cfg.n_pe):
                ptr = self._pe[k]["ptr"][ptr_base:ptr_base + in_len + 1]
                if len(ptr) != in_len + 1:
                    raise ImageError(f"layer {name}: pointer image of PE {k} is too short")
                codes = self._pe[k]["spmat"].reshape(-1)
                start, end = int(ptr[0]), int(ptr[-1])
                if end > len(codes) or np.any(np.diff(ptr) < 0):
                    raise ImageError(f"layer {name}: pointers of PE {k} run outside its sparse-matrix image")
                v, z = fmt.unpack_entries(codes[start:end], cfg)
                ptrs.append(ptr - start); vs.append(v); zs.append(z); bases.append(start)
                rows_k = fmt.rows_of_pe(out_len, k, cfg.n_pe)
                b = _to_signed(self._pe[k]["bias"][bias_base:bias_base + rows_k], cfg.act_bits)
                bias[k::cfg.n_pe] = b
            cb = cb_all[l * cfg.codebook_size:(l + 1) * cfg.codebook_size]
            layers.append(fmt.EncodedLayer(
                name=name, in_len=in_len, out_len=out_len, shift=int(table["shift"][l]),
                relu=bool(table["relu"][l]), codebook=cb, bias=bias, ptr=ptrs, v=vs, z=zs,
                ptr_base=ptr_base, bias_base=bias_base, entry_base=bases))
        return fmt.Program(cfg=cfg, layers=layers)


def _to_signed(values, width: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.int64)
    return np.where(values >= (1 << (width - 1)), values - (1 << width), values)


def _words_from_entries(codes: np.ndarray, cfg: EIEConfig) -> np.ndarray:
    if cfg.word_bits <= 63:
        shifts = np.arange(cfg.entries_per_word, dtype=np.int64) * cfg.entry_bits
        return (codes << shifts).sum(axis=1) if len(codes) else np.zeros(0, np.int64)
    return np.array([sum(int(c) << (i * cfg.entry_bits) for i, c in enumerate(row)) for row in codes],
                    dtype=object)


def read_images(folder: str | Path, cfg: EIEConfig | None = None) -> Images:
    """Read and check an image folder. With ``cfg``, the images must be for that config."""
    folder = Path(folder)
    mpath = folder / MANIFEST
    if not mpath.is_file():
        raise ImageError(f"{folder}: no {MANIFEST} (not an image folder)")
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ImageError(f"{mpath}: not valid JSON: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ImageError(f"{mpath}: not an eie-gen image manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ImageError(f"{mpath}: format version {manifest.get('format_version')!r}, "
                         f"this eie-gen reads version {FORMAT_VERSION}")
    try:
        img_cfg = EIEConfig.from_dict(manifest["config"])
    except (KeyError, ConfigError, TypeError) as e:
        raise ImageError(f"{mpath}: bad config in manifest: {e}") from None
    if manifest.get("config_hash") != img_cfg.hash:
        raise ImageError(f"{mpath}: config hash {manifest.get('config_hash')!r} does not match "
                         f"its config ({img_cfg.hash})")
    if cfg is not None and cfg != img_cfg:
        diffs = [f"{k}={v} (expected {getattr(cfg, k)})" for k, v in img_cfg.to_dict().items()
                 if getattr(cfg, k) != v]
        raise ImageError(f"{folder}: images were made for config {img_cfg.hash}, not {cfg.hash}: "
                         + ", ".join(diffs))
    cfg = img_cfg
    specs = fmt.memory_specs(cfg)
    images = manifest.get("images", {})
    expected = {f"pe{k:03d}/{n}.{s}" for k in range(cfg.n_pe) for n in ("ptr", "spmat", "bias")
                for s in ("hex", "bin")} | {f"global/{n}.{s}" for n in ("codebook", "layers")
                                             for s in ("hex", "bin")}
    missing = sorted(expected - set(images))
    if missing:
        raise ImageError(f"{mpath}: manifest lists no checksum for {missing[0]}"
                         + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    for rel, digest in images.items():
        path = folder / rel
        if not path.is_file():
            raise ImageError(f"{folder}: image {rel} is missing")
        if _sha256(path) != digest:
            raise ImageError(f"{folder}: image {rel} does not match its checksum in the manifest")

    def load(rel: str, name: str):
        width = specs[name]["width"]
        raw = np.frombuffer((folder / f"{rel}.bin").read_bytes(), dtype=np.uint8)
        nb = _nbytes(width)
        if raw.size % nb:
            raise ImageError(f"{folder}: image {rel}.bin is not a whole number of {nb}-byte words")
        raw = raw.reshape(-1, nb)
        if raw.shape[0] > specs[name]["depth"]:
            raise ImageError(f"{folder}: image {rel} has {raw.shape[0]} words; the memory holds "
                             f"{specs[name]['depth']}")
        if name == "spmat":
            return bytes_to_entries(raw, cfg)
        return bytes_to_words(raw, width)

    pe = [{n: load(f"pe{k:03d}/{n}", n) for n in ("ptr", "spmat", "bias")} for k in range(cfg.n_pe)]
    glob = {n: load(f"global/{n}", n) for n in ("codebook", "layers")}
    n_layers = manifest.get("n_layers")
    if not isinstance(n_layers, int) or not 1 <= n_layers <= min(cfg.max_layers, len(glob["layers"])):
        raise ImageError(f"{mpath}: bad layer count {n_layers!r}")
    return Images(folder=folder, cfg=cfg, manifest=manifest, _pe=pe, _global=glob)
