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

from .loader import ConvLayer
from .storage import FLOAT_BITS, layer_storage

__all__ = ["build_report", "render_markdown", "write_report", "ACCURACY_ROWS", "layer_label", "network_text"]

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


def layer_label(l: dict) -> str:
    """``fc1 (784x300)``, or ``conv1 (conv 20@5x5, 25x20)`` (the matrix the array holds: in x out)."""
    if l.get("kind") == "conv":
        o, _, kh, kw = l["weight_shape"]
        return f"{l['name']} (conv {o}@{kh}x{kw}, {l['shape'][1]}x{l['shape'][0]})"
    return f"{l['name']} ({l['shape'][1]}x{l['shape'][0]})"


def network_text(net: dict) -> str:
    """The ops of a network description, e.g. ``conv 20@5x5 -> maxpool 2x2/2 -> ... -> dense``."""
    parts = []
    for op in net["ops"]:
        k = "x".join(map(str, op.get("kernel", [])))
        stride = op.get("stride", [1, 1])
        extra = "" if stride == [1, 1] and op["op"] == "conv" else f"/{'x'.join(map(str, stride))}"
        pads = f" pad {','.join(map(str, op['pads']))}" if any(op.get("pads", [])) else ""
        parts.append({"conv": lambda: f"conv {op.get('out_channels')}@{k}{extra}{pads}",
                      "flatten": lambda: "flatten", "dense": lambda: "dense"}.get(
                          op["op"], lambda: f"{op['op']} {k}{extra}{pads}")())
    c, h, w = net["input_shape"]
    return f"{c}x{h}x{w} -> " + " -> ".join(parts)
def _interleaved_layer(q: fmt.QuantizedLayer, cfg) -> dict:
    """The figures of `_eie_layer` had row ``i`` stayed in PE ``i % n_pe`` (EIE's placement):
    what a balanced encoding is compared with."""
    from eie.balance import interleaved_positions, pe_entries

    entries = pe_entries(q.indices, interleaved_positions(q.out_len), cfg.n_pe, cfg.max_run).astype(np.int64)
    total = int(entries.sum())
    padding = total - int(np.count_nonzero(q.indices))
    mean = float(entries.mean())
    return {"entries": total, "padding": padding, "padding_pct": 100.0 * padding / max(total, 1),
            "entries_per_pe_max": int(entries.max()), "entries_per_pe_mean": mean,
            "load_imbalance": float(entries.max() / mean) if mean else 1.0}


