"""Property harnesses: Components that hold a design under test and Amaranth assertions.

Each harness is the top of one proof. Its input ports are free in every step (the solver
picks them), so a property proved here holds for any host behaviour the assumptions allow;
the design's registers start from their reset values, its memories (no initial contents,
`hw.netlist`) from anything, and ``rst`` may rise in any step.

* `DesignHarness` wraps a design converted by `sim.formal.expose` (flattened, with some
  internal wires as ports) as an `Instance`, and checks the property groups asked for:

  - ``streams``: ``host_tx`` (the design produces it): while ``valid`` is high and ``ready``
    low, next cycle ``valid`` stays high and ``payload`` is unchanged. ``host_rx``: the
    environment is *assumed* to keep to the same rule. (That ``valid`` does not depend on
    ``ready`` combinationally is a property of the netlist's structure: `sim.formal.structural`.)
  - ``rx_body``: from a command's first byte to its last (a reference framer in the harness
    follows the bytes taken: op, len, ``len`` body bytes), ``host_rx.ready`` is never low for
    more than `RX_GAP` cycles in a row: the three cycles after the arguments in which the
    command is validated (docs/protocol.md). Bounded proofs only: the framer's state is not
    related to the engine's by anything k-induction could find.
  - ``queue``: no PE's activation queue is written while full (``w_en`` implies ``w_rdy``)
    and its level never exceeds its depth: stated on the queue's own write port, so it
    holds whatever scheme admits broadcasts into it. With it, the invariant of the credit
    admission (`hw.admission`) that lets k-induction prove it: per PE, the CCU's entries in
    use (``used = depth - credits``) equal the broadcasts committed but not yet written
    (the ``bcast_we`` registers of the forward tree feeding the PE, `hw.distribute`), plus
    the queue's level, plus the pops on their way back (the ``pop`` return registers): so
    credits + in flight + level + returning = depth. And while the PE's delayed reset
    (the ``rst`` tree's registers) is on its way, its queue is empty and no broadcast is in
    the tree from that register's level on (the reset cleared them), so the reset the PE
    sees late drops nothing the count holds. Neither names the depth: a wrong depth in the
    harness fails only the level check. (`credit_wires`: the wires; compact build: no tree
    or return registers, ``used`` = level.)
  - ``acc``: every accumulator write of stage A stores exactly the saturated sum: the
    previous value (stored, forwarded or the lazy bias) plus the product, computed exactly
    and clamped to the accumulator range, so no sum ever wraps.

* The scanner's lane selection has its own harnesses: `sim.formal.scan`.
"""

from __future__ import annotations

import re

from amaranth.hdl import Cat, ClockSignal, Instance, Module, Mux, ResetSignal, Signal, signed
from amaranth.hdl import Assert, Assume, Cover
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from eie.config import EIEConfig
from eie import timing
from hw.distribute import forward_words, tree_copies

__all__ = ["queue_wires", "credit_wires", "acc_prefixes", "acc_wires", "port_widths", "DesignHarness", "GROUPS"]

GROUPS = ("streams", "rx_body", "queue", "acc")


def queue_wires(cfg: EIEConfig) -> list[str]:
    """The activation queues' write ports and levels, every PE, and the credit admission's
    wires their invariant needs (`credit_wires`)."""
    credit = {w for k in range(cfg.n_pe) for ws in credit_wires(cfg, k).values() for w, _ in ws}
    return [f"pe{k}.queue.{w}" for k in range(cfg.n_pe) for w in QUEUE_WIRES] + sorted(credit)


