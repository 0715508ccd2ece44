"""Credit-based admission (hw/admission.py) in Amaranth's simulator.

The testbench plays the PEs: each has a queue of ``queue_depth`` entries that the commits
fill, pops its head at random (never when empty) and returns the credit
`eie.timing.credit_return` cycles later, as the distribution does (none: the same cycle). Checked every
cycle: no queue ever holds more than ``queue_depth`` entries (the assertion the credits
exist for), a broadcast is committed exactly when it is offered and every PE has a credit,
and ``stall`` marks the PEs without one. Replay with ``EIE_SEED=<seed>``.
"""

import os
import random
from collections import deque

import pytest
from amaranth.sim import Simulator

from eie.config import PRESETS
from eie import timing
from hw.admission import Admission

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")


@pytest.mark.parametrize("n_pe, depth", [(1, 1), (3, 2), (4, 8), (5, 3)])
def test_no_queue_overflows(n_pe, depth):
    seed = int(os.environ.get("EIE_SEED", 100 * n_pe + depth))
    print(f"seed {seed}")
    rnd = random.Random(seed)
    cfg = PRESETS["tiny"].replace(n_pe=n_pe, queue_depth=depth)
    dut = Admission(cfg)
    stats = {"commits": 0, "stalls": 0, "full": 0}

    async def bench(ctx):
        level = [0] * n_pe                                  # entries in each PE's queue
        lat = timing.credit_return(n_pe)
        returns = [deque([0] * lat) for _ in range(n_pe)]        # pops on their way back
        pop_rate = [rnd.choice([0.1, 0.5, 0.9]) for _ in range(n_pe)]
        valid = 0
        for _ in range(3000):
            valid = valid or int(rnd.random() < 0.7)         # an offer stays until committed
            pops = [int(level[k] > 0 and rnd.random() < pop_rate[k]) for k in range(n_pe)]
            for k in range(n_pe):
                returns[k].append(pops[k])
            ret = [returns[k].popleft() for k in range(n_pe)]
            ctx.set(dut.valid, valid)
            ctx.set(dut.ret, sum(bit << k for k, bit in enumerate(ret)))
            # The CCU counts as in use what is queued, and what was popped but not yet returned.
            outstanding = [level[k] + sum(returns[k]) + ret[k] - pops[k] for k in range(n_pe)]
            credit = [depth - o > 0 for o in outstanding]
            commit, stall = ctx.get(dut.commit), ctx.get(dut.stall)
            assert commit == int(valid and all(credit))
            assert stall == sum(int(valid and not c) << k for k, c in enumerate(credit))
            for k in range(n_pe):
                level[k] += commit - pops[k]
                assert level[k] <= depth, f"PE {k}'s queue overflows"
                stats["full"] += level[k] == depth
            stats["commits"] += commit
            stats["stalls"] += bool(stall)
            valid = valid and not commit
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    print(stats)
    # The run exercised full queues and stalls, not just an idle protocol.
    assert stats["commits"] > 200 and stats["stalls"] > 50 and stats["full"] > 50
