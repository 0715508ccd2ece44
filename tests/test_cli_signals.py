"""`eie` killed with SIGTERM: exit status 143 and no partial output left behind."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def test_sigterm_leaves_no_partial_output(tmp_path):
    out = tmp_path / "demo"
    eie = Path(sys.executable).parent / "eie"
    proc = subprocess.Popen([str(eie), "demo", "--out", str(out), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    # Wait until the atomic output folder exists (the demo is then training), then kill.
    deadline = time.monotonic() + 300          # torch import and data set load, on a busy machine
    while not any(tmp_path.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "eie demo never started writing"
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "eie: terminated" in err
    assert list(tmp_path.iterdir()) == []
