"""SRAM images: what the hardware, the golden model and the FPGA load, on disk.

A folder holds ``manifest.json`` and, for every memory of `eie.contract.image_memories`,
one ``.hex`` file (one word per line, ``$readmemh``-ready) and one ``.bin`` file (each
word little-endian in ``ceil(width/8)`` bytes). Per-PE memories live in ``peNNN/``,
global ones (codebook, layer table) in ``global/``. Only the used words are written;
the rest of each memory is zero. The manifest records the config (and its hash), the
layer table in readable form, the memory sizes and the SHA-256 of every image file.
A balanced encoding also lists each layer's ``out_positions`` (the device row of every model
output row): format version 2. Folders without positions are written as version 1, as
before, and both versions are read.

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
from .bits import (bytes_to_hex, bytes_to_words, entries_to_words, pack_fields, to_signed,
                   to_unsigned, unpack_fields, words_to_bytes, words_to_entries)
from .config import EIEConfig, ConfigError
from .contract import GLOBAL_MEMS, PE_IMAGE_MEMS, Mem, image_memories
from .errors import EIEError

__all__ = ["ImageError", "Images", "Memories", "write_images", "read_images", "program_memories",
           "image_file", "image_files", "MANIFEST", "FORMAT_NAME", "FORMAT_VERSION", "READ_VERSIONS"]

MANIFEST = "manifest.json"
FORMAT_NAME = "eie-gen images"
# Version 2 adds the layers' `out_positions` (balanced encodings); a folder without them is
# written as version 1, byte for byte what earlier eie-gen wrote. Both are read.
FORMAT_VERSION = 2
READ_VERSIONS = (1, 2)


class ImageError(EIEError):
    """Images that are missing, corrupt, or don't belong to the expected config."""


# ---- Program -> memory contents ------------------------------------------------------------

@dataclass
class Memories:
    """The contents of every memory an image folder fills, as words the hardware holds.

    ``pe[k][mem]`` for the per-PE memories (`PE_IMAGE_MEMS`), ``glob[mem]`` for the global
    ones; unsigned words (signed values in two's complement), int64 or, for words wider
    than 63 bits, Python ints. Only the used words: the rest of each memory is zero.
    """

    cfg: EIEConfig
    pe: list[dict[Mem, np.ndarray]]
    glob: dict[Mem, np.ndarray]
    n_layers: int
    # Not a memory: where each model output sits in the last layer's device output
    # (`eie.format.to_model_order`); None when the device order is the model's.
    output_positions: np.ndarray | None = None

    def words(self, mem: Mem, k: int | None = None) -> np.ndarray:
        mem = Mem(mem)
        return self.pe[k][mem] if mem.per_pe else self.glob[mem]

    def spmat_entries(self, k: int) -> np.ndarray:
        """Entry codes of PE ``k``'s sparse-matrix words, shape (words, entries_per_word)."""
        cfg = self.cfg
        return words_to_entries(self.pe[k][Mem.SPMAT], cfg.entry_bits, cfg.entries_per_word)


def program_memories(program: fmt.Program) -> Memories:
    """Contents of every memory, as the hardware holds them."""
    cfg, layers = program.cfg, program.layers
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
            Mem.PTR: ptr,
            Mem.SPMAT: entries_to_words(padded.reshape(n_words, cfg.entries_per_word), cfg.entry_bits),
            Mem.BIAS: to_unsigned(bias, cfg.act_bits),
        })
    codebook = np.concatenate([e.codebook for e in layers])
    table = pack_fields({
        "in_len": [e.in_len for e in layers],
        "out_len": [e.out_len for e in layers],
        "ptr_base": [e.ptr_base for e in layers],
        "bias_base": [e.bias_base for e in layers],
        "shift": [e.shift for e in layers],
        "relu": [int(e.relu) for e in layers],
    }, fmt.layer_fields(cfg), what="layer field")
    return Memories(cfg=cfg, pe=pe, n_layers=len(layers),
                    glob={Mem.CODEBOOK: to_unsigned(codebook, cfg.weight_bits), Mem.LAYERS: table},
                    output_positions=layers[-1].out_positions)


def image_file(mem: Mem, k: int | None = None) -> str:
    """Path of a memory's image inside the folder, without suffix: ``pe007/spmat``,
    ``global/layers``."""
    mem = Mem(mem)
    return f"pe{k:03d}/{mem.key}" if mem.per_pe else f"global/{mem.key}"


def image_files(cfg: EIEConfig) -> list[tuple[Mem, int | None]]:
    """Every (memory, PE) an image folder holds a file for, in writing order."""
    return ([(mem, k) for k in range(cfg.n_pe) for mem in PE_IMAGE_MEMS]
            + [(mem, None) for mem in GLOBAL_MEMS])


