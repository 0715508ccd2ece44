"""cocotb test modules (run inside the simulator by `sim.runner.SimBuild.test`)."""
