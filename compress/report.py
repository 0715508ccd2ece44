"""The compression report: per-layer table like the paper's Table 2, accuracies, EIE images.

`build_report` turns a `CompressResult` into a plain dict (what ``report.json`` holds);
`render_markdown` turns that dict into ``report.md``. The storage figures come from
`compress.storage` (Deep Compression's format, Huffman bits measured by encoding);
the EIE figures from the encoded `Program` (the per-PE images the hardware reads).
docs/compress.md explains every column.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from eie import format as fmt
from eie.atomic import atomic_write_text

from .storage import FLOAT_BITS, layer_storage

__all__ = ["build_report", "render_markdown", "write_report", "ACCURACY_ROWS"]

ACCURACY_ROWS = [
    ("dense", "dense model (as given)"),
    ("pruned", "pruned + retrained, float"),
    ("quantized", "pruned + quantized, before fine-tuning, float"),
    ("compressed_float", "compressed (pruned + quantized + fine-tuned), float"),
    ("fixed_point", "compressed, fixed point (golden model on the images)"),
]
# One-shot mode has no retraining and no fine-tuning: its rows say so.
ACCURACY_ROWS_ONE_SHOT = [
    ("dense", "dense model (as given)"),
    ("pruned", "pruned (no retraining), float"),
    ("compressed_float", "compressed (pruned + quantized, no fine-tuning), float"),
    ("fixed_point", "compressed, fixed point (golden model on the images)"),
]


def _eie_layer(e: fmt.EncodedLayer, cfg) -> dict:
    entries = e.entries_per_pe
    padding = e.padding_per_pe
    total = int(entries.sum())
    spmat_bits = total * cfg.entry_bits
    ptr_bits = cfg.n_pe * (e.in_len + 1) * cfg.ptr_bits
    cb_bits = cfg.codebook_size * cfg.weight_bits
    bias_bits = e.out_len * cfg.act_bits
    mean = float(entries.mean())
    return {
        "entries": total, "padding": int(padding.sum()),
        "padding_pct": 100.0 * int(padding.sum()) / max(total, 1),
        "entries_per_pe_max": int(entries.max()), "entries_per_pe_mean": mean,
        "load_imbalance": float(entries.max() / mean) if mean else 1.0,
        "spmat_bits": spmat_bits, "ptr_bits": ptr_bits, "codebook_bits": cb_bits, "bias_bits": bias_bits,
        "sram_bits": spmat_bits + ptr_bits + cb_bits + bias_bits,
        "shift": int(e.shift),
    }


def build_report(result, config_name: str = "") -> dict:
    """The report of a `CompressResult` as a JSON-ready dict."""
    from .pipeline import options_dict

    cfg = result.cfg
    layers = []
    for q, e, dense in zip(result.quantized, result.program.layers, result.dense):
        s = layer_storage(q.indices, cfg.codebook_size - 1, q.out_len, cfg.v_bits)
        eie = _eie_layer(e, cfg)
        eie["ratio"] = s["bits_dense"] / eie["sram_bits"]
        layers.append({"name": q.name, "shape": [q.out_len, q.in_len], "relu": bool(q.relu), **s,
                       "codebook": [float(x) for x in q.codebook], "eie": eie})
    tot = {k: sum(l[k] for l in layers) for k in (
        "weights", "kept", "entries", "padding", "huffman_v_bits", "huffman_z_bits", "huffman_table_bits",
        "codebook_bits", "bias_bits", "bits_dense", "bits_pruned", "bits_pq", "bits_pqh")}
    entries = max(tot["entries"], 1)
    tot.update({
        "kept_pct": 100.0 * tot["kept"] / tot["weights"],
        "weight_bits_pq": cfg.v_bits,
        "weight_bits_pqh": tot["huffman_v_bits"] / entries,
        "index_bits_pq": sum(l["index_bits_pq"] * l["entries"] for l in layers) / entries,
        "index_bits_pqh": tot["huffman_z_bits"] / entries,
        "ratio_pruned": tot["bits_dense"] / tot["bits_pruned"],
        "ratio_pq": tot["bits_dense"] / tot["bits_pq"],
        "ratio_pqh": tot["bits_dense"] / tot["bits_pqh"],
    })
    eie_tot = {k: sum(l["eie"][k] for l in layers) for k in ("entries", "padding", "sram_bits")}
    eie_tot["ratio"] = tot["bits_dense"] / eie_tot["sram_bits"]
    data = result.data
    return {
        "source": result.source,
        "mode": "one-shot" if result.options.one_shot else "full",
        "config": {"name": config_name, "hash": cfg.hash, "description": cfg.describe(), **cfg.to_dict()},
        "data": None if data is None else {"name": data.name, "description": data.description,
                                          "train": int(len(data.y_train)), "test": int(len(data.y_test))},
        "options": options_dict(result.options),
        "densities": list(result.densities),
        "accuracy": dict(result.accuracy),
        "layers": layers,
        "total": tot,
        "eie_total": eie_tot,
        "timings": dict(result.timings),
        "warnings": list(result.warnings),
    }


def _pct(x):
    return "n/a" if x is None else f"{x:.2f} %"


def render_markdown(rep: dict) -> str:
    """``report.md``: the tables of `build_report`'s dict."""
    lines = ["# Deep Compression report", ""]
    cfg = rep["config"]
    lines += [f"- model: `{rep['source'] or 'built-in'}`",
              f"- config: {cfg['name'] or '(file)'} (hash `{cfg['hash']}`): {cfg['description']}",
              f"- data: {rep['data']['description'] if rep['data'] else 'none (no accuracy figures)'}",
              f"- mode: {rep['mode']}; target densities "
              + ", ".join(f"{l['name']} {100 * d:.0f} %" for l, d in zip(rep["layers"], rep["densities"])),
              ""]
    for w in rep["warnings"]:
        lines += [f"> **Warning:** {w}", ""]

    lines += ["## Accuracy", ""]
    if rep["data"]:
        lines += [f"Test split: {rep['data']['test']} images.", "",
                  "| model | accuracy | error |", "|---|---:|---:|"]
        for key, label in (ACCURACY_ROWS_ONE_SHOT if rep["mode"] == "one-shot" else ACCURACY_ROWS):
            if key in rep["accuracy"]:
                a = rep["accuracy"][key]
                lines.append(f"| {label} | {a:.2f} % | {100 - a:.2f} % |")
    else:
        lines.append("No data given: accuracies not measured.")
    lines.append("")

    lines += ["## Compression (Deep Compression storage, like the paper's Table 2)", "",
              "| layer | weights | kept % (P) | weight bits (P+Q) | weight bits (P+Q+H) | index bits (P+Q) "
              "| index bits (P+Q+H) | compression (P) | compression (P+Q) | compression (P+Q+H) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def row(name, s):
        return (f"| {name} | {s['weights']:,} | {s['kept_pct']:.1f} % | {s['weight_bits_pq']:.0f} | "
                f"{s['weight_bits_pqh']:.2f} | {s['index_bits_pq']:.1f} | {s['index_bits_pqh']:.2f} | "
                f"{s['ratio_pruned']:.1f}x | {s['ratio_pq']:.1f}x | {s['ratio_pqh']:.1f}x |")

    for l in rep["layers"]:
        lines.append(row(f"{l['name']} ({l['shape'][1]}x{l['shape'][0]})", l))
    t = rep["total"]
    lines.append(row("**total**", t).replace(f"{t['ratio_pqh']:.1f}x |", f"**{t['ratio_pqh']:.1f}x** |"))
    kb = lambda bits: f"{bits / 8 / 1024:,.1f} KiB"
    lines += ["",
              f"Sizes: dense {kb(t['bits_dense'])}, pruned {kb(t['bits_pruned'])}, "
              f"pruned + quantized {kb(t['bits_pq'])}, + Huffman {kb(t['bits_pqh'])} "
              f"(of which codebooks {kb(t['codebook_bits'])}, Huffman tables {kb(t['huffman_table_bits'])}, "
              f"biases {kb(t['bias_bits'])}). Entries: {t['entries']:,} for {t['kept']:,} kept weights "
              f"({t['padding']:,} padding entries).",
              "",
              "Bits per weight are per stored entry (padding entries included). Compression is dense "
              f"float{FLOAT_BITS} weights and biases over everything the compressed form stores "
              "(biases as float32, codebooks, Huffman tables). See docs/compress.md.",
              ""]

    lines += ["## EIE images (what the hardware stores)", "",
              f"{cfg['n_pe']} PEs, {cfg['v_bits']}-bit v + {cfg['z_bits']}-bit z entries, "
              "column pointers per PE, codebook and biases in fixed point; no Huffman coding.", "",
              "| layer | entries | padding | entries/PE max | entries/PE mean | imbalance | shift | SRAM bits | vs dense |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for l in rep["layers"]:
        e = l["eie"]
        lines.append(f"| {l['name']} | {e['entries']:,} | {e['padding_pct']:.1f} % | {e['entries_per_pe_max']:,} | "
                     f"{e['entries_per_pe_mean']:.1f} | {e['load_imbalance']:.2f} | {e['shift']} | "
                     f"{e['sram_bits']:,} | {e['ratio']:.1f}x |")
    et = rep["eie_total"]
    lines.append(f"| **total** | {et['entries']:,} | | | | | | {et['sram_bits']:,} | {et['ratio']:.1f}x |")
    lines.append("")

    lines += ["## Timings", "", "| stage | seconds |", "|---|---:|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in rep["timings"].items()]
    lines.append("")
    return "\n".join(lines)


def _json_default(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, tuple):
        return list(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def write_report(rep: dict, folder: str | Path):
    folder = Path(folder)
    atomic_write_text(folder / "report.json", json.dumps(rep, indent=1, default=_json_default) + "\n")
    atomic_write_text(folder / "report.md", render_markdown(rep))
