"""Conv nets in the RTL regression: LeNet-5 and a small CNN from PyTorch, image by image.

`cnn_cases` adds, for each config, the compressed LeNet-5 (`compress.demo.run_lenet5`, the
paper's densities) and the small CNN a user would bring (`compress.cnn_example`: plain
PyTorch, exported to ONNX, compressed with its own data and automatic densities), each
classifying the first ``images`` MNIST test images through the RTL in two parts (one clean,
one with random idle cycles and backpressure on the host streams). The testbench runs each
image as the host does (`sim.tb.network_case`: one RUN per im2col patch) and checks every RUN
bit for bit and cycle for cycle. The compressed models are made once into
``build/cnn/<net>/<config>/`` and reused (a few minutes each on two cores); images made for
a config that differs from the wanted one only in fields that change neither the compressor's
result nor the memories (`REWRITABLE`: the queue depth, the host port's width) are written again
for it (`rewrite_images`, every memory image checked identical) instead of compressed again.

`cnn_summary` gives, per network and config, the RTL's own accuracy on those images, the
device cycles per image (clean parts: the host link busy all the time) and how much of them
is host traffic (everything but the RUNs' own cycles).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .cases import Case

__all__ = ["CNN_NETS", "REWRITABLE", "rewrite_images", "cnn_images", "cnn_cases", "cnn_summary"]

CNN_NETS = ("lenet5", "small_cnn")
STRESS = (0.3, 0.3)
# Config fields the compressor and the memory images do not depend on (the array's queue, the
# host link): a compressed model made for one config holds for another that differs in these.
REWRITABLE = ("queue_depth", "host_bits")


def rewrite_images(folder: Path, cfg) -> str | None:
    """Write the image folder ``folder`` again for ``cfg`` when its config differs from ``cfg``
    only in `REWRITABLE` fields; return the old config's hash, or None (nothing written) when
    it can't (unreadable, other fields differ, or a memory image would change)."""
    import dataclasses
    import shutil

    from eie import format as fmt
    from eie.images import ImageError, read_images, write_images

    try:
        old = read_images(folder)
    except ImageError:
        return None
    a, b = dataclasses.asdict(old.cfg), dataclasses.asdict(cfg)
    if a == b or any(a.get(k) != b.get(k) for k in a.keys() | b.keys() if k not in REWRITABLE):
        return None
    p = old.program()
    tmp = folder.with_name(folder.name + ".rewrite")
    shutil.rmtree(tmp, ignore_errors=True)
    write_images(fmt.Program(cfg=cfg, layers=p.layers, network=p.network), tmp, extra=old.manifest.get("extra"))
    new = read_images(tmp, cfg)
    if new.manifest["images"] != old.manifest["images"] or new.manifest.get("network") != old.manifest.get("network"):
        shutil.rmtree(tmp)
        return None
    shutil.rmtree(folder)
    tmp.rename(folder)
    return old.cfg.hash


def _make(net: str, config: str, folder: Path):
    if net == "lenet5":
        from compress.demo import run_lenet5

        run_lenet5(folder / "out", config, progress=False, log=lambda *a: None)
        return
    from compress.api import compress
    from compress.cnn_example import write_example
    from compress.datafile import load_data_file

    onnx_path, data_path, _ = write_example(folder / "model")
    a = load_data_file(data_path)
    compress(onnx_path, train=(a["x_train"], a["y_train"]), test=(a["x_test"], a["y_test"]),
             val=(a["x_val"], a["y_val"]), config=config, out=folder / "out", progress=False)


def cnn_images(net: str, config: str, log=print) -> Path:
    """Image folder of the compressed ``net`` (`CNN_NETS`) for ``config``, made once and cached."""
    from eie.config import get_config
    from eie.images import ImageError, read_images

    from .runner import BUILD_ROOT, _locked

    if net not in CNN_NETS:
        raise ValueError(f"unknown conv net {net!r}: one of {', '.join(CNN_NETS)}")
    cfg = get_config(config)
    folder = BUILD_ROOT / "cnn" / net / config
    images = folder / "out" / "images"
    try:
        read_images(images, cfg)
        return images
    except ImageError:
        pass
    with _locked(BUILD_ROOT / "locks" / f"cnn-{net}-{config}.lock"):
        try:
            read_images(images, cfg)           # made by another process meanwhile
            return images
        except ImageError:
            pass
        was = rewrite_images(images, cfg)
        if was is not None:
            log(f"regression: {net} images for config {config} ({cfg.hash}) written again from those made for "
                f"{was} (they differ only in {', '.join(REWRITABLE)}); the compressed model is unchanged")
            return images
        log(f"regression: compressing {net} for config {config} into {folder} (once; cached)")
        _make(net, config, folder)
    return images


