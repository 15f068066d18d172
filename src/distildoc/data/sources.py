"""Registry of the real datasets of the ``paper`` preset, and a verifying, resumable downloader (pooch).

Every :class:`DatasetSource` names where its files come from (URL, or Hugging Face dataset id +
revision), what they must be (size and sha256 **where published**; ``None`` means *not published*, said
again in the entry's ``note``), its licence / terms, and its folder ``data/raw/<name>``.

:func:`download` hands each file to `pooch <https://www.fatiando.org/pooch>`_ (BSD-3-Clause): one
:class:`pooch.Pooch` per dataset, whose registry is this one's sha256s and whose cache is the dataset folder.
pooch downloads into a temporary file next to the final one, checks the sha256 and only then moves it
under its final name (a mismatch deletes it; files placed before are untouched); a file already present
with the right sha256 is not downloaded again. pooch's own HTTP downloader cannot resume, so the transfer
itself is :class:`ResumableDownloader`, a pooch downloader (``requests``, which pooch uses too) that
streams into ``<dest>/.downloads/<file>.part`` with a tqdm progress bar, continues a partial file with an
HTTP ``Range`` request when the server allows it (a dropped connection is retried from where it stopped,
``retries`` times; a part file left by an interrupted run is continued by the next run) and checks the size.
Archives are then unpacked (tar / zip, with tarfile's ``data`` filter) into the dataset folder, and
``.downloads/<file>.json`` (URL, bytes, sha256) records every finished file so a re-run skips it without
re-hashing. Files without a published checksum get their measured sha256 recorded there, which pins what
was used. An unreachable URL, an HTTP error, a size or checksum mismatch raise :class:`RuntimeError`
naming the dataset, the file and the URL (a mismatch: both checksums).

**Mirror.** ``DISTILDOC_MIRROR`` (or ``download(..., mirror=...)``) redirects every registry URL to
``<mirror>/<dataset name>/<filename>`` (see :func:`file_url`), e.g. a local HTTP server serving a folder
laid out like ``data/raw``; the registry's sizes and checksums still apply.

**Registry override.** A mirror that serves *other* files than the registry's (a lab's re-packed archives,
or the miniature of every input that ``tests/test_paper_mini.py`` builds) names their checksums in a JSON file
given by ``DISTILDOC_REGISTRY_OVERRIDE`` (or ``download(..., registry_override=...)``)::

    {"rvl_cdip": {"rvl-cdip.tar.gz": {"sha256": "<64 hex>", "size": 12345}, "labels/train.txt": {...}}, ...}

It replaces the registry's sha256 (and size) of exactly the files it lists (:func:`load_registry_override`). It
only strengthens or re-pins checking, never weakens it: every entry must give a 64-hex ``sha256`` (a file
without a published checksum gets one), unknown datasets / files / keys are errors naming them, and it is only
accepted together with a mirror (the registry's own URLs always use the published checksums). A download that
does not match the overriding checksum fails as any other mismatch, naming the file and the expected checksum,
and the records in ``.downloads`` note the override file used.

Datasets behind a registration (PRImA) are ``manual``: :func:`download` accepts a folder the user filled
and otherwise explains what to put there.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import time
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pooch
import requests
import urllib3
from tqdm import tqdm

from ..utils.io import read_json, write_json

log = logging.getLogger(__name__)

CHUNK = 1 << 20
USER_AGENT = f"distildoc-downloader/0.1 (pooch/{pooch.__version__.lstrip('v')}; requests/{requests.__version__})"
#: environment variable that redirects every registry URL to a mirror (see :func:`file_url`)
MIRROR_ENV = "DISTILDOC_MIRROR"
#: environment variable naming a JSON file of checksums that replace the registry's (see :func:`load_registry_override`)
OVERRIDE_ENV = "DISTILDOC_REGISTRY_OVERRIDE"
#: seconds to wait before resuming after a dropped connection (tests set it to 0)
RETRY_WAIT = 2.0


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset.

    Attributes:
        url: where to fetch it.
        filename: its path inside the dataset folder (archives: the name it keeps with ``keep_archives``).
        size: expected bytes, or None when not published.
        sha256: expected hex digest, or None when not published.
        extract: unpack this archive (tar/zip) into the dataset folder after verification.
    """

    url: str
    filename: str
    size: int | None = None
    sha256: str | None = None
    extract: bool = False


