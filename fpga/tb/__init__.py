"""Test benches and test fixtures of the FPGA part (the cocotb board test lives here)."""
