"""The host side of the EIE array: what a program on the host needs to talk to the device.

* `host.protocol`: command frames and reply decoders for `eie.contract`'s protocol, and the
  device's validation rules;
* `host.load`: the frames that load a compressed model (used by the driver and by the
  FPGA's baked-model boot ROM);
* `host.driver`: the async driver over any byte transport (Amaranth's simulator,
  cocotb/Verilator, a UART).

Depends on `eie` only; the simulator and FPGA parts build their transports on it.
"""