@dataclass(frozen=True)
class DatasetSource:
    """A dataset of the paper preset and where its files come from."""

    name: str
    title: str
    homepage: str
    licence: str
    files: tuple[RemoteFile, ...] = ()
    hf_dataset: str | None = None
    revision: str | None = None
    note: str = ""
    layout: str = ""
    manual: bool = False
    #: folder under the download root (``data/raw/<name>``)
    folder: str = field(default="")

    def target(self, dest_root: str | os.PathLike = "data/raw") -> Path:
        return Path(dest_root) / (self.folder or self.name)


_HF = "https://huggingface.co/datasets"
_RRC = "https://datasets.cvc.uab.es/rrc/DocVQA"
_DUE = "https://applica-public.s3.eu-west-1.amazonaws.com/due/datasets"
_UCSF_TERMS = "https://www.industrydocuments.ucsf.edu/help/copyright/"

SOURCES: dict[str, DatasetSource] = {s.name: s for s in (
    DatasetSource(
        name="rvl_cdip",
        title="RVL-CDIP (400k document images, 16 classes)",
        homepage="https://www.cs.cmu.edu/~aharley/rvl-cdip/",
        hf_dataset="aharley/rvl_cdip",
        revision="main",
        licence=f"Images are a subset of IIT-CDIP / the UCSF Legacy Tobacco Document Library; terms: {_UCSF_TERMS}. "
                "Research use.",
        files=(
            RemoteFile(f"{_HF}/aharley/rvl_cdip/resolve/main/data/rvl-cdip.tar.gz", "rvl-cdip.tar.gz",
                       38_762_320_458, "3577e655813922098cd776422479017be37612ec17a65076b1b62199bf8b28a2",
                       extract=True),
            RemoteFile(f"{_HF}/aharley/rvl_cdip/resolve/main/data/train.txt", "labels/train.txt",
                       13_730_846, "8d25bf09a99d8691883dfebbc783046fb963437ce90b313ad0b81cab451fc17b"),
            RemoteFile(f"{_HF}/aharley/rvl_cdip/resolve/main/data/val.txt", "labels/val.txt",
                       1_716_111, "748483211bda619ab5fc3d395bd7dbfb6cac025753a13fc6abe500280e4e963a"),
            RemoteFile(f"{_HF}/aharley/rvl_cdip/resolve/main/data/test.txt", "labels/test.txt",
                       1_717_144, "97699c1c56425c4482632742381289b7bf855c23cd020253d7cb29df638ba1a3"),
        ),
        note="Sizes and sha256 are the ones published in huggingface/datasets' dataset_infos.json for "
             "rvl_cdip (URLs then under datasets/rvl_cdip, now aharley/rvl_cdip). Revision 'main' is not a "
             "commit hash; the checksums pin the content instead. test.txt line 33670 (index 33669) names "
             "an unreadable image.",
        layout="images/<...>.tif (label-file paths are relative to images/), labels/{train,val,test}.txt",
    ),
    DatasetSource(
        name="rvl_cdip_n",
        title="RVL-CDIP-N (out-of-distribution test set, 12 of the 16 classes)",
        homepage="https://github.com/gxlarson/rvl-cdip-ood",
        hf_dataset="jordyvl/RVL-CDIP-N",
        revision="main",
        licence="CC BY-NC 3.0 per the NeurIPS 2022 datasets-track entry (the HF card says cc-by-3.0); "
                "documents from public web sources, research use.",
        files=tuple(
            RemoteFile(f"{_HF}/jordyvl/RVL-CDIP-N/resolve/main/data/{shard}", f"parquet/{shard}")
            for shard in (
                "test-00000-of-00005-cef488e4b4dd5501.parquet",
                "test-00001-of-00005-a29fe609092d15f7.parquet",
                "test-00002-of-00005-a40cf935141ff044.parquet",
                "test-00003-of-00005-dfc3810e5fb885f0.parquet",
                "test-00004-of-00005-45917f075debcae2.parquet",
            )
        ),
        note="No size/sha256 published (None). Shard names are from the HF file listing at main (last seen "
             "commit ddb0790, full hash not verified). These are parquet shards (image bytes + label), not the "
             "folder-per-class layout that distildoc.data.rvlcdip.load_rvl_cdip_n reads: that layout is the "
             "authors' release linked from the homepage (a cloud-drive link, not pinned here). The pipeline's rule "
             "rvl_cdip_n_labels (rvlcdip.prepare_rvl_cdip_n, needs pyarrow) unpacks the shards into that layout.",
        layout="parquet/test-0000k-of-00005-*.parquet",
    ),
    DatasetSource(
        name="tobacco3482",
        title="Tobacco-3482 (3,482 document images, 10 classes)",
        homepage="https://www.kaggle.com/datasets/patrickaudriaz/tobacco3482jpg",
        hf_dataset="sasa3396/tobacco3482",
        revision="main",
        licence=f"Documents from the UCSF Legacy Tobacco Document Library; terms: {_UCSF_TERMS}. Research use.",
        files=(RemoteFile(f"{_HF}/sasa3396/tobacco3482/resolve/main/data/tobacco3482.tar.gz", "tobacco3482.tar.gz",
                          extract=True),),
        note="Third-party mirror (used by other loaders); the original UMD host is offline. No size/sha256 "
             "published (None); archive layout not verified -- point load_tobacco3482 at the folder that holds "
             "ADVE/ Email/ ... The split is ours (split_tobacco3482: 800/200/rest, seed 42), not the mirror's.",
        layout="<class>/<image> after extraction (one folder per class)",
    ),
    DatasetSource(
        name="doclaynet",
        title="DocLayNet core (80,863 pages, COCO, 11 categories)",
        homepage="https://github.com/DS4SD/DocLayNet",
        hf_dataset="ds4sd/DocLayNet",
        revision=None,
        licence="CDLA-Permissive-1.0 (IBM).",
        files=(RemoteFile("https://codait-cos-dax.s3.us.cloud-object-storage.appdomain.cloud/dax-doclaynet/1.0.0/"
                          "DocLayNet_core.zip", "DocLayNet_core.zip", extract=True),),
        note="Official IBM download of version 1.0.0 (~28 GB). No size/sha256 published (None). Annotations "
             "carry 'precedence'; keep precedence 0 (coco.filter_doclaynet_precedence).",
        layout="COCO/{train,val,test}.json, PNG/<page hash>.png (1025x1025)",
    ),
    DatasetSource(
        name="prima",
        title="PRImA Layout Analysis Dataset (PAGE XML ground truth)",
        homepage="https://www.primaresearch.org/datasets/Layout_Analysis",
        licence="Free for non-commercial research after registration with PRImA Research Lab (University of "
                "Salford); redistribution not allowed.",
        manual=True,
        note="No public direct URL: register at the homepage, download the dataset and unpack it into "
             "data/raw/prima/ (images + PAGE XML), then re-run. distildoc.data.prima.convert_prima makes COCO.",
        layout="<page>.tif + <page>.xml (PAGE XML)",
    ),
    DatasetSource(
        name="docvqa",
        title="SP-DocVQA (single-page DocVQA, 50k questions on 12,767 pages) + DUE OCR",
        homepage="https://rrc.cvc.uab.es/?ch=17&com=downloads",
        licence="RRC DocVQA terms (research use; registration at rrc.cvc.uab.es); page images from the UCSF "
                f"Industry Documents Library ({_UCSF_TERMS}). DUE files: DUE benchmark terms.",
        files=(
            RemoteFile(f"{_RRC}/Task1/spdocvqa_qas.zip", "spdocvqa_qas.zip", extract=True),
            RemoteFile(f"{_RRC}/Task1/spdocvqa_images.tar.gz", "spdocvqa_images.tar.gz", extract=True),
            RemoteFile(f"{_RRC}/Task1/spdocvqa_ocr.tar.gz", "spdocvqa_ocr.tar.gz", extract=True),
            RemoteFile(f"{_DUE}/DocVQA.tar.gz", "due_DocVQA.tar.gz", extract=True),
        ),
        note="'Direct URL' links of the RRC downloads page (may require being logged in to the RRC portal) and "
             "the DUE benchmark's public archive. No size/sha256 published (None).",
        layout="spdocvqa_qas/{train,val,test}_v1.0_withQT.json, spdocvqa_images/*.png, spdocvqa_ocr/*.json, "
               "DocVQA/documents_content.jsonl (DUE OCR: microsoft_cv, tesseract)",
    ),
    DatasetSource(
        name="infographicvqa",
        title="InfographicVQA (30k questions on 5.4k infographics) + DUE OCR",
        homepage="https://rrc.cvc.uab.es/?ch=17&com=downloads",
        licence="RRC InfographicVQA terms (research use; registration at rrc.cvc.uab.es); infographics collected "
                "from the web, copyright of their owners. DUE files: DUE benchmark terms.",
        files=(
            RemoteFile(f"{_RRC}/Task3/infographicsvqa_qas.zip", "infographicsvqa_qas.zip", extract=True),
            RemoteFile(f"{_RRC}/Task3/infographicsvqa_images.tar.gz", "infographicsvqa_images.tar.gz", extract=True),
            RemoteFile(f"{_RRC}/Task3/infographicsvqa_ocr.tar.gz", "infographicsvqa_ocr.tar.gz", extract=True),
            RemoteFile(f"{_DUE}/InfographicsVQA.tar.gz", "due_InfographicsVQA.tar.gz", extract=True),
        ),
        note="URLs as used by public download scripts for the RRC Task 3 files (not verified here) and the DUE "
             "archive. No size/sha256 published (None).",
        layout="infographicsvqa_qas/*.json, infographicsvqa_images/*, DUE InfographicsVQA/documents_content.jsonl",
    ),
)}


