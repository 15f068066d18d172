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
    # whatever is left over is a hidden temporary file that no rule reads
    assert all(p.name.startswith(".logits_test.npz.") for p in tmp_path.iterdir() if p != dest)


def test_failed_writer_leaves_old_file_and_no_temporary(tmp_path: Path) -> None:
    dest = write_json(tmp_path / "metrics.json", {"ok": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_text('{"half": ')
            raise RuntimeError("interrupted")
    assert dest.read_text() == '{\n  "ok": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
