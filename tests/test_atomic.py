"""Atomic outputs: a writer killed mid-write (SIGKILL) leaves the destination either absent or the old
complete file, never a partial file under the final name; a writer that fails leaves no temporary file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from distildoc.utils.io import atomic_path, write_json
from process_helpers import kill_when

WRITER = """
import sys, numpy as np
from distildoc.utils.io import atomic_path
big = np.random.default_rng(0).standard_normal((6_000_000,)).astype("float64")  # ~48 MB, slow to compress
with atomic_path(sys.argv[1], suffix=".npz") as tmp:
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, logits=big)
"""


def _kill_mid_write(dest: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(dest)], env={**os.environ, "OMP_NUM_THREADS": "1"})
    # the temporary file appears next to the destination (".<name>.<random>.npz") and grows
    kill_when(proc, lambda: any(p.name.startswith(f".{dest.name}.") and p.stat().st_size > 0
                                for p in dest.parent.iterdir()), timeout=120, what="a partial temporary file",
              poll=0.01)


@pytest.mark.parametrize("existing", [False, True])
def test_killed_writer_leaves_no_partial_file(tmp_path: Path, existing: bool) -> None:
    dest = tmp_path / "logits_test.npz"
    if existing:
        np.savez(dest, logits=np.arange(5.0))
        old = dest.read_bytes()
    _kill_mid_write(dest)
    if existing:
        assert dest.read_bytes() == old
        np.testing.assert_array_equal(np.load(dest)["logits"], np.arange(5.0))
    else:
        assert not dest.exists()
    # whatever is left over is a hidden temporary file that no rule reads ...
    leftovers = [p for p in tmp_path.iterdir() if p != dest]
    assert leftovers and all(p.name.startswith(".logits_test.npz.") for p in leftovers)
    # ... and the next writer of the same file removes it
    write_json(tmp_path / "other.json", {"x": 1})
    assert all(p.exists() for p in leftovers)  # another file's writer leaves it alone
    with atomic_path(dest, suffix=".npz") as tmp:
        np.savez(tmp, logits=np.arange(3.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([dest.name, "other.json"])
    np.testing.assert_array_equal(np.load(dest)["logits"], np.arange(3.0))


def test_failed_writer_leaves_old_file_and_no_temporary(tmp_path: Path) -> None:
    dest = write_json(tmp_path / "metrics.json", {"ok": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_text('{"half": ')
            raise RuntimeError("interrupted")
    assert dest.read_text() == '{\n  "ok": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_only_temporaries_of_dead_writers_on_this_host_are_removed(tmp_path: Path) -> None:
    from distildoc.utils.io import _host_tag, remove_stale_temporaries

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(done.stdout)  # that process has exited
    live = os.getppid()
    dest = tmp_path / "metrics.json"
    stale = tmp_path / f".metrics.json.{_host_tag()}-{dead}.abc123.json"
    running = tmp_path / f".metrics.json.{_host_tag()}-{live}.def456.json"
    remote = tmp_path / f".metrics.json.otherhost-{dead}.ghi789.json"
    sibling = tmp_path / f".metrics.json.bak.{_host_tag()}-{dead}.jkl.json"
    for p in (stale, running, remote, sibling):
        p.write_text("{")
    assert remove_stale_temporaries(dest) == [stale]
    assert not stale.exists() and running.exists() and remote.exists() and sibling.exists()