def get_source(name: str) -> DatasetSource:
    """The registry entry of `name`; KeyError lists the known names."""
    try:
        return SOURCES[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(SOURCES)}") from None


def list_sources() -> list[DatasetSource]:
    return list(SOURCES.values())


# --------------------------------------------------------------------------------------------- download


def mirror_base(mirror: str | None = None) -> str | None:
    """The mirror base URL in use: `mirror` if given (``""`` = none), else ``$DISTILDOC_MIRROR``, else None."""
    base = os.environ.get(MIRROR_ENV, "") if mirror is None else mirror
    return base.rstrip("/") or None


def file_url(source: DatasetSource, rf: RemoteFile, mirror: str | None = None) -> str:
    """Where `rf` is fetched from: its registry URL, or ``<mirror>/<dataset>/<filename>`` with a mirror set."""
    base = mirror_base(mirror)
    if base is None:
        return rf.url
    return f"{base}/{urllib.parse.quote(source.name)}/{urllib.parse.quote(rf.filename)}"


_OVERRIDE_KEYS = {"sha256", "size"}


def override_path(registry_override: str | os.PathLike | None = None) -> Path | None:
    """The override file in use: `registry_override` if given (``""`` = none), else ``$DISTILDOC_REGISTRY_OVERRIDE``."""
    value = os.environ.get(OVERRIDE_ENV, "") if registry_override is None else str(registry_override)
    return Path(value) if value else None