def build_report(result, config_name: str = "") -> dict:
    """The report of a `CompressResult` as a JSON-ready dict."""
    from .pipeline import options_dict

    cfg = result.cfg
    layers = []
    clusters = result.options.clusters(cfg, len(result.quantized))
    for q, e, dense, k in zip(result.quantized, result.program.layers, result.dense, clusters):
        s = layer_storage(q.indices, k, q.out_len, (k + 1).bit_length() - 1)
        eie = _eie_layer(e, cfg)
        eie["ratio"] = s["bits_dense"] / eie["sram_bits"]
        if e.out_positions is not None:
            eie["interleaved"] = _interleaved_layer(q, cfg)
        layers.append({"name": q.name, "shape": [q.out_len, q.in_len], "relu": bool(q.relu),
                       "kind": "conv" if isinstance(dense, ConvLayer) else "fc",
                       "weight_shape": [int(d) for d in dense.weight.shape], **s,
                       "codebook": [float(x) for x in q.codebook], "eie": eie})
    tot = {k: sum(l[k] for l in layers) for k in (
        "weights", "kept", "entries", "padding", "huffman_v_bits", "huffman_z_bits", "huffman_table_bits",
        "codebook_bits", "bias_bits", "bits_dense", "bits_pruned", "bits_pq", "bits_pqh")}
    entries = max(tot["entries"], 1)
    tot.update({
        "kept_pct": 100.0 * tot["kept"] / tot["weights"],
        "weight_bits_pq": sum(l["weight_bits_pq"] * l["entries"] for l in layers) / entries,
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
    balanced = any(e.out_positions is not None for e in result.program.layers)
    return {
        "source": result.source,
        "mode": "one-shot" if result.options.one_shot else "full",
        "pruning": "balanced (ESE: the same count in every PE's share)" if result.options.balanced_prune
                   else "magnitude (per layer)",
        "placement": "balanced" if balanced else "interleaved",
        "format_version": 2 if balanced else 1,
        "config": {"name": config_name, "hash": cfg.hash, "description": cfg.describe(), **cfg.to_dict()},
        "data": None if data is None else {
            "name": data.name, "description": data.description, "task": TASK,
            "train": int(len(data.y_train)), "test": int(len(data.y_test)),
            "validation": int(len(data.y_val)) if data.has_validation else 0,
            "validation_source": data.validation},
        "input_shape": list(result.input_shape),
        "network": None if result.program.network is None else result.program.network.to_dict(),
        "options": options_dict(result.options),
        "densities": list(result.densities),
        "density_source": ("automatic" if result.selection is not None else
                           "paper" if result.options.densities == "paper" else
                           "default (one-shot)" if result.options.densities is None else "given"),
        "selection": result.selection,
        "accuracy": dict(result.accuracy),
        "validation_accuracy": dict(result.validation),
        "layers": layers,
        "total": tot,
        "eie_total": eie_tot,
        "timings": dict(result.timings),
        "warnings": list(result.warnings),
    }


TASK = "classification: cross-entropy loss, predicted class = argmax of the last layer's outputs"


def _pct(x):
    return "n/a" if x is None else f"{x:.2f} %"


def render_markdown(rep: dict) -> str:
    """``report.md``: the tables of `build_report`'s dict."""
    lines = ["# Deep Compression report", ""]
    cfg = rep["config"]
    d = rep["data"]
    lines += [f"- model: `{rep['source'] or 'built-in'}` (input shape {tuple(rep['input_shape'])} per sample)",
              f"- config: {cfg['name'] or '(file)'} (hash `{cfg['hash']}`): {cfg['description']}",
              f"- data: {d['description'] if d else 'none (no accuracy figures)'}",
              *([f"- task: {d['task']}",
                 f"- validation: {d['validation_source'] or 'none (not needed: densities were given)'}"] if d else []),
              f"- mode: {rep['mode']}; densities ({rep['density_source']}) "
              + ", ".join(f"{l['name']} {100 * x:.3g} %" for l, x in zip(rep["layers"], rep["densities"])),
              *([f"- conv net on the array: {network_text(rep['network'])} (each conv runs once per im2col "
                 "patch; pooling and flattening on the host)"] if rep.get("network") else []),
              f"- pruning: {rep.get('pruning', 'magnitude (per layer)')}; rows in the images: "
              f"{rep.get('placement', 'interleaved')} (image format version {rep.get('format_version', 1)})",
              ""]
    for w in rep["warnings"]:
        lines += [f"> **Warning:** {w}", ""]
    lines += _accuracy_lines(rep)
    if rep.get("selection"):
        lines += _selection_lines(rep)

    lines += ["## Compression (Deep Compression storage, like the paper's Table 2)", "",
              "| layer | weights | kept % (P) | weight bits (P+Q) | weight bits (P+Q+H) | index bits (P+Q) "
              "| index bits (P+Q+H) | compression (P) | compression (P+Q) | compression (P+Q+H) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def row(name, s):
        return (f"| {name} | {s['weights']:,} | {s['kept_pct']:.1f} % | {s['weight_bits_pq']:.0f} | "
                f"{s['weight_bits_pqh']:.2f} | {s['index_bits_pq']:.1f} | {s['index_bits_pqh']:.2f} | "
                f"{s['ratio_pruned']:.1f}x | {s['ratio_pq']:.1f}x | {s['ratio_pqh']:.1f}x |")

    for l in rep["layers"]:
        lines.append(row(layer_label(l), l))
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
    if any("interleaved" in l["eie"] for l in rep["layers"]):
        lines += ["Balanced row placement (`--balance`): each layer's rows placed to even out the PEs' "
                  "entries, padding included; the same layers with row i in PE i mod N (EIE's placement) "
                  "before the arrow.", "",
                  "| layer | entries | padding | entries/PE max | imbalance |", "|---|---:|---:|---:|---:|"]
        for l in rep["layers"]:
            e, b = l["eie"], l["eie"].get("interleaved")
            if b is None:
                continue
            lines.append(f"| {l['name']} | {b['entries']:,} -> {e['entries']:,} | {b['padding_pct']:.1f} % -> "
                         f"{e['padding_pct']:.1f} % | {b['entries_per_pe_max']:,} -> {e['entries_per_pe_max']:,} | "
                         f"{b['load_imbalance']:.3f} -> {e['load_imbalance']:.3f} |")
        lines.append("")

    lines += ["## Timings", "", "| stage | seconds |", "|---|---:|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in rep["timings"].items()]
    lines.append("")
    return "\n".join(lines)


def _accuracy_lines(rep: dict) -> list[str]:
    lines = ["## Accuracy", ""]
    d = rep["data"]
    if not d:
        return lines + ["No data given: accuracies not measured.", ""]
    lines += [f"On the test split of {d['description']}: {d['test']} samples.", "",
              "| model | accuracy | error |", "|---|---:|---:|"]
    for key, label in (ACCURACY_ROWS_ONE_SHOT if rep["mode"] == "one-shot" else ACCURACY_ROWS):
        if key in rep["accuracy"]:
            a = rep["accuracy"][key]
            lines.append(f"| {label} | {a:.2f} % | {100 - a:.2f} % |")
    acc, val = rep["accuracy"], rep.get("validation_accuracy") or {}
    lines.append("")
    if "fixed_point" in acc and "compressed_float" in acc:
        lines.append(f"Fixed point costs {acc['compressed_float'] - acc['fixed_point']:+.2f} points against the "
                     f"compressed float model; compressed fixed point vs dense: "
                     f"{acc['fixed_point'] - acc['dense']:+.2f} points.")
    if val:
        lines.append(f"Validation split ({d['validation']} samples): dense {val['dense']:.2f} %, compressed "
                     f"fixed point {val['fixed_point']:.2f} %.")
    return lines + [""]


def _selection_lines(rep: dict) -> list[str]:
    sel = rep["selection"]
    names = [l["name"] for l in rep["layers"]]
    lines = ["## Density selection (automatic)", "",
             f"Sensitivity: validation accuracy (float, no retraining) with one layer alone pruned to each "
             f"density; dense model {sel['dense_val']:.2f} %. Plot: `plots/sensitivity.png`.", "",
             "| density | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
    for i, g in enumerate(sel["grid"]):
        lines.append(f"| {100 * g:g} % | " + " | ".join(f"{sel['curves'][n][i]:.2f} %" for n in names) + " |")
    lines += ["", "Candidates run through the whole flow: a binary search over tolerances (points a layer "
              "may lose on its own curve), then each layer one density step sparser, largest first "
              f"(budget: fixed-point validation accuracy at least {sel['reference'] - sel['max_drop']:.2f} %, "
              f"{sel['max_drop']:g} points below the reference, {sel['reference_source']}: "
              f"{sel['reference']:.2f} %):", "",
              "| step | densities | kept % | validation, fixed point | within budget |",
              "|---:|---|---:|---:|---|"]
    for t in sel["trials"]:
        mark = " **(chosen)**" if t["chosen"] else ""
        lines.append(f"| {t['step']} | " + ", ".join(f"{100 * x:g} %" for x in t["densities"])
                     + f" | {t['kept_pct']:.1f} % | {t['val_fixed_point']:.2f} % | "
                     f"{'yes' if t['passed'] else 'no'}{mark} |")
    return lines + [""]


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