def cnn_cases(out: Path, configs: str = "eie", nets=CNN_NETS, images: int = 20, parts: int = 2) -> list[Case]:
    """The first ``images`` MNIST test images through each conv net on each config, in ``parts``
    cases (even parts clean, odd parts stressed), images loaded through the protocol."""
    from compress.data import load_dataset
    from eie import numerics
    from eie.config import get_config
    from eie.images import read_images

    data = load_dataset("mnist")
    out = Path(out).resolve()
    cases = []
    for config in configs.split(","):
        cfg = get_config(config)
        for net in nets:
            folder = cnn_images(net, config)
            imgs = read_images(folder, cfg)
            x = numerics.act_from_float(data.x_test[:images], cfg).reshape((-1,) + imgs.network.input_shape)
            y = data.y_test[:images]
            d = out / config / net
            d.mkdir(parents=True, exist_ok=True)
            for p, idx in enumerate(np.array_split(np.arange(len(x)), parts)):
                np.save(d / f"part{p:02d}.npy", x[idx])
                np.save(d / f"labels{p:02d}.npy", y[idx])
                stressed = p % 2 == 1
                cases.append(Case(
                    name=f"cnn/{net}/{config}/part{p:02d}", cfg=cfg, kind="images",
                    shape=list(imgs.network.input_shape) + [imgs.layers[-1]["out_len"]],
                    input_density=float(np.mean(x[idx] != 0)), n_vectors=len(idx), seed=2000 + p,
                    load="protocol", idle=STRESS[0] if stressed else 0.0, backpressure=STRESS[1] if stressed else 0.0,
                    images=str(folder), inputs=str(d / f"part{p:02d}.npy"),
                    tags={"cnn": f"{net}/{config}", "labels": str(d / f"labels{p:02d}.npy"),
                          "save_outputs": str(d / f"rtl_out{p:02d}.npy")}))
    return cases


def cnn_summary(results: list[dict]) -> dict:
    """Per ``net/config``: images, parts bit-exact, the RTL's accuracy, RUNs and cycles per image."""
    out = {}
    for r in results:
        tags = r.get("tags") or {}
        if "cnn" not in tags:
            continue
        a = out.setdefault(tags["cnn"], {"images": 0, "correct": 0, "parts": 0, "parts_passed": 0, "runs": 0,
                                         "clean_images": 0, "clean_cycles": 0, "clean_run_cycles": 0})
        a["parts"] += 1
        a["parts_passed"] += r["status"] == "pass"
        path = Path(tags["save_outputs"])
        if path.exists():
            y = np.load(path)
            labels = np.load(tags["labels"])
            a["images"] += len(labels)
            a["correct"] += int(np.sum(np.argmax(y.reshape(len(y), -1), axis=1) == labels))
        net = r.get("network")
        if net:
            a["runs"] += net["runs"]
            if not (r["idle"] or r["backpressure"]):
                a["clean_images"] += net["images"]
                a["clean_cycles"] += sum(p["cycles"] for p in net["per_image"])
                a["clean_run_cycles"] += sum(p["run_cycles"] for p in net["per_image"])
    for a in out.values():
        a["accuracy_pct"] = 100.0 * a["correct"] / a["images"] if a["images"] else None
        n = a["clean_images"]
        a["cycles_per_image"] = a["clean_cycles"] / n if n else None
        a["array_cycles_per_image"] = a["clean_run_cycles"] / n if n else None
        a["host_share"] = 1 - a["clean_run_cycles"] / a["clean_cycles"] if a["clean_cycles"] else None
    return out