def load_registry_override(path: str | os.PathLike) -> dict[str, dict[str, dict]]:
    """Read and check a registry override file: ``{dataset: {filename: {"sha256": hex, "size": bytes}}}``.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: naming the file and the offending key / value: not a JSON object, an unknown dataset or
            file of the registry, an unknown field, a missing or malformed ``sha256`` (64 hex digits), a
            ``size`` that is not a positive integer.
    """
    import json

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"registry override file {path} ({OVERRIDE_ENV}) does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"registry override {path}: not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"registry override {path}: expected an object {{dataset: {{filename: {{sha256, size}}}}}}")
    for name, files in data.items():
        if name not in SOURCES:
            raise ValueError(f"registry override {path}: unknown dataset {name!r}; known: {', '.join(SOURCES)}")
        known = {rf.filename for rf in SOURCES[name].files}
        if not isinstance(files, dict):
            raise ValueError(f"registry override {path}: {name}: expected an object filename -> {{sha256, size}}")
        for filename, entry in files.items():
            where = f"registry override {path}: {name}/{filename}"
            if filename not in known:
                raise ValueError(f"{where}: not a file of dataset {name!r}; its files: {', '.join(sorted(known)) or 'none'}")
            if not isinstance(entry, dict) or set(entry) - _OVERRIDE_KEYS:
                extra = sorted(set(entry) - _OVERRIDE_KEYS) if isinstance(entry, dict) else entry
                raise ValueError(f"{where}: unknown field(s) {extra!r}; allowed: sha256, size")
            digest = entry.get("sha256")
            if not (isinstance(digest, str) and len(digest) == 64
                    and all(c in "0123456789abcdef" for c in digest.lower())):
                raise ValueError(f"{where}: sha256 must be 64 hex digits (an override never removes a checksum), "
                                 f"got {digest!r}")
            size = entry.get("size")
            if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
                raise ValueError(f"{where}: size must be a positive integer, got {size!r}")
    return data