def _tree_chain(n_pe: int, k: int) -> list[int]:
    """The copy index, per level of a forward tree (`hw.distribute.Distributor._tree`;
    `hw.distribute.tree_copies`), of the register on the way to PE ``k``, from the CCU's side."""
    copies = tree_copies(n_pe)
    if not copies:
        return []
    chain = [k // -(-n_pe // copies[-1])]
    for j in range(len(copies) - 1, 0, -1):
        chain.insert(0, chain[0] * copies[j - 1] // copies[j])
    return chain


def _word_bit(cfg: EIEConfig, path: tuple) -> tuple[str, int]:
    """The forward-tree word (`hw.distribute.forward_words`) holding member ``path``, and
    the member's first bit in it."""
    for name, _, group in forward_words(cfg):
        pos = 0
        for p, width in group:
            if p == path:
                return name, pos
            pos += width
    raise KeyError(path)


def credit_wires(cfg: EIEConfig, k: int) -> dict[str, list[tuple[str, int]]]:
    """PE ``k``'s credit bookkeeping in the flattened array, as (wire, bit) pairs: ``used``
    (the CCU's entries in use, `hw.admission`; bit -1: the whole wire), ``fwd`` (the forward
    tree's ``bcast_we`` registers towards the PE, level by level: a bit of the ``ctl`` word),
    ``rst`` (the reset tree's registers, the same levels), ``ret`` (the ``pop`` return
    registers, `eie.timing.return_stages`: bit k of an N-bit register per stage)."""
    dist = "ccu.distribute."
    word, bit = _word_bit(cfg, ("bcast_we",))
    return {
        "used": [(f"ccu.sequencer.admission.used{k}", -1)],
        "fwd": [(f"{dist}dup_{word}_{j}_{c}", bit) for j, c in enumerate(_tree_chain(cfg.n_pe, k))],
        "rst": [(f"{dist}dup_rst_{j}_{c}", 0) for j, c in enumerate(_tree_chain(cfg.n_pe, k))],
        "ret": [(f"{dist}ret_pop_{s}", k) for s in range(timing.return_stages(cfg.n_pe))],
    }


def acc_prefixes(cfg: EIEConfig) -> list[str]:
    """Where the arithmetic units sit in the flattened array."""
    return [f"pe{k}.arith." for k in range(cfg.n_pe)]


def acc_wires(prefixes: list[str]) -> list[str]:
    """The accumulator memory's write port and the two operands of its sum, per prefix
    (``[""]`` for an `hw.arith.ArithmeticUnit` on its own)."""
    return [p + w for p in prefixes for w in ACC_WIRES]


QUEUE_WIRES = ("w_en", "w_rdy", "level")
RX_GAP = 3          # cycles host_rx.ready may be low inside a command (ARGS done, VALIDATE, CHECK)
ACC_WIRES = ("acc_w__en", "acc_w__data", "base", "a_prod")


_PORT = re.compile(r"^\s*wire (?:width (\d+) )?(?:signed )?(input|output) \d+ (?:signed )?\\(\S+)$", re.M)


def port_widths(rtlil_text: str) -> dict[str, tuple[str, int]]:
    """``{port: (direction, width)}`` of the (single) module in ``rtlil_text``."""
    return {m.group(3): (m.group(2), int(m.group(1) or 1)) for m in _PORT.finditer(rtlil_text)}


class DesignHarness(wiring.Component):
    """A flattened design (module ``module``, ports in ``rtlil_text``) and property groups.

    Parameters
    ----------
    cfg : EIEConfig
        The design's config (widths, depths, PE count).
    dut : wiring.Signature
        The signature of the design the netlist was made from: it gives the harness's free
        inputs (``dut.<member>``).
    module, rtlil_text :
        Name and text of the exposed netlist (`sim.formal.expose.exposed_rtlil`).
    exposed : list of str
        The internal wires the netlist shows as ports (`queue_wires`, `acc_wires`).
    groups : iterable of str
        Which of `GROUPS` to check.
    acc : list of str
        Prefixes of the accumulator wires (`acc_prefixes`; ``[""]`` for one arithmetic unit).
    covers : bool
        Add ``Cover`` statements (a queue write, a full queue, an accumulator write, a reply
        byte held by backpressure) for a cover job: the bounded proofs reach compute.
    """

    def __init__(self, cfg: EIEConfig, dut: wiring.Signature, module: str, rtlil_text: str,
                 exposed=(), groups=GROUPS, acc=(), covers: bool = False):
        self._cfg, self._module = cfg, module
        self._ports = port_widths(rtlil_text)
        self._dut_sig = dut
        self._groups = tuple(groups)
        unknown = set(self._groups) - set(GROUPS)
        if unknown:
            raise ValueError(f"unknown property group(s) {sorted(unknown)}; known: {', '.join(GROUPS)}")
        self._exposed = list(exposed)
        missing = [w for w in self._exposed if w not in self._ports]
        if missing:
            raise ValueError(f"not ports of {module}: {', '.join(missing)}")
        self._acc_prefixes = list(acc)
        self._covers = covers
        super().__init__({"dut": Out(dut)})

    def _wire(self, name: str) -> Signal:
        _, width = self._ports[name]
        return Signal(width, name=name.replace(".", "_"))

    def elaborate(self, platform):
        m = Module()
        ports = {"i_clk": ClockSignal(), "i_rst": ResetSignal()}
        for path, member, value in self._dut_sig.flatten(self.dut):
            prefix = "i_" if member.flow == In else "o_"
            ports[prefix + "__".join(str(p) for p in path)] = value
        wires = {}
        for name in self._exposed:
            wires[name] = self._wire(name)
            ports["o_" + name] = wires[name]
        m.submodules.dut = Instance(self._module, **ports)

        # Registers of the previous step; reset_less, so a reset cannot hide what it saw.
        started = Signal(reset_less=True)
        past_rst = Signal(reset_less=True)
        m.d.sync += [started.eq(1), past_rst.eq(ResetSignal())]
        self._checked = Signal()
        m.d.comb += self._checked.eq(started & ~past_rst)
        if "streams" in self._groups:
            self._streams(m)
        if "rx_body" in self._groups:
            self._rx_body(m)
        if "queue" in self._groups:
            self._queue(m, wires)
        if "acc" in self._groups:
            self._acc(m, wires)
        return m

    def _held(self, m, valid, ready, payload):
        """(last step: valid & ~ready, last step's payload) as registers."""
        waited = Signal(reset_less=True)
        last = Signal.like(payload, reset_less=True)
        m.d.sync += [waited.eq(valid & ~ready), last.eq(payload)]
        return waited, last

    def _streams(self, m):
        rx, tx = self.dut.host_rx, self.dut.host_tx
        # host_rx: the environment keeps an offered byte offered, unchanged, until taken.
        waited, last = self._held(m, rx.valid, rx.ready, rx.payload)
        m.d.comb += Assume(~(self._checked & waited) | (rx.valid & (rx.payload == last)))
        # host_tx: the design must do the same.
        waited, last = self._held(m, tx.valid, tx.ready, tx.payload)
        m.d.comb += Assert(~(self._checked & waited) | tx.valid, "host_tx.valid dropped while waiting")
        m.d.comb += Assert(~(self._checked & waited) | (tx.payload == last),
                           "host_tx.payload changed while valid waited")
        if self._covers:
            m.d.comb += Cover(self._checked & waited & tx.valid, "a reply byte held by backpressure")

    def _rx_body(self, m):
        rx = self.dut.host_rx
        # Reference framer over the bytes taken: 0 between frames, 1/2 after op/len lo, 3 in
        # the body (``left`` bytes to go). Reset with the design.
        phase, left, len_lo = Signal(2), Signal(16), Signal(8)
        take = rx.valid & rx.ready
        with m.If(take):
            with m.Switch(phase):
                with m.Case(0):
                    with m.If(rx.payload != 0):
                        m.d.sync += phase.eq(1)
                with m.Case(1):
                    m.d.sync += [len_lo.eq(rx.payload), phase.eq(2)]
                with m.Case(2):
                    m.d.sync += [left.eq(Cat(len_lo, rx.payload)), phase.eq(Mux(Cat(len_lo, rx.payload) == 0, 0, 3))]
                with m.Case(3):
                    m.d.sync += left.eq(left - 1)
                    with m.If(left == 1):
                        m.d.sync += phase.eq(0)
        low = Signal(range(RX_GAP + 2))
        with m.If((phase != 0) & ~rx.ready):
            m.d.sync += low.eq(Mux(low == RX_GAP + 1, low, low + 1))
        with m.Else():
            m.d.sync += low.eq(0)
        m.d.comb += Assert(low <= RX_GAP, f"host_rx.ready low for more than {RX_GAP} cycles inside a command")
        if self._covers:
            m.d.comb += Cover((phase == 3) & (low == RX_GAP), "a command body waiting out its validation")

    def _queue(self, m, wires):
        cfg = self._cfg
        any_write, any_full = [], []
        for k in range(cfg.n_pe):
            w_en, w_rdy, level = (wires[f"pe{k}.queue.{w}"] for w in ("w_en", "w_rdy", "level"))
            m.d.comb += Assert(~w_en | w_rdy, f"pe{k}: activation queue written while full")
            m.d.comb += Assert(level <= cfg.queue_depth, f"pe{k}: queue level above its depth")
            self._credits(m, wires, k, level)
            any_write.append(w_en)
            any_full.append(~w_rdy)
        if self._covers:
            m.d.comb += [Cover(Cat(*any_write).any(), "a broadcast written into a queue"),
                         Cover(Cat(*any_full).any(), "a full activation queue")]

    def _credits(self, m, wires, k, level):
        """The credit invariant of PE ``k`` (the ``queue`` group's docstring above)."""
        names = credit_wires(self._cfg, k)
        used = wires[names["used"][0][0]]
        fwd, rst, ret = ([wires[w][b] for w, b in names[key]] for key in ("fwd", "rst", "ret"))
        held = Signal(range(len(fwd) + len(ret) + 2 ** len(level) + 2 ** len(used)), name=f"pe{k}_held")
        m.d.comb += held.eq(sum(fwd, 0) + level + sum(ret, 0))
        m.d.comb += Assert(used == held, f"pe{k}: credits + broadcasts in flight + queue level + "
                                         "credits returning != queue depth")
        for j, r in enumerate(rst):
            clear = (level == 0) & ~Cat(*fwd[j:]).any()
            m.d.comb += Assert(~r | clear, f"pe{k}: a broadcast or queue entry while the PE's reset "
                                           f"is in the tree (level {j})")

    def _acc(self, m, wires):
        cfg = self._cfg
        A = cfg.acc_bits
        if not self._acc_prefixes:
            raise ValueError("the acc group needs the accumulator wires exposed (acc_prefixes, acc_wires)")
        writes = []
        for p in self._acc_prefixes:
            en, wdata, base, prod = (wires[p + w] for w in ACC_WIRES)
            # The exact sum (one bit wider than either operand needs) clamped to the range.
            exact = Signal(signed(max(len(base), len(prod)) + 2))
            m.d.comb += exact.eq(base.as_signed() + prod.as_signed())
            clamped = Mux(exact > cfg.acc_max, cfg.acc_max, Mux(exact < cfg.acc_min, cfg.acc_min, exact))
            stage_a = en & wdata[A]           # the touched bit: a sum, not a clear
            label = p.rstrip(".") or "arith"
            m.d.comb += Assert(~stage_a | (wdata[:A].as_signed() == clamped),
                               f"{label}: accumulator stored something else than the saturated sum")
            writes.append(stage_a & (exact != clamped))
        if self._covers:
            m.d.comb += Cover(Cat(*writes).any(), "an accumulator write that saturates")

