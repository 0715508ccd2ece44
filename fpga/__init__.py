"""The EIE array on FPGA boards: board tops behind a UART, bitstream builds and their reports.

docs/fpga.md lists the modules. This package may import `eie`, `hw`, `host`, `sim` and
`compress`; none of those imports it.
"""
