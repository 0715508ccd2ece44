"""The top's stream ports as the generated Verilog names them (no Amaranth needed to read).

`hw.netlist` renames the top's flattened Amaranth ports (``host_rx__payload`` ...) to
AXI4-Stream's names, so Vivado and LiteX recognise the two interfaces; the cocotb
transports find them by these names. ``clk``, ``rst`` and ``busy`` keep theirs.
"""

__all__ = ["VERILOG_PORTS"]

VERILOG_PORTS = {
    "host_rx__payload": "s_axis_tdata", "host_rx__valid": "s_axis_tvalid",
    "host_rx__ready": "s_axis_tready", "host_rx_last": "s_axis_tlast",
    "host_tx__payload": "m_axis_tdata", "host_tx__valid": "m_axis_tvalid",
    "host_tx__ready": "m_axis_tready", "host_tx_last": "m_axis_tlast",
}