def apply_registry_override(source: DatasetSource, override: dict[str, dict[str, dict]] | None) -> DatasetSource:
    """`source` with the sha256 / size of the files `override` lists replaced (the URLs and the rest unchanged)."""
    entries = (override or {}).get(source.name)
    if not entries:
        return source
    import dataclasses

    files = tuple(
        dataclasses.replace(rf, sha256=entries[rf.filename]["sha256"].lower(), size=entries[rf.filename].get("size"))
        if rf.filename in entries else rf
        for rf in source.files
    )
    return dataclasses.replace(source, files=files)


class DownloadError(RuntimeError):
    """A transfer that failed for good (unreachable host, HTTP error, size mismatch)."""


class DownloadInterrupted(DownloadError):
    """The connection broke mid-stream; ``received`` bytes of this attempt are kept in ``part``."""

    def __init__(self, message: str, received: int, part: Path) -> None:
        super().__init__(message)
        self.received = received
        self.part = part


def _sha256_of(path: Path) -> "hashlib._Hash":
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h


class ResumableDownloader:
    """A pooch downloader (``downloader(url, output_file, pooch)``) that resumes partial files.

    It streams `url` into `part` (kept across attempts and runs), continuing a partial file with an HTTP
    ``Range`` request when the server answers ``206`` (a ``200`` restarts from zero, a ``416`` drops the part
    file and restarts), shows a tqdm bar, checks `size` when known, measures the sha256 (:attr:`sha256`) and
    finally moves the part file onto pooch's temporary `output_file`; pooch then verifies the sha256 and
    places the file. Raises :class:`DownloadError` / :class:`DownloadInterrupted` (neither a ``ValueError``
    nor a ``requests`` exception, so pooch does not retry them itself).
    """

    def __init__(self, part: Path, *, size: int | None = None, timeout: float = 60.0, progressbar: bool = True,
                 desc: str = "") -> None:
        self.part = Path(part)
        self.size = size
        self.timeout = timeout
        self.progressbar = progressbar
        self.desc = desc
        self.sha256: str | None = None
        self.requests = 0

    def _get(self, url: str, start: int) -> requests.Response:
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if start:
            headers["Range"] = f"bytes={start}-"
        self.requests += 1
        try:
            resp = requests.get(url, headers=headers, stream=True, timeout=(self.timeout, self.timeout))
        except requests.RequestException as err:
            raise DownloadError(f"cannot reach {url}: {err}") from err
        if resp.status_code >= 400 and not (resp.status_code == 416 and start):
            resp.close()
            hint = " (registration / login may be required)" if resp.status_code in (401, 403) else ""
            raise DownloadError(f"HTTP {resp.status_code} {resp.reason} for {url}{hint}")
        return resp

    def __call__(self, url: str, output_file: str, pup: pooch.Pooch | None, check_only: bool = False) -> bool | None:
        if check_only:  # pooch's availability check
            return requests.head(url, timeout=self.timeout, allow_redirects=True).status_code == 200
        part = self.part
        part.parent.mkdir(parents=True, exist_ok=True)
        have = part.stat().st_size if part.exists() else 0
        if self.size is not None and have > self.size:
            part.unlink()
            have = 0
        if self.size is not None and have == self.size and have > 0:
            log.info("%s: %s already fully downloaded", self.desc, part.name)
            self.sha256 = _sha256_of(part).hexdigest()
        else:
            self._stream(url, have)
        size = part.stat().st_size
        if self.size is not None and size != self.size:
            part.unlink()
            raise DownloadError(f"{url} gave {size} bytes, expected {self.size}")
        os.replace(part, output_file)  # pooch checks the sha256 of output_file, then moves it into place
        return None

    def _stream(self, url: str, have: int) -> None:
        part = self.part
        resp = self._get(url, have)
        if resp.status_code == 416:  # the partial file does not fit the remote one: start over
            log.info("%s: server refused to resume %s; restarting", self.desc, url)
            resp.close()
            part.unlink()
            have = 0
            resp = self._get(url, 0)
        resumed = bool(have) and resp.status_code == 206
        if resumed and not resp.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
            resp.close()  # a 206 from another offset: start over
            resp, resumed = self._get(url, 0), False
        if have and not resumed:
            log.info("%s: server ignored the Range request for %s; restarting", self.desc, url)
        elif resumed:
            log.info("%s: resuming %s at byte %d", self.desc, url, have)
        hasher = _sha256_of(part) if resumed else hashlib.sha256()
        done = have if resumed else 0
        length = int(resp.headers.get("Content-Length") or 0)
        total = self.size or (done + length if length else None)
        received = 0
        with resp, part.open("ab" if resumed else "wb") as fh, tqdm(
            total=total, initial=done, unit="B", unit_scale=True, unit_divisor=1024, desc=self.desc,
            disable=not self.progressbar,
        ) as bar:
            blocks = resp.raw.stream(CHUNK, decode_content=False)  # the bytes as sent: no gunzip
            while True:
                try:  # only reading counts as an interruption; a failed write (disk full) is raised as is
                    block = next(blocks, None)
                except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as err:
                    fh.flush()
                    raise DownloadInterrupted(f"interrupted reading {url} after {done + received} bytes: {err} "
                                              f"(partial file kept at {part})", received, part) from err
                if block is None:
                    break
                fh.write(block)
                hasher.update(block)
                received += len(block)
                bar.update(len(block))
        self.sha256 = hasher.hexdigest()