# ---- writing ---------------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_images(program: fmt.Program, out_dir: str | Path, extra: dict | None = None) -> Path:
    """Write manifest and images into ``out_dir`` atomically; return the folder."""
    cfg = program.cfg
    specs = image_memories(cfg)
    mems = program_memories(program)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        files: dict[str, str] = {}
        used: dict[Mem, list[int]] = {mem: [] for mem in specs}
        for mem, k in image_files(cfg):
            words = mems.words(mem, k)
            raw = words_to_bytes(words, specs[mem].width)
            rel = image_file(mem, k)
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.with_suffix(".hex").write_text(bytes_to_hex(raw, specs[mem].width))
            path.with_suffix(".bin").write_bytes(raw)
            for suffix in (".hex", ".bin"):
                files[rel + suffix] = _sha256(path.with_suffix(suffix))
            used[mem].append(len(words))
        balanced = any(e.out_positions is not None for e in program.layers)
        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION if balanced else 1,
            "config": cfg.to_dict(),
            "config_hash": cfg.hash,
            "n_layers": len(program.layers),
            "layers": [_layer_record(e) for e in program.layers],
            "memories": {info.key: {"width": info.width, "depth": info.depth, "per_pe": info.per_pe,
                                    "signed": info.signed, "used_max": max(used[mem])}
                         for mem, info in specs.items()},
            "images": dict(sorted(files.items())),
        }
        if extra:
            manifest["extra"] = extra
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return out_dir


def _layer_record(e: fmt.EncodedLayer) -> dict:
    return {"name": e.name, "in_len": e.in_len, "out_len": e.out_len, "shift": e.shift,
            "relu": bool(e.relu), "ptr_base": e.ptr_base, "bias_base": e.bias_base,
            "entry_base_per_pe": [int(x) for x in e.entry_base],
            "entries_per_pe": [int(x) for x in e.entries_per_pe],
            "padding_per_pe": [int(x) for x in e.padding_per_pe],
            "codebook": [int(x) for x in e.codebook],
            **({} if e.out_positions is None else {"out_positions": [int(x) for x in e.out_positions]})}


# ---- reading ---------------------------------------------------------------------------------

@dataclass
class Images:
    """Images read back from a folder, checked, as integer arrays."""

    folder: Path
    cfg: EIEConfig
    manifest: dict
    memories: Memories

    @property
    def n_layers(self) -> int:
        return int(self.manifest["n_layers"])

    @property
    def layers(self) -> list[dict]:
        return self.manifest["layers"]

    def pe_memory(self, mem: Mem | str, k: int) -> np.ndarray:
        """Words of a per-PE memory (``ptr``, ``spmat``, ``bias``) as unsigned integers
        (``spmat`` words are Python ints when wider than 63 bits)."""
        return self.memories.pe[k][_mem(mem)]

    def spmat_entries(self, k: int) -> np.ndarray:
        """Entry codes of PE ``k`` as (words, entries_per_word)."""
        return self.memories.spmat_entries(k)

    def global_memory(self, mem: Mem | str) -> np.ndarray:
        return self.memories.glob[_mem(mem)]

    def program(self) -> fmt.Program:
        """Decode the memories back into a `Program` (layer table, pointers, entries)."""
        cfg = self.cfg
        table = unpack_fields(self.global_memory(Mem.LAYERS), fmt.layer_fields(cfg))
        cb_all = to_signed(self.global_memory(Mem.CODEBOOK), cfg.weight_bits)
        codes = [self.spmat_entries(k).reshape(-1) for k in range(cfg.n_pe)]
        layers, prev_pos = [], None
        for l in range(self.n_layers):
            in_len, out_len = int(table["in_len"][l]), int(table["out_len"][l])
            ptr_base, bias_base = int(table["ptr_base"][l]), int(table["bias_base"][l])
            name = self.layers[l]["name"]
            ptrs, vs, zs, bases = [], [], [], []
            bias = np.zeros(out_len, dtype=np.int64)
            for k in range(cfg.n_pe):
                ptr = self.pe_memory(Mem.PTR, k)[ptr_base:ptr_base + in_len + 1]
                if len(ptr) != in_len + 1:
                    raise ImageError(f"layer {name}: pointer image of PE {k} is too short")
                start, end = int(ptr[0]), int(ptr[-1])
                if end > len(codes[k]) or np.any(np.diff(ptr) < 0):
                    raise ImageError(f"layer {name}: pointers of PE {k} run outside its sparse-matrix image")
                v, z = fmt.unpack_entries(codes[k][start:end], cfg)
                ptrs.append(ptr - start); vs.append(v); zs.append(z); bases.append(start)
                rows_k = fmt.rows_of_pe(out_len, k, cfg.n_pe)
                bias[k::cfg.n_pe] = to_signed(self.pe_memory(Mem.BIAS, k)[bias_base:bias_base + rows_k],
                                              cfg.act_bits)
            cb = cb_all[l * cfg.codebook_size:(l + 1) * cfg.codebook_size]
            pos = _positions(self.layers[l], out_len)
            layers.append(fmt.EncodedLayer(
                name=name, in_len=in_len, out_len=out_len, shift=int(table["shift"][l]),
                relu=bool(table["relu"][l]), codebook=cb, bias=bias, ptr=ptrs, v=vs, z=zs,
                ptr_base=ptr_base, bias_base=bias_base, entry_base=bases,
                out_positions=pos, in_positions=prev_pos))
            prev_pos = pos
        return fmt.Program(cfg=cfg, layers=layers)


