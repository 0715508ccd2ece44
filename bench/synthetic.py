"""EIE's benchmark layers for the benchmarks: the table and generators of `sim.explore.layers`.

Kept so `bench.synthetic` goes on naming the layers the benchmarks run; the definitions
live one level down, where `eie explore` (which may not import bench) reads them too.
"""

from sim.explore.layers import EIE_CLOCK_HZ, EIE_LAYERS, EIELayer, synthetic_layer, synthetic_pattern

__all__ = ["EIELayer", "EIE_LAYERS", "synthetic_layer", "synthetic_pattern", "EIE_CLOCK_HZ"]