def _extract(source: DatasetSource, archive: Path, dest: Path) -> list[str]:
    """Unpack a tar (any compression) or zip archive into `dest`; returns the top-level names."""
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive, "r:*") as tar:
            names = tar.getnames()
            tar.extractall(dest, filter="data")
    elif zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            zf.extractall(dest)
    else:
        raise RuntimeError(f"dataset {source.name!r}: {archive.name} is neither a tar nor a zip archive")
    tops = sorted({n.split("/", 1)[0] for n in names if n and not n.startswith(("/", ".."))})
    log.info("%s: extracted %d members of %s into %s (top level: %s)", source.name, len(names), archive.name, dest,
             ", ".join(tops[:10]))
    return tops


def _record_name(filename: str) -> str:
    return filename.replace("/", "__")


def _pooch_for(source: DatasetSource, dest: Path, mirror: str | None) -> pooch.Pooch:
    """One pooch per dataset: cache = the dataset folder, registry = our sha256s, URLs = registry or mirror."""
    return pooch.create(
        path=dest,
        base_url=f"{mirror_base(mirror) or source.homepage}/",
        registry={rf.filename: (f"sha256:{rf.sha256.lower()}" if rf.sha256 else None) for rf in source.files},
        urls={rf.filename: file_url(source, rf, mirror) for rf in source.files},
        retry_if_failed=0,  # retries (resuming) are ours: pooch's would restart from zero, also on a bad sha256
    )


