"""The pyserial transport (`fpga.serial_transport`) over pseudo-terminals.

Two kinds of tests, and what each proves:

* Against a Python fake device on a pty (fast): only the transport's own behaviour:
  exact-length reads assembled from fragments, the timeout on a quiet line, and
  `resync` after a lost byte (the fake follows docs/protocol.md's framing: bodies are
  consumed in full, 0x00 between commands is a NOP). The fake is not the hardware.
* Against the real RTL (Verilator, cocotb): the pty's other end is bit-banged onto the board
  core's UART pins (`fpga.tb.test_pty`), and the host driver on `SerialTransport` loads a
  model and runs inputs whose outputs must equal the golden model's: the path a board takes,
  with the USB-serial chip replaced by the simulator.
"""

import asyncio
import os
import select
import threading
import time
import tty

import numpy as np
import pytest

from eie.config import PRESETS
from host import protocol as proto
from fpga.serial_transport import SerialTransport, SerialTimeout


class FakeDevice(threading.Thread):
    """Protocol framing over the master side of a pty: INFO answers with ``cfg``'s INFO body,
    every other command with an empty OK; answers can be split into delayed fragments."""

    def __init__(self, master: int, cfg, split: bool = False):
        super().__init__(daemon=True)
        self.master, self.cfg, self.split = master, cfg, split
        self.commands = []
        self.stopping = False

    def read_exact(self, n):
        out = b""
        while len(out) < n:
            if self.stopping:
                raise EOFError
            try:
                r, _, _ = select.select([self.master], [], [], 0.05)
            except OSError:
                raise EOFError from None
            if r:
                try:
                    out += os.read(self.master, n - len(out))
                except OSError:
                    raise EOFError from None
        return out

    def answer(self, data: bytes):
        if self.split and len(data) > 2:
            os.write(self.master, data[:2])
            time.sleep(0.05)
            os.write(self.master, data[2:])
        else:
            os.write(self.master, data)

    def run(self):
        try:
            while True:
                op = self.read_exact(1)[0]
                if op == 0:
                    continue                                  # NOP
                n = int.from_bytes(self.read_exact(2), "little")
                body = self.read_exact(n)
                self.commands.append((op, body))
                rbody = {proto.Op.INFO: proto.info_body(self.cfg), proto.Op.RUN: bytes(4)}.get(op, b"")
                self.answer(proto.response_bytes(proto.Status.OK, op, rbody))
        except EOFError:
            pass


@pytest.fixture
def pty_pair():
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    yield master, path
    os.close(master)
    os.close(slave)


def test_commands_and_fragmented_answers(pty_pair):
    master, path = pty_pair
    cfg = PRESETS["tiny"]
    dev = FakeDevice(master, cfg, split=True)
    dev.start()
    from host.driver import EIEDriver

    async def host(port):
        drv = EIEDriver(port, cfg)
        info = await drv.check_info()
        assert info.n_pe == cfg.n_pe
        await drv.write_mem(proto.Mem.BIAS, 1, 3, np.arange(5))
        assert await drv.run(2) == 0

    with SerialTransport(path, 115200, timeout=2) as port:
        asyncio.run(host(port))
        assert port.bytes_received == 4 + 14 + 4 + 4 + 4
    dev.stopping = True
    dev.join(2)
    assert [op for op, _ in dev.commands] == [proto.Op.INFO, proto.Op.WRITE_MEM, proto.Op.RUN]
    assert dev.commands[1][1] == proto.cmd_write_mem(cfg, proto.Mem.BIAS, 1, 3, np.arange(5))[3:]


def test_timeout_on_a_quiet_line(pty_pair):
    master, path = pty_pair
    with SerialTransport(path, 115200, timeout=0.3) as port:
        os.write(master, b"\x01\x02")      # after opening: pyserial flushes input on open
        t = time.monotonic()
        with pytest.raises(SerialTimeout, match="sent 2 of 5 bytes, then nothing for 0.3 s"):
            asyncio.run(port.recv(5))
        assert time.monotonic() - t < 2


