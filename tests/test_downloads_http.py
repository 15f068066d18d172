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


# ------------------------------------------------------------------------------------------- registry override


def _override(tmp_path: Path, entries: dict) -> Path:
    path = tmp_path / "override.json"
    path.write_text(json.dumps(entries))
    return path


def test_registry_override_pins_the_mirror_files(mirror, tmp_path: Path, monkeypatch) -> None:
    """A mirror serving other files than the registry's (a miniature): their checksums come from the override
    file; rvl_cdip's published sha256s are replaced for the listed files only."""
    src = get_source("rvl_cdip")
    labels = {f.filename: f"{f.filename} 0\n".encode() for f in src.files[1:]}
    for filename, data in labels.items():
        serve(mirror, "rvl_cdip", filename, data)
    path = _override(tmp_path, {"rvl_cdip": {k: {"sha256": sha(v), "size": len(v)} for k, v in labels.items()}})
    monkeypatch.setenv(sources.OVERRIDE_ENV, str(path))
    changed = sources.apply_registry_override(src, sources.load_registry_override(path))
    assert changed.files[0] == src.files[0]  # the archive keeps its published checksum
    assert [f.sha256 for f in changed.files[1:]] == [sha(v) for v in labels.values()]
    custom = DatasetSource(name="rvl_cdip", title="t", homepage="https://example.invalid", licence="test",
                           files=src.files[1:])  # the label files only (the archive is not served here)
    written = download(custom, tmp_path / "raw", timeout=5, progress=False)
    assert [p.read_bytes() for p in written] == list(labels.values())
    rec = json.loads((tmp_path / "raw/rvl_cdip/.downloads/labels__train.txt.json").read_text())
    assert rec["published_sha256"] == src.files[1].sha256 and rec["expected_sha256"] == sha(labels["labels/train.txt"])
    assert rec["registry_override"] == str(path)


def test_registry_override_wrong_checksum_names_file_and_expected(mirror, tmp_path: Path, monkeypatch) -> None:
    src = get_source("rvl_cdip_n")
    good, bad = src.files[0].filename, src.files[1].filename
    serve(mirror, "rvl_cdip_n", good, A)
    serve(mirror, "rvl_cdip_n", bad, B[::-1])  # corrupted: not what the override pins
    monkeypatch.setenv(sources.OVERRIDE_ENV, str(_override(tmp_path, {"rvl_cdip_n": {good: {"sha256": sha(A)},
                                                                                      bad: {"sha256": sha(B)}}})))
    with pytest.raises(RuntimeError) as info:
        download("rvl_cdip_n", tmp_path / "raw", timeout=5, progress=False)
    msg = str(info.value)
    assert f"sha256 mismatch for {bad}" in msg and f"expected {sha(B)}" in msg and f"got {sha(B[::-1])}" in msg
    assert (tmp_path / "raw/rvl_cdip_n" / good).read_bytes() == A  # downloaded before: kept
    assert not (tmp_path / "raw/rvl_cdip_n" / bad).exists()


@pytest.mark.parametrize("entries,expected", [
    ({"rvl_cdip_m": {}}, "unknown dataset 'rvl_cdip_m'"),
    ({"rvl_cdip": {"labels/tran.txt": {"sha256": "0" * 64}}}, "rvl_cdip/labels/tran.txt: not a file of dataset"),
    ({"rvl_cdip": {"labels/train.txt": {"sha256": None}}}, "sha256 must be 64 hex digits"),
    ({"rvl_cdip": {"labels/train.txt": {"sha256": "0" * 64, "md5": "x"}}}, "unknown field(s) ['md5']"),
    ({"rvl_cdip": {"labels/train.txt": {"sha256": "0" * 64, "size": -1}}}, "size must be a positive integer"),
], ids=["dataset", "file", "no-sha256", "field", "size"])
def test_registry_override_rejects_bad_entries(tmp_path: Path, entries: dict, expected: str) -> None:
    path = _override(tmp_path, entries)
    with pytest.raises(ValueError) as info:
        sources.load_registry_override(path)
    assert expected in str(info.value) and str(path) in str(info.value)


def test_registry_override_needs_a_mirror(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    monkeypatch.setenv(sources.OVERRIDE_ENV, str(_override(tmp_path, {})))
    with pytest.raises(RuntimeError, match=f"set {MIRROR_ENV} too"):
        download("rvl_cdip_n", tmp_path / "raw", timeout=5, progress=False)
    assert not (tmp_path / "raw").exists()