def _fetch(source: DatasetSource, rf: RemoteFile, pup: pooch.Pooch, state: Path, *, timeout: float,
           progress: bool, retries: int) -> tuple[Path, str]:
    """Fetch one file through pooch; returns its path and its sha256. Errors -> RuntimeError."""
    url = pup.get_url(rf.filename)
    part = state / f"{_record_name(rf.filename)}.part"
    dl = ResumableDownloader(part, size=rf.size, timeout=timeout, progressbar=progress,
                             desc=f"{source.name}/{rf.filename}")
    attempt = 0
    while True:
        try:
            path = Path(pup.fetch(rf.filename, downloader=dl))
            break
        except DownloadInterrupted as err:
            if err.received > 0 and attempt < retries:  # progress was made: resume from the part file
                attempt += 1
                log.warning("%s: %s; resuming (retry %d of %d)", source.name, err, attempt, retries)
                time.sleep(RETRY_WAIT)
                continue
            raise RuntimeError(f"download of dataset {source.name!r} {err}") from err
        except DownloadError as err:
            raise RuntimeError(f"download of dataset {source.name!r} failed: {err}") from err
        except ValueError as err:  # pooch's sha256 check: the temporary file is already deleted
            raise RuntimeError(
                f"download of dataset {source.name!r}: sha256 mismatch for {rf.filename} from {url}: "
                f"expected {rf.sha256}, got {dl.sha256 or f'? ({err})'} (the download was deleted; files "
                f"downloaded before are kept)") from err
    if dl.sha256 is None:  # already present with the right sha256: pooch downloaded nothing
        dl.sha256 = rf.sha256.lower() if rf.sha256 else _sha256_of(path).hexdigest()
        log.info("%s: %s already present (%s)", source.name, rf.filename, dl.sha256)
    elif rf.sha256 is None:
        log.warning("%s: %s has no published sha256; measured %s (%d bytes), recorded", source.name,
                    rf.filename, dl.sha256, path.stat().st_size)
    return path, dl.sha256


def _recorded(rec: dict, rf: RemoteFile, dest: Path) -> list[Path] | None:
    """What a finished record placed, if it still stands (same URL and sha256, paths present), else None."""
    if rec.get("url") != rf.url or (rf.sha256 is not None and rec.get("sha256") != rf.sha256.lower()):
        return None
    placed = [dest / t for t in rec.get("extracted", [])] or [dest / rf.filename]
    return placed if all(p.exists() for p in placed) else None