def test_resync_after_a_lost_byte(pty_pair):
    master, path = pty_pair
    cfg = PRESETS["tiny"]
    dev = FakeDevice(master, cfg)
    dev.start()
    from host.driver import EIEDriver

    async def host(port):
        # A WRITE_MEM whose body lost its last byte on the way: the device waits for it.
        frame = proto.cmd_write_mem(cfg, proto.Mem.PTR, 0, 0, np.arange(40))
        await port.send(frame[:-1])
        with pytest.raises(SerialTimeout):
            await port.recv(4)
        await port.resync()
        info = await EIEDriver(port, cfg).check_info()
        assert info.config_hash == cfg.hash

    with SerialTransport(path, 115200, timeout=0.5) as port:
        asyncio.run(host(port))
    dev.stopping = True
    dev.join(2)
    # the truncated WRITE_MEM (completed by zeros), resync's INFO, check_info's INFO
    assert [op for op, _ in dev.commands] == [proto.Op.WRITE_MEM, proto.Op.INFO, proto.Op.INFO]


def test_bad_arguments():
    with pytest.raises(ValueError, match="baud must be a positive integer, not 0"):
        SerialTransport("loop://", 0)
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds, not 0"):
        SerialTransport("loop://", 9600, timeout=0)
    from eie.errors import EIEError
    with pytest.raises(EIEError, match="cannot open serial port '/nonexistent/tty'"):
        SerialTransport("/nonexistent/tty", 9600)


def test_loop_url_echoes():
    with SerialTransport("loop://", 9600, timeout=0.5) as port:
        asyncio.run(port.send(b"hello"))
        assert asyncio.run(port.recv(5)) == b"hello"


# ---- against the RTL -------------------------------------------------------------------------

@pytest.mark.verilator
def test_driver_over_a_pty_into_the_board_rtl(tmp_path):
    from sim import runner
    reason = runner.verilator_missing()
    if reason:
        pytest.skip(reason)
    try:
        from test_fpga_board_sim import board_build, small_network, seed_for
    except ImportError:
        from tests.test_fpga_board_sim import board_build, small_network, seed_for
    from eie.images import read_images
    from host.driver import EIEDriver
    from eie.golden import GoldenModel

    seed = seed_for(2024)
    print(f"seed={seed}")
    cfg, images, inputs = small_network(tmp_path, seed)
    build = board_build(cfg, divisor=4)       # the same build as the UART test: cached
    folder = runner.BUILD_ROOT / "fpga-sim" / "runs" / "pty"
    folder.mkdir(parents=True, exist_ok=True)
    pty_file, done = folder / "pty", folder / "done"
    for p in (pty_file, done):
        p.unlink(missing_ok=True)
    errors = []

    def simulate():
        try:
            build.test("fpga.tb.test_pty", test_dir=folder, log_file=folder / "sim.log",
                       env={"EIE_DIVISOR": 4, "EIE_PTY_FILE": pty_file, "EIE_PTY_DONE": done,
                            "EIE_PTY_TIMEOUT": 240})
        except BaseException as e:        # SystemExit from a failed cocotb test
            errors.append(e)

    sim = threading.Thread(target=simulate)
    sim.start()
    try:
        t = time.monotonic()
        while not pty_file.exists():
            assert sim.is_alive() and time.monotonic() - t < 120, f"simulator did not start: {folder}/sim.log"
            time.sleep(0.1)
        imgs = read_images(images, cfg)
        x = np.load(inputs)

        async def host(port):
            drv = EIEDriver(port, cfg)
            await drv.wait_ready()
            await drv.check_info()
            await drv.load(imgs)
            return np.array([await drv.infer(v, imgs.layers[-1]["out_len"]) for v in x[:2]])

        with SerialTransport(pty_file.read_text(), 1_000_000, timeout=60) as port:
            got = asyncio.run(host(port))
            print(f"over the pty: {port.bytes_sent} bytes sent, {port.bytes_received} received")
    finally:
        done.touch()
        sim.join(timeout=300)
    assert not errors, f"the simulation failed: {folder}/sim.log"
    assert np.array_equal(got, GoldenModel(imgs).run(x[:2]))
