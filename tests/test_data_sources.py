"""The dataset registry and the verifying downloader (pooch + a resuming downloader), against a local HTTP
server (no network). tests/test_downloads_http.py covers the mirror setting, caching and dropped connections."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import re
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from distildoc.config import load_preset
from distildoc.data import sources
from distildoc.data.sources import SOURCES, DatasetSource, RemoteFile, download, get_source

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------ registry


def test_registry_covers_the_paper_preset() -> None:
    paper = load_preset(REPO / "params.yaml", "paper")
    assert set(paper["data"]["real"]["datasets"]) == set(SOURCES) == {
        "rvl_cdip", "rvl_cdip_n", "tobacco3482", "doclaynet", "prima", "docvqa", "infographicvqa"}
    for src in SOURCES.values():
        assert src.licence and src.homepage.startswith("https://") and src.title
        assert src.target("data/raw") == Path("data/raw") / src.name
        assert src.manual or src.files, src.name
        for f in src.files:
            assert f.url.startswith("https://"), f.url
            assert f.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", f.sha256)
            assert f.size is None or f.size > 0
            if f.sha256 is None:  # unpublished checksums are said so in the note
                assert "None" in src.note or "not published" in src.note.lower(), src.name
    with pytest.raises(KeyError, match="unknown dataset 'mnist'; known: rvl_cdip"):
        get_source("mnist")


def test_rvl_cdip_entry_is_pinned() -> None:
    src = get_source("rvl_cdip")
    tarball = src.files[0]
    assert tarball.url == "https://huggingface.co/datasets/aharley/rvl_cdip/resolve/main/data/rvl-cdip.tar.gz"
    assert tarball.size == 38_762_320_458
    assert tarball.sha256 == "3577e655813922098cd776422479017be37612ec17a65076b1b62199bf8b28a2"
    assert tarball.extract
    # the Snakemake rule declares the official label files as outputs under labels/
    assert {f.filename for f in src.files[1:]} == {"labels/train.txt", "labels/val.txt", "labels/test.txt"}


# ------------------------------------------------------------------------------------ local server


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server API
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))  # type: ignore[attr-defined]
        data = server.files.get(self.path)  # type: ignore[attr-defined]
        if data is None:
            self.send_error(404, "not here")
            return
        rng = self.headers.get("Range")
        if rng and server.ranges:  # type: ignore[attr-defined]
            start = int(rng.split("=", 1)[1].split("-", 1)[0])
            body = data[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.requests, httpd.ranges = {}, [], True  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(httpd: ThreadingHTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}{path}"


def _source(*files: RemoteFile, name: str = "tiny") -> DatasetSource:
    return DatasetSource(name=name, title="tiny test set", homepage="https://example.org", licence="test",
                         files=files)


PAYLOAD = b"0123456789abcdef" * 64  # 1 KiB
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


# ------------------------------------------------------------------------------------ failures


def test_unreachable_url_fails_fast(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/rvl-cdip.tar.gz"  # discard port: nothing listens
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"dataset 'tiny' failed: cannot reach http://127\.0\.0\.1:9/rvl-cdip"):
        download(_source(RemoteFile(url, "x.tar.gz")), tmp_path, timeout=3, progress=False)
    assert time.monotonic() - start < 5


def test_sha256_mismatch(server, tmp_path: Path) -> None:
    server.files["/data.bin"] = PAYLOAD
    url = _url(server, "/data.bin")
    src = _source(RemoteFile(url, "data.bin", len(PAYLOAD), "0" * 64))
    with pytest.raises(RuntimeError, match=rf"dataset 'tiny': sha256 mismatch for data\.bin from {re.escape(url)}: "
                                           rf"expected {'0' * 64}, got {PAYLOAD_SHA}"):
        download(src, tmp_path, timeout=5, progress=False)
    assert not (tmp_path / "tiny" / "data.bin").exists()
    assert not list((tmp_path / "tiny" / ".downloads").glob("*.part"))  # a bad file is not kept
    assert not list((tmp_path / "tiny" / ".downloads").glob("*.json"))
    assert [p.name for p in (tmp_path / "tiny").iterdir()] == [".downloads"]  # nor pooch's temporary file


def test_size_mismatch_and_http_error(server, tmp_path: Path) -> None:
    server.files["/data.bin"] = PAYLOAD
    src = _source(RemoteFile(_url(server, "/data.bin"), "data.bin", len(PAYLOAD) + 1, PAYLOAD_SHA))
    with pytest.raises(RuntimeError, match=rf"gave {len(PAYLOAD)} bytes, expected {len(PAYLOAD) + 1}"):
        download(src, tmp_path, timeout=5, progress=False)
    missing = _url(server, "/gone.zip")
    with pytest.raises(RuntimeError, match=rf"dataset 'tiny' failed: HTTP 404 .* for {re.escape(missing)}"):
        download(_source(RemoteFile(missing, "gone.zip")), tmp_path, timeout=5, progress=False)


def test_manual_dataset_explains_itself(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"'prima' cannot be downloaded automatically.*primaresearch\.org"):
        download("prima", tmp_path)
    (tmp_path / "prima").mkdir()
    (tmp_path / "prima" / "00000086.xml").write_text("<PcGts/>")
    assert download("prima", tmp_path) == [tmp_path / "prima"]


# ------------------------------------------------------------------------------------ success paths


def test_download_verify_record_and_skip(server, tmp_path: Path) -> None:
    server.files["/labels/train.txt"] = PAYLOAD
    src = _source(RemoteFile(_url(server, "/labels/train.txt"), "labels/train.txt", len(PAYLOAD), PAYLOAD_SHA))
    written = download(src, tmp_path, timeout=5, progress=False)
    final = tmp_path / "tiny" / "labels" / "train.txt"
    assert written == [final] and final.read_bytes() == PAYLOAD
    record = json.loads((tmp_path / "tiny" / ".downloads" / "labels__train.txt.json").read_text())
    assert record["sha256"] == PAYLOAD_SHA and record["bytes"] == len(PAYLOAD)
    n_requests = len(server.requests)
    assert download(src, tmp_path, timeout=5, progress=False) == [final]  # recorded: no new request
    assert len(server.requests) == n_requests


def test_unpublished_checksum_is_measured_and_recorded(server, tmp_path: Path) -> None:
    server.files["/f.bin"] = PAYLOAD
    download(_source(RemoteFile(_url(server, "/f.bin"), "f.bin")), tmp_path, timeout=5, progress=False)
    record = json.loads((tmp_path / "tiny" / ".downloads" / "f.bin.json").read_text())
    assert record["sha256"] == PAYLOAD_SHA and record["published_sha256"] is None


def test_archive_is_extracted(server, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("images/a/1.tif", b"one"), ("labels/train.txt", b"a/1.tif 0\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    blob = buf.getvalue()
    server.files["/rvl.tar.gz"] = blob
    src = _source(RemoteFile(_url(server, "/rvl.tar.gz"), "rvl.tar.gz", len(blob),
                             hashlib.sha256(blob).hexdigest(), extract=True))
    written = download(src, tmp_path, timeout=5, progress=False)
    root = tmp_path / "tiny"
    assert sorted(written) == [root / "images", root / "labels"]
    assert (root / "images/a/1.tif").read_bytes() == b"one"
    assert (root / "labels/train.txt").read_text() == "a/1.tif 0\n"
    assert not (root / "rvl.tar.gz").exists()  # archives are deleted after extraction by default
    assert not list((root / ".downloads").glob("*.part"))


def test_partial_download_resumes_with_range(server, tmp_path: Path) -> None:
    server.files["/big.bin"] = PAYLOAD
    src = _source(RemoteFile(_url(server, "/big.bin"), "big.bin", len(PAYLOAD), PAYLOAD_SHA))
    state = tmp_path / "tiny" / ".downloads"
    state.mkdir(parents=True)
    (state / "big.bin.part").write_bytes(PAYLOAD[:300])
    download(src, tmp_path, timeout=5, progress=False)
    assert server.requests[-1] == ("/big.bin", "bytes=300-")
    assert (tmp_path / "tiny" / "big.bin").read_bytes() == PAYLOAD
    # a server that ignores Range restarts from zero and still verifies
    server.ranges = False
    (tmp_path / "tiny" / ".downloads" / "big.bin.json").unlink()
    (state / "big.bin.part").write_bytes(PAYLOAD[:300])
    download(src, tmp_path, timeout=5, progress=False)
    assert (tmp_path / "tiny" / "big.bin").read_bytes() == PAYLOAD


# ------------------------------------------------------------------------------------ CLI script


def _load_script():
    spec = importlib.util.spec_from_file_location("download_dataset", REPO / "workflow/scripts/download_dataset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_cli_writes_marker(server, tmp_path: Path, monkeypatch) -> None:
    server.files["/f.bin"] = PAYLOAD
    monkeypatch.setitem(sources.SOURCES, "tiny",
                        _source(RemoteFile(_url(server, "/f.bin"), "f.bin", len(PAYLOAD), PAYLOAD_SHA)))
    script = _load_script()
    assert script.main(["tiny", str(tmp_path)]) == 0
    marker = json.loads((tmp_path / "tiny" / ".complete").read_text())
    assert marker["dataset"] == "tiny" and marker["written"] == [str(tmp_path / "tiny" / "f.bin")]
    assert script.main(["no_such_set", str(tmp_path)]) == 1


def test_snakemake_entry_point(server, tmp_path: Path, monkeypatch) -> None:
    import runpy
    from types import SimpleNamespace

    import distildoc.utils.runtime as runtime

    server.files["/f.bin"] = PAYLOAD
    monkeypatch.setitem(sources.SOURCES, "tiny",
                        _source(RemoteFile(_url(server, "/f.bin"), "f.bin", len(PAYLOAD), PAYLOAD_SHA)))
    monkeypatch.setattr(runtime, "init_script", lambda smk: None)  # keep the test session's logging as is
    marker = tmp_path / "raw" / "tiny" / ".complete"
    fake = SimpleNamespace(params=SimpleNamespace(name="tiny"), output=[str(marker)], log=[], threads=1,
                           rule="download", input=[])
    runpy.run_path(str(REPO / "workflow/scripts/download_dataset.py"), init_globals={"snakemake": fake})
    assert (tmp_path / "raw" / "tiny" / "f.bin").read_bytes() == PAYLOAD
    assert json.loads(marker.read_text())["written"] == [str(tmp_path / "raw" / "tiny" / "f.bin")]