def download(
    name: str | DatasetSource,
    dest_root: str | os.PathLike = "data/raw",
    *,
    timeout: float = 60.0,
    keep_archives: bool = False,
    progress: bool = True,
    mirror: str | None = None,
    retries: int = 5,
    registry_override: str | os.PathLike | None = None,
) -> list[Path]:
    """Fetch, verify and place every file of a dataset under ``dest_root/<name>``.

    Args:
        name: a registry name (:data:`SOURCES`) or a :class:`DatasetSource`.
        dest_root: the download root (the pipeline uses ``data/raw``).
        timeout: seconds a connection or a read may stall before failing (no hang on a dead host).
        keep_archives: keep extracted archives (under their ``filename``) instead of deleting them.
        progress: tqdm progress bars.
        mirror: base URL replacing every registry URL (``<mirror>/<name>/<filename>``); None reads
            ``$DISTILDOC_MIRROR``, ``""`` uses the registry URLs.
        retries: how many times a connection that dropped mid-stream is resumed before giving up (an
            unreachable host or an HTTP error fails at once).
        registry_override: a JSON file of checksums replacing the registry's for the files it lists (see
            :func:`load_registry_override`); None reads ``$DISTILDOC_REGISTRY_OVERRIDE``, ``""`` uses none.
            Only accepted together with a mirror.

    Returns:
        The files placed and the top-level paths extracted (already-complete files are included).

    Raises:
        RuntimeError: naming the dataset and URL, for an unreachable host, an HTTP error, a size or sha256
            mismatch (with the file name and both checksums), or a ``manual`` dataset whose folder is empty.
    """
    source = get_source(name) if isinstance(name, str) else name
    override_file = override_path(registry_override)
    if override_file is not None:
        if mirror_base(mirror) is None:
            raise RuntimeError(f"dataset {source.name!r}: the registry override {override_file} ({OVERRIDE_ENV}) "
                               f"replaces checksums of files served by a mirror; set {MIRROR_ENV} too (the "
                               "registry's own URLs are always checked against the published checksums)")
        source = apply_registry_override(source, load_registry_override(override_file))
    dest = source.target(dest_root)
    if source.manual:
        present = [p for p in dest.rglob("*") if p.is_file() and not p.name.startswith(".")] if dest.is_dir() else []
        if not present:
            raise RuntimeError(f"dataset {source.name!r} cannot be downloaded automatically: {source.note} "
                               f"Homepage: {source.homepage}. Expected folder: {dest}")
        log.info("%s: manual dataset present (%d files in %s)", source.name, len(present), dest)
        return [dest]
    state = dest / ".downloads"
    state.mkdir(parents=True, exist_ok=True)
    pup = _pooch_for(source, dest, mirror)
    written: list[Path] = []
    for rf in source.files:
        record_path = state / f"{_record_name(rf.filename)}.json"
        if record_path.is_file() and (placed := _recorded(read_json(record_path), rf, dest)) is not None:
            log.info("%s: %s already downloaded (recorded in %s)", source.name, rf.filename, record_path)
            written += placed
            continue
        log.info("%s: fetching %s -> %s", source.name, pup.get_url(rf.filename), dest / rf.filename)
        path, digest = _fetch(source, rf, pup, state, timeout=timeout, progress=progress, retries=retries)
        size = path.stat().st_size
        extracted: list[str] = []
        if rf.extract:
            extracted = _extract(source, path, dest)
            if not keep_archives:
                path.unlink()
            written += [dest / t for t in extracted]
        else:
            written.append(path)
        published = next((f.sha256 for f in get_source(source.name).files if f.filename == rf.filename), None) \
            if source.name in SOURCES else rf.sha256
        write_json(record_path, {"dataset": source.name, "url": rf.url, "fetched_from": pup.get_url(rf.filename),
                                 "filename": rf.filename, "bytes": size, "sha256": digest,
                                 "published_sha256": published, "expected_sha256": rf.sha256,
                                 "registry_override": str(override_file) if override_file else None,
                                 "extracted": extracted})
        log.info("%s: %s ok (%d bytes, sha256 %s)", source.name, rf.filename, size, digest)
    return written


def remove_partial(name: str | DatasetSource, dest_root: str | os.PathLike = "data/raw") -> None:
    """Delete a dataset's bookkeeping (``.downloads``: records and part files), forcing fresh downloads."""
    source = get_source(name) if isinstance(name, str) else name
    shutil.rmtree(source.target(dest_root) / ".downloads", ignore_errors=True)
