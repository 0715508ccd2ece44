"""RUN from a given layer-table entry (protocol version 2) in Amaranth's simulator: the first
layer run reads act file 0, the counters of entries the RUN left out read 0, and a RUN past the
table is refused with nothing changed."""

import numpy as np

from eie import format as fmt
from eie.config import PRESETS
from eie.cycle_model import layer_timing
from eie.golden import GoldenModel
from host import protocol as proto
from host.protocol import Status

from array_sim import layer, simulate

TINY = PRESETS["tiny"]


def test_run_from_a_later_layer():
    seed = 12
    print("seed", seed)
    rng = np.random.default_rng(seed)
    cfg = TINY
    layers = [layer(rng, cfg, 20, 12, 0.4, "l0"), layer(rng, cfg, 14, 20, 0.4, "l1"),
              layer(rng, cfg, 9, 14, 0.5, "l2", relu=False)]
    program = fmt.encode_network(layers, cfg)
    golden = GoldenModel(program)
    x0 = np.where(rng.random(12) < 0.7, rng.integers(-500, 500, 12), 0)
    x1 = np.where(rng.random(20) < 0.6, rng.integers(-500, 500, 20), 0)   # layer 1's input
    h = golden.layers[1].forward(x1[None], cfg)[0]
    want = golden.layers[2].forward(h[None], cfg)[0]
    t1, t2 = layer_timing(cfg, program.layers[1], x1), layer_timing(cfg, program.layers[2], h)

    async def body(drv):
        await drv.load(program)
        await drv.write_input(x0)
        assert await drv.run(1) == layer_timing(cfg, program.layers[0], x0).cycles
        # Entries 1 and 2 alone: layer 1 reads act file 0 (the input), layer 2 writes act file 0.
        await drv.write_input(x1)
        cycles = await drv.run(2, first=1)
        np.testing.assert_array_equal(await drv.read_output(9), want)
        np.testing.assert_array_equal(await drv.read_act_file(1, 14), h)
        st = await drv.status()
        assert (st.out_sel, st.last_layers) == (0, 2)
        c = await drv.counters()
        # Entry 0 ran in the RUN before: it reports 0 now.
        assert c.layer_cycles[:3] == [0, t1.cycles, t2.cycles] and c.layer_cycles[3:] == [0] * (cfg.max_layers - 3)
        assert cycles == c.run_cycles == t1.cycles + t2.cycles
        assert c.broadcasts == t1.broadcasts + t2.broadcasts
        assert c.busy == list(t1.busy + t2.busy) and c.stall == list(t1.stall + t2.stall)
        # The last entry alone.
        await drv.write_input(h)
        assert await drv.run(1, first=2) == t2.cycles
        np.testing.assert_array_equal(await drv.read_output(9), want)
        # Past the table: refused, nothing changes.
        for n, first in ((1, cfg.max_layers), (2, cfg.max_layers - 1), (cfg.max_layers, 1), (0, 1)):
            cmd = proto.cmd_run(n, first)
            assert proto.expected_status(cfg, cmd) == Status.ERR_VALUE
            r = await drv.command(cmd)
            assert (r.status, r.body) == (Status.ERR_VALUE, b"")
        st = await drv.status()
        assert (st.out_sel, st.last_layers) == (1, 1)
        np.testing.assert_array_equal(await drv.read_output(9), want)

    simulate(cfg, body)
