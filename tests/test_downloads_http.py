"""Downloads through pooch from a local HTTP server reached via the mirror setting (no network).

The server (``http.server`` on loopback, port 0, in a thread) serves a folder laid out like ``data/raw``
(``<mirror>/<dataset>/<filename>``), counts the requests it answers, honours ``Range`` and can drop the
connection half-way through a file.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from distildoc.data import sources
from distildoc.data.sources import MIRROR_ENV, DatasetSource, RemoteFile, download, file_url, get_source

A = b"label file\n" * 100
B = bytes(range(256)) * 8  # 2 KiB


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _MirrorHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server API
        srv = self.server
        rng = self.headers.get("Range")
        srv.requests.append((self.path, rng))  # type: ignore[attr-defined]
        path = srv.root / self.path.lstrip("/")  # type: ignore[attr-defined]
        if ".." in self.path or not path.is_file():
            self.send_error(404, "not here")
            return
        data = path.read_bytes()
        start = int(rng.split("=", 1)[1].split("-", 1)[0]) if rng else 0
        if start:
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if srv.drop_after is not None and self.path in srv.drop_paths:  # type: ignore[attr-defined]
            srv.drop_paths.discard(self.path)  # type: ignore[attr-defined]  # only the first time
            self.wfile.write(body[: srv.drop_after])  # type: ignore[attr-defined]
            self.wfile.flush()
            self.close_connection = True  # the client sees fewer bytes than Content-Length
            return
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch) -> Iterator[ThreadingHTTPServer]:
    """A local mirror serving ``tmp_path/mirror``; ``DISTILDOC_MIRROR`` points at it."""
    root = tmp_path / "mirror"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _MirrorHandler)
    httpd.root, httpd.requests, httpd.drop_after, httpd.drop_paths = root, [], None, set()  # type: ignore[attr-defined]
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv(MIRROR_ENV, httpd.url)  # type: ignore[attr-defined]
    monkeypatch.setattr(sources, "RETRY_WAIT", 0.0)
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def serve(httpd: ThreadingHTTPServer, dataset: str, filename: str, data: bytes) -> None:
    path = httpd.root / dataset / filename  # type: ignore[attr-defined]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def tiny(*files: RemoteFile) -> DatasetSource:
    # registry URLs on a reserved, never-resolved domain: only the mirror can serve them
    return DatasetSource(name="tiny", title="tiny", homepage="https://example.invalid", licence="test", files=files)


def rf(filename: str, data: bytes | None, **kw) -> RemoteFile:
    return RemoteFile(f"https://example.invalid/files/{filename}", filename,
                      len(data) if data is not None else None, sha(data) if data is not None else None, **kw)


# ------------------------------------------------------------------------------------------- mirror


def test_pooch_version_is_the_pinned_one() -> None:
    pin = next(line for line in (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text().splitlines()
               if line.strip().startswith('"pooch=='))
    assert pin.strip().strip('",') == f"pooch=={importlib.metadata.version('pooch')}"


def test_mirror_setting_rewrites_every_url(monkeypatch) -> None:
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    src = get_source("rvl_cdip")
    assert [file_url(src, f) for f in src.files] == [f.url for f in src.files]  # no mirror: the registry's
    monkeypatch.setenv(MIRROR_ENV, "http://127.0.0.1:8000/raw/")
    for source in sources.list_sources():
        for f in source.files:
            assert file_url(source, f) == f"http://127.0.0.1:8000/raw/{source.name}/{f.filename}"
            assert file_url(source, f, mirror="") == f.url  # an explicit "" switches the mirror off
            assert file_url(source, f, mirror="http://m") == f"http://m/{source.name}/{f.filename}"


def test_download_via_mirror_caches_and_second_call_fetches_nothing(mirror, tmp_path: Path, capsys) -> None:
    serve(mirror, "tiny", "labels/train.txt", A)
    serve(mirror, "tiny", "b.bin", B)
    src = tiny(rf("labels/train.txt", A), rf("b.bin", B))
    dest = tmp_path / "raw"
    written = download(src, dest, timeout=5)
    root = dest / "tiny"
    assert written == [root / "labels" / "train.txt", root / "b.bin"]
    assert (root / "labels" / "train.txt").read_bytes() == A and (root / "b.bin").read_bytes() == B
    assert mirror.requests == [("/tiny/labels/train.txt", None), ("/tiny/b.bin", None)]
    record = json.loads((root / ".downloads" / "labels__train.txt.json").read_text())
    assert record["url"] == "https://example.invalid/files/labels/train.txt"  # the registry's URL is recorded
    assert record["fetched_from"] == f"{mirror.url}/tiny/labels/train.txt"
    assert record["sha256"] == sha(A) and record["bytes"] == len(A)
    assert "tiny/b.bin" in capsys.readouterr().err  # the tqdm bar

    assert download(src, dest, timeout=5, progress=False) == written  # recorded: nothing fetched
    # without the records, pooch finds the files present with the right sha256: still nothing fetched
    for record_file in (root / ".downloads").glob("*.json"):
        record_file.unlink()
    assert download(src, dest, timeout=5, progress=False) == written
    assert len(mirror.requests) == 2
    # a file changed on disk no longer matches its sha256: pooch fetches it again
    (root / "b.bin").write_bytes(b"corrupted")
    (root / ".downloads" / "b.bin.json").unlink()
    download(src, dest, timeout=5, progress=False)
    assert mirror.requests[2:] == [("/tiny/b.bin", None)] and (root / "b.bin").read_bytes() == B


def test_real_registry_entry_through_the_mirror(mirror, tmp_path: Path) -> None:
    """The paper registry itself, redirected (what a miniature preset does); rvl_cdip_n publishes no sha256."""
    src = get_source("rvl_cdip_n")
    shards = {f.filename: f"shard {i}".encode() for i, f in enumerate(src.files)}
    for filename, data in shards.items():
        serve(mirror, "rvl_cdip_n", filename, data)
    written = download("rvl_cdip_n", tmp_path, timeout=5, progress=False)
    assert [p.read_bytes() for p in written] == list(shards.values())
    assert len(mirror.requests) == len(shards)
    rec = json.loads((tmp_path / "rvl_cdip_n/.downloads" / f"{src.files[0].filename.replace('/', '__')}.json")
                     .read_text())
    assert rec["published_sha256"] is None and rec["sha256"] == sha(shards[src.files[0].filename])


# ------------------------------------------------------------------------------------------- failures


def test_wrong_checksum_names_file_and_both_checksums_and_keeps_earlier_files(mirror, tmp_path: Path) -> None:
    serve(mirror, "tiny", "a.txt", A)
    serve(mirror, "tiny", "b.bin", B[::-1])  # same size, other content
    src = tiny(rf("a.txt", A), rf("b.bin", B))
    with pytest.raises(RuntimeError) as info:
        download(src, tmp_path, timeout=5, progress=False)
    msg = str(info.value)
    assert mirror.requests == [("/tiny/a.txt", None), ("/tiny/b.bin", None)]  # a bad sha256 is not retried
    assert "dataset 'tiny'" in msg and "b.bin" in msg and f"{mirror.url}/tiny/b.bin" in msg
    assert f"expected {sha(B)}" in msg and f"got {sha(B[::-1])}" in msg
    root = tmp_path / "tiny"
    assert (root / "a.txt").read_bytes() == A  # the earlier file stays, with its record
    assert (root / ".downloads" / "a.txt.json").is_file()
    assert not (root / "b.bin").exists()  # the bad one is not left under its final name
    assert sorted(p.name for p in root.iterdir()) == [".downloads", "a.txt"]  # nor as a temporary file
    assert sorted(p.name for p in (root / ".downloads").iterdir()) == ["a.txt.json"]  # nor as a part file
    # the mirror fixed: only the missing file is fetched
    serve(mirror, "tiny", "b.bin", B)
    n = len(mirror.requests)
    download(src, tmp_path, timeout=5, progress=False)
    assert mirror.requests[n:] == [("/tiny/b.bin", None)] and (root / "b.bin").read_bytes() == B


def test_wrong_checksum_keeps_the_good_copy_already_in_place(mirror, tmp_path: Path) -> None:
    src = tiny(rf("b.bin", B))
    serve(mirror, "tiny", "b.bin", B)
    download(src, tmp_path, timeout=5, progress=False)
    (tmp_path / "tiny" / ".downloads" / "b.bin.json").unlink()
    (tmp_path / "tiny" / "b.bin").write_bytes(B[:-1] + b"X")  # damaged copy: pooch updates it
    serve(mirror, "tiny", "b.bin", B[::-1])  # ... but the mirror now serves a wrong file
    with pytest.raises(RuntimeError, match="sha256 mismatch for b.bin"):
        download(src, tmp_path, timeout=5, progress=False)
    assert (tmp_path / "tiny" / "b.bin").read_bytes() == B[:-1] + b"X"  # what was there is not replaced


# ------------------------------------------------------------------------------------------- resume


def test_dropped_connection_is_resumed_by_a_retry(mirror, tmp_path: Path) -> None:
    serve(mirror, "tiny", "b.bin", B)
    mirror.drop_after, mirror.drop_paths = len(B) // 2, {"/tiny/b.bin"}
    written = download(tiny(rf("b.bin", B)), tmp_path, timeout=5, progress=False, retries=1)
    assert written == [tmp_path / "tiny" / "b.bin"] and written[0].read_bytes() == B
    assert mirror.requests == [("/tiny/b.bin", None), ("/tiny/b.bin", f"bytes={len(B) // 2}-")]
    assert not list((tmp_path / "tiny" / ".downloads").glob("*.part"))


def test_interrupted_run_keeps_the_part_file_and_the_next_run_resumes(mirror, tmp_path: Path) -> None:
    serve(mirror, "tiny", "b.bin", B)
    mirror.drop_after, mirror.drop_paths = 1000, {"/tiny/b.bin"}
    src = tiny(rf("b.bin", B))
    with pytest.raises(RuntimeError, match=r"dataset 'tiny' interrupted reading .*/tiny/b\.bin after 1000 bytes"):
        download(src, tmp_path, timeout=5, progress=False, retries=0)
    part = tmp_path / "tiny" / ".downloads" / "b.bin.part"
    assert part.read_bytes() == B[:1000] and not (tmp_path / "tiny" / "b.bin").exists()
    download(src, tmp_path, timeout=5, progress=False)  # the server is healthy again
    assert mirror.requests[-1] == ("/tiny/b.bin", "bytes=1000-")
    assert (tmp_path / "tiny" / "b.bin").read_bytes() == B and not part.exists()


def test_unpublished_size_dropped_connection_resumes(mirror, tmp_path: Path) -> None:
    """Without a published size or sha256 the Content-Length still tells a short read from a whole file."""
    serve(mirror, "tiny", "b.bin", B)
    mirror.drop_after, mirror.drop_paths = 700, {"/tiny/b.bin"}
    download(tiny(rf("b.bin", None)), tmp_path, timeout=5, progress=False, retries=2)
    assert (tmp_path / "tiny" / "b.bin").read_bytes() == B
    assert [r[1] for r in mirror.requests] == [None, "bytes=700-"]
    assert json.loads((tmp_path / "tiny/.downloads/b.bin.json").read_text())["sha256"] == sha(B)
