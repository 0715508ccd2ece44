"""Formal proofs of the array with SymbiYosys (``yowasp-sby``, smtbmc engine, Yices).

The designs under test come from ``hw/`` through Amaranth's RTLIL back end; the
properties are Amaranth ``Assert``/``Assume`` statements in small harness Components
(`sim.formal.harness`), which reach the few internal signals they need (an activation
queue's write port, the accumulator's write port) through `sim.formal.expose`. `sim.formal.jobs`
lists the proofs (property x config x mode x depth), `sim.formal.sby` runs one job, and
``python -m sim.formal`` runs them all and writes JSON + Markdown (``make formal``).
"""
