"""The regression's Dask engine (`sim.engine`): a real `distributed.LocalCluster` with two
worker processes, reached through its address as `eie regression --scheduler ADDRESS` does;
case batches of the ``tiny`` preset run on the workers and are checked bit for bit and cycle
for cycle by the testbench, and a broken case must come back as a failure. Prints its seed;
replay with ``EIE_SEED=<seed>``."""

import os

import pytest

from eie.config import PRESETS
from sim import runner
from sim.cases import Case

REASON = runner.verilator_missing()
pytestmark = [pytest.mark.verilator, pytest.mark.skipif(REASON is not None, reason=REASON or "")]
distributed = pytest.importorskip("distributed")


def test_cases_run_on_a_local_cluster_of_two_workers(tmp_path):
    from sim import regression
    from sim.engine import make_engine

    seed = int(os.environ.get("EIE_SEED", 7))
    print(f"seed={seed} (replay: EIE_SEED={seed} pytest tests/test_sim_dask.py)")
    tiny = PRESETS["tiny"]
    cases = [Case(name=f"dask/{i}", cfg=tiny, shape=[9 + i, 7 + 2 * i], seed=seed + i,
                  weight_density=0.3, input_density=0.6,
                  idle=0.3 if i % 2 else 0.0, backpressure=0.3 if i % 2 else 0.0) for i in range(4)]
    # A case whose images do not exist: the failure must come back through the cluster.
    cases.append(Case(name="dask/broken", cfg=tiny, kind="images", shape=[9, 7], seed=seed,
                      images=str(tmp_path / "no-such-images"), inputs=str(tmp_path / "none.npy")))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        engine = make_engine(cluster.scheduler_address, jobs=2)
        try:
            assert engine.workers() == 2
            res = regression.run_cases(cases, tmp_path / "out", max_batch=2, progress=False, engine=engine)
        finally:
            engine.close()
    by_name = {r["name"]: r for r in res}
    for i in range(4):
        r = by_name[f"dask/{i}"]
        print(r["name"], r["status"], r.get("worker"), r["values_checked"], [l["rtl"] for l in r["layers"]])
        assert r["status"] == "pass", r.get("error")
        assert r["values_checked"] == 2 * (7 + 2 * i) and r["layers"][0]["rtl"] == r["layers"][0]["model"]
    assert by_name["dask/broken"]["status"] != "pass"
    # The batches ran in the workers' processes, not in this one.
    workers = {r["worker"] for r in res}
    assert workers and all(not w.endswith(f":{os.getpid()}") for w in workers), workers
    assert (tmp_path / "out" / "results.jsonl").read_text().count("\n") == 5
