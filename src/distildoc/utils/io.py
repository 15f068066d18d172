"""Atomic, logged file I/O: every artefact is written to a temporary file and renamed.

An interrupted job therefore never leaves a half-written JSON / NPZ / CSV that a later rule reads. A writer
killed outright (SIGKILL, out of memory) leaves its hidden temporary file (``.<name>.<host>-<pid>.<random>``)
behind; the next writer of the same file removes those whose process on this host is gone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"


# per process: directory -> {target file name: temporaries its killed writers left}, from one scan; a writer
# that dies later is cleaned up by the next process instead. One scan per directory keeps a job that writes
# thousands of files into one folder (the synthetic pages) linear.
_STALE: dict[Path, dict[str, list[Path]]] = {}


def _stale_in(directory: Path) -> dict[str, list[Path]]:
    if directory not in _STALE:
        pattern = re.compile(rf"^\.(.+)\.{re.escape(_host_tag())}-(\d+)\.")
        found: dict[str, list[Path]] = {}
        for cand in directory.iterdir():
            m = pattern.match(cand.name)
            if m and int(m.group(2)) != os.getpid() and not _pid_alive(int(m.group(2))):
                found.setdefault(m.group(1), []).append(cand)
        _STALE[directory] = found
    return _STALE[directory]


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files :func:`atomic_path` left next to `path` when its writer was killed: those
    named for this host whose process no longer exists (another host's, or a live writer's, are kept).
    The folder is scanned once per process. Returns the removed paths."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    removed = []
    for cand in _stale_in(path.parent.resolve()).pop(path.name, []):
        try:
            cand.unlink()
        except FileNotFoundError:
            continue
        removed.append(cand)
        log.warning("removed %s, left by a killed writer of %s", cand, path)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds.

    The temporary file is ``.<name>.<host>-<pid>.<random><suffix>``; stale ones of killed writers of the
    same `path` are removed first (:func:`remove_stale_temporaries`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_host_tag()}-{os.getpid()}.", suffix=suffix or path.suffix or ".tmp",
                               dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write text atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    log.info("wrote %s", path)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write bytes atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """Write JSON atomically with sorted-free, stable formatting."""
    return write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def write_jsonl(path: str | os.PathLike, rows: list[dict]) -> Path:
    """Write JSON lines atomically."""
    return write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a malformed file raises ValueError naming it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"missing file: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"malformed JSON in {path}: {err}") from err


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read JSON lines; a malformed line raises ValueError naming the file and line number."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"missing file: {path}")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"malformed JSON on line {i} of {path}: {err}") from err
    return rows
