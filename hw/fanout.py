"""The fan-out between the CCU and the PEs: one `hw.layouts.ArrayLink` to N `PELink`s.

The CCU drives the array as a whole (`ArrayLink`: every shared signal once); each PE has
its own `PELink`. `fan_out` is the one place the two meet: every `PECompute` member is
copied to every PE, the host bus's read and write enables are decoded per PE, and the PEs'
answers are gathered into the CCU's lanes, their read data ORed (only the PE that was read
drives it). It adds its statements to the module of the top, so the generated Verilog holds
each shared signal once instead of a copy per PE in the CCU's port list. A registered
distribution tree (fewer loads per stage) would replace this function, nothing else.
"""

from __future__ import annotations

__all__ = ["fan_out"]


def fan_out(m, array, links):
    """Join ``array`` (the CCU's `ArrayLink` port) to ``links`` (each PE's `PELink` port)."""
    rdata = 0
    compute = list(array.compute.signature.flatten(array.compute))
    for k, link in enumerate(links):
        for path, _, value in compute:
            m.d.comb += _member(link, path).eq(value)
        m.d.comb += [
            array.room[k].eq(link.room), array.scan_data[k].eq(link.scan_data),
            array.idle[k].eq(link.idle), array.ready[k].eq(link.ready),
            array.busy_counts[k].eq(link.busy_count), array.stall_counts[k].eq(link.stall_count),
            link.bus.mem.eq(array.bus.mem), link.bus.addr.eq(array.bus.addr),
            link.bus.wdata.eq(array.bus.wdata),
            link.bus.re.eq(array.bus.re & (array.bus_pe == k)),
            link.bus.we.eq(array.bus.we & (array.bus_all | (array.bus_pe == k))),
        ]
        rdata = rdata | link.bus.rdata
    m.d.comb += array.bus.rdata.eq(rdata)


def _member(interface, path):
    """The value at ``path`` (as `Signature.flatten` gives it) in ``interface``."""
    for part in path:
        interface = getattr(interface, part) if isinstance(part, str) else interface[part]
    return interface
