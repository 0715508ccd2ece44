"""The testbench's conv-net case: the host runs each image's plan on the RTL, every RUN checked.

`run_images` is what `sim.tb.test_top.run_case` does for an image folder holding a network
(`eie.network`): for every image, `host.convnet.infer_network` sends each im2col patch (and
the dense chain) as its own RUN, and the scoreboard gets

* every RUN's outputs against the golden model's (`eie.convnet.image_runs`), and its input,
  which the host built from the RTL's earlier outputs, against the golden model's;
* every RUN's cycles (the RUN reply) against the cycle model, summed over its layers;
* the image's outputs; after the image, the counters of its last RUN (the dense chain from
  layer ``first``): ``layer_cycles`` of exactly its entries, ``run_cycles``, broadcasts,
  busy and stall.

Each image's total device cycles (host traffic included) are measured with the simulation's
cycle count, next to the sum of its RUNs' cycles: ``result["network"]``.
"""

from __future__ import annotations

import numpy as np

from eie.convnet import as_images, image_runs
from eie.cycle_model import layer_timing
from host.convnet import infer_network

__all__ = ["run_images"]


async def run_images(tb, program, golden, x_all, sb, result) -> list[np.ndarray]:
    """Run every image of ``x_all`` through the RTL; return the RTL's outputs per image."""
    cfg, layers = program.cfg, program.layers
    drv = tb.driver
    outputs, per_image = [], []
    x_all, _ = as_images(x_all, program.network, cfg)     # (batch, C, H, W) from any accepted form
    want_all = golden.run(x_all)
    for v, img in enumerate(x_all):
        runs = image_runs(golden, img)
        timing = [[layer_timing(cfg, layers[l], a) for l, a in zip(range(r.first, r.first + r.n_layers), r.inputs)]
                  for r in runs]
        model = [sum(t.cycles for t in ts) for ts in timing]
        tb.transport.timeout_cycles = 100_000 + 20 * max(model)
        for i, r in enumerate(runs):
            sb.expect(f"i{v}/run{i}", r.output)
        steps: dict[int, dict] = {}

        def check(i, run, runs=runs, model=model, timing=timing, steps=steps, v=v):
            exp = runs[i]
            sb.observe(f"i{v}/run{i}", run.output)
            sb.check((run.step, run.first, run.n_layers) == (exp.step, exp.first, exp.n_layers),
                     f"image {v} RUN {i}: layers {run.first}+{run.n_layers} where {exp.first}+{exp.n_layers} "
                     "were expected")
            sb.check(np.array_equal(run.input, exp.inputs[0]), f"image {v} RUN {i}: the host's input vector "
                     "differs from the golden model's")
            sb.check(run.cycles == model[i], f"image {v} RUN {i} (layer {run.first}): RTL {run.cycles} cycles, "
                     f"cycle model {model[i]}", "timing")
            row = steps.setdefault(run.step, {"vector": v, "layer": "+".join(
                layers[l].name for l in range(run.first, run.first + run.n_layers)), "rtl": 0, "model": 0,
                "bound": 0, "runs": 0, "nnz_in": 0})
            row["rtl"] += run.cycles
            row["model"] += model[i]
            row["bound"] += sum(t.bound for t in timing[i])
            row["nnz_in"] += int(np.count_nonzero(run.input))
            row["runs"] += 1

        c0 = tb.cycle
        y = await infer_network(drv, program, img, on_run=check)
        total = tb.cycle - c0
        outputs.append(np.asarray(y, np.int64))
        sb.expect(f"i{v}/out", want_all[v])
        sb.observe(f"i{v}/out", y)
        last, ts = runs[-1], timing[-1]
        ctr = await drv.counters()
        ran = range(last.first, last.first + last.n_layers)
        lc = [int(c) for c in ctr.layer_cycles]
        sb.check([lc[l] for l in ran] == [t.cycles for t in ts],
                 f"image {v}: layer cycles {[lc[l] for l in ran]} of entries {list(ran)}, model {[t.cycles for t in ts]}",
                 "timing")
        sb.check(all(c == 0 for l, c in enumerate(lc) if l not in ran),
                 f"image {v}: layer cycles of entries the last RUN did not run are not 0: {lc}")
        sb.check(int(ctr.run_cycles) == sum(lc[l] for l in ran) and int(ctr.broadcasts) == sum(t.broadcasts for t in ts)
                 and list(ctr.busy) == list(sum(t.busy for t in ts)),
                 f"image {v}: run_cycles {ctr.run_cycles}, broadcasts {ctr.broadcasts} or busy counters of the "
                 "last RUN differ")
        sb.check(list(ctr.stall) == list(sum(t.stall for t in ts)),
                 f"image {v}: stall counters of the last RUN differ from the cycle model", "timing")
        result["layers"] += [steps[k] for k in sorted(steps)]
        per_image.append({"cycles": int(total), "run_cycles": int(sum(s["rtl"] for s in steps.values())),
                          "runs": len(runs)})
        result["vectors"] = v + 1
    n = max(1, len(per_image))
    result["network"] = {
        "images": len(per_image), "runs": sum(p["runs"] for p in per_image),
        "cycles_per_image": sum(p["cycles"] for p in per_image) / n,
        "run_cycles_per_image": sum(p["run_cycles"] for p in per_image) / n,
        "per_image": per_image,
    }
    return outputs
