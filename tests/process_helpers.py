"""Kill a subprocess with SIGKILL at a chosen moment (mid-write, after its first checkpoint)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Callable


def kill_when(proc: subprocess.Popen, ready: Callable[[], bool], timeout: float, what: str,
              poll: float = 0.05, on_early_exit: Callable[[], str] = lambda: "") -> None:
    """Wait until `ready()` holds (the process must still be running), then SIGKILL it; fail after
    `timeout` seconds. `what` names the awaited moment in failure messages."""
    t0 = time.time()
    try:
        while not ready():
            assert proc.poll() is None, f"the process ended before {what}{on_early_exit()}"
            assert time.time() - t0 < timeout, f"no {what} within {timeout} s"
            time.sleep(poll)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL


def run_fresh_python(code: str, timeout: float = 300) -> None:
    """Run `code` in a fresh interpreter (nothing imported yet) and fail with its stderr when it does."""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stderr[-3000:]