def _positions(record: dict, out_len: int) -> np.ndarray | None:
    pos = record.get("out_positions")
    return None if pos is None else fmt.check_positions(pos, out_len)


def _mem(mem: Mem | str) -> Mem:
    return mem if isinstance(mem, Mem) else Mem[str(mem).upper()]


def read_images(folder: str | Path, cfg: EIEConfig | None = None) -> Images:
    """Read and check an image folder. With ``cfg``, the images must be for that config."""
    folder = Path(folder)
    mpath = folder / MANIFEST
    manifest = _read_manifest(mpath)
    cfg = _manifest_config(manifest, mpath, folder, cfg)
    _check_files(manifest, mpath, folder, cfg)
    specs = image_memories(cfg)
    words = {(mem, k): _load_words(folder, mem, k, specs[mem]) for mem, k in image_files(cfg)}
    mems = Memories(cfg=cfg, pe=[{mem: words[mem, k] for mem in PE_IMAGE_MEMS} for k in range(cfg.n_pe)],
                    glob={mem: words[mem, None] for mem in GLOBAL_MEMS}, n_layers=0)
    n_layers = manifest.get("n_layers")
    if not isinstance(n_layers, int) or not 1 <= n_layers <= min(cfg.max_layers, len(mems.glob[Mem.LAYERS])):
        raise ImageError(f"{mpath}: bad layer count {n_layers!r}")
    mems.n_layers = n_layers
    mems.output_positions = _check_layer_positions(manifest, mpath, mems)
    return Images(folder=folder, cfg=cfg, manifest=manifest, memories=mems)


def _check_layer_positions(manifest: dict, mpath: Path, mems: Memories) -> np.ndarray | None:
    """Check every layer's ``out_positions`` against the layer table; the last layer's."""
    layers = manifest.get("layers")
    if not isinstance(layers, list) or len(layers) != mems.n_layers:
        raise ImageError(f"{mpath}: the manifest lists {len(layers) if isinstance(layers, list) else 'no'} "
                         f"layers for a table of {mems.n_layers}")
    table = unpack_fields(mems.glob[Mem.LAYERS][:mems.n_layers], fmt.layer_fields(mems.cfg))
    pos = None
    for l, rec in enumerate(layers):
        if not isinstance(rec, dict):
            raise ImageError(f"{mpath}: layer {l} of the manifest is not an object")
        if "out_positions" in rec and manifest["format_version"] < 2:
            raise ImageError(f"{mpath}: layer {l} has out_positions, which format version 1 does not have")
        try:
            pos = _positions(rec, int(table["out_len"][l]))
        except fmt.FormatError as e:
            raise ImageError(f"{mpath}: layer {l} ({rec.get('name')}): out_positions: {e}") from None
    return pos


def _read_manifest(mpath: Path) -> dict:
    if not mpath.is_file():
        raise ImageError(f"{mpath.parent}: no {MANIFEST} (not an image folder)")
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ImageError(f"{mpath}: not valid JSON: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ImageError(f"{mpath}: not an eie-gen image manifest")
    if manifest.get("format_version") not in READ_VERSIONS:
        raise ImageError(f"{mpath}: format version {manifest.get('format_version')!r}, "
                         f"this eie-gen reads versions {', '.join(map(str, READ_VERSIONS))}")
    return manifest


def _manifest_config(manifest: dict, mpath: Path, folder: Path, cfg: EIEConfig | None) -> EIEConfig:
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
    return img_cfg


def _check_files(manifest: dict, mpath: Path, folder: Path, cfg: EIEConfig):
    images = manifest.get("images", {})
    expected = {image_file(mem, k) + s for mem, k in image_files(cfg) for s in (".hex", ".bin")}
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


def _load_words(folder: Path, mem: Mem, k: int | None, info) -> np.ndarray:
    rel = image_file(mem, k)
    raw = (folder / f"{rel}.bin").read_bytes()
    if len(raw) % info.nbytes:
        raise ImageError(f"{folder}: image {rel}.bin is not a whole number of {info.nbytes}-byte words")
    words = bytes_to_words(raw, info.width)
    if len(words) > info.depth:
        raise ImageError(f"{folder}: image {rel} has {len(words)} words; the memory holds {info.depth}")
    wide = np.any(words >> info.width) if words.dtype != object else any(int(w) >> info.width for w in words)
    if wide:
        raise ImageError(f"{folder}: image {rel} has a word wider than the memory's {info.width} bits")
    return words

