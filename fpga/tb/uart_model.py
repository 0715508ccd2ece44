"""The serial line in Amaranth's simulator, modelled in Python independently of the RTL.

`send_line` bit-bangs 8N1 frames onto a signal with its own bit period (fractional, so a
sender a few percent off the receiver's baud rate is modelled exactly) and optional idle
gaps; `LineMonitor` decodes frames from a signal and checks that every bit lasts exactly
``divisor`` cycles (a transmitter must be exact, not merely decodable);
`run_with_line_monitor` runs a testbench with a monitor on a design's ``tx`` pin.
"""

__all__ = ["frame", "send_line", "LineMonitor", "run_with_line_monitor"]

from amaranth.sim import Simulator


def frame(byte: int, stop: int = 1) -> list[int]:
    return [0] + [(byte >> i) & 1 for i in range(8)] + [stop]


async def send_line(ctx, line, bits, period: float, gap_bits=lambda: 0.0):
    """Drive ``line`` with frames of ``bits`` (lists of levels), ``period`` cycles a bit.

    The time base is fractional so a sender a few percent off the receiver's baud rate
    is modelled exactly; ``gap_bits()`` gives idle time before each frame.
    """
    t = 0.0
    now = 0
    for levels in bits:
        t += gap_bits() * period
        for level in levels:
            while now < round(t):
                await ctx.tick()
                now += 1
            ctx.set(line, level)
            t += period
    while now < round(t) + 2 * period:
        await ctx.tick()
        now += 1
    ctx.set(line, 1)


class LineMonitor:
    """Decodes 8N1 frames from a line at exactly ``divisor`` cycles per bit, checking every
    bit's length: the transmitter's timing must be exact, not merely decodable."""

    def __init__(self, divisor):
        self.divisor = divisor
        self.bytes = []
        self.frame_starts = []

    async def run(self, ctx, line):
        div = self.divisor
        cycle = 0
        while True:
            # wait for a start bit
            while ctx.get(line) == 1:
                await ctx.tick()
                cycle += 1
            start = cycle
            levels = []
            for bit in range(10):
                samples = []
                for _ in range(div):
                    samples.append(ctx.get(line))
                    await ctx.tick()
                    cycle += 1
                assert len(set(samples)) == 1, f"bit {bit} of frame at cycle {start} is not steady: {samples}"
                levels.append(samples[0])
            assert levels[0] == 0 and levels[9] == 1, f"bad frame {levels} at cycle {start}"
            self.bytes.append(sum(b << i for i, b in enumerate(levels[1:9])))
            self.frame_starts.append(start)


def run_with_line_monitor(dut, testbench, mon: LineMonitor, processes=()):
    """Simulate ``dut`` at 1 MHz: ``testbench`` (and ``processes``) with ``mon`` decoding
    ``dut.tx`` in the background."""
    async def line(ctx):
        await mon.run(ctx, dut.tx)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for process in processes:
        sim.add_process(process)
    sim.add_testbench(testbench)
    sim.add_testbench(line, background=True)
    sim.run()
