"""OCR sources of the DocVQA stage, all returning ``doc id -> OcrPage``.

=============  =========================================================================================
source         what is read
=============  =========================================================================================
``due``        a DUE ``documents_content.jsonl`` (the paper used its ``microsoft_cv`` layer: Azure
               Read OCR) through :func:`distildoc.data.due.read_due_jsonl`
``synthetic``  the embedded benchmark's DUE files (``<root>/<dataset>/ocr/<split>.jsonl``, tool name
               ``synthetic``)
``tesseract``  page images run through Tesseract (Debian ``tesseract-ocr`` + PyPI ``pytesseract``)
=============  =========================================================================================

Tesseract words (:func:`tesseract_page`):

* ``pytesseract.image_to_data`` with a fixed config (default ``--psm 3 --oem 1``: automatic page
  segmentation, LSTM engine) and language ``eng``. The subprocess inherits the environment: set
  ``OMP_THREAD_LIMIT=1`` when OCR'ing pages in parallel (``workers > 1``), Debian's build uses OpenMP;
* only word-level rows (level 5) with confidence > 0 and non-blank text are kept, i.e. Tesseract's
  "document" words; the confidences (0..1) go to ``meta["scores"]``;
* words are grouped into OCR lines by ``(page, block, paragraph, line)``, in Tesseract's reading
  order (the order of ``image_to_data`` rows, not re-sorted);
* boxes are ``(left, top, left + width, top + height)`` in image pixels, clipped to the page; the page
  size is the image size (a multi-frame image is read from its first frame only).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from distildoc.data.docvqa import VqaQuestion
from distildoc.data.due import from_due_record, read_due_jsonl
from distildoc.data.ocr import Box, OcrPage
from distildoc.utils.io import read_jsonl

log = logging.getLogger(__name__)

OCR_SOURCES: tuple[str, ...] = ("due", "tesseract", "synthetic")

#: DUE tool name read by each DUE-backed source by default.
DEFAULT_TOOL: dict[str, str] = {"due": "microsoft_cv", "synthetic": "synthetic"}

DEFAULT_TESSERACT_CONFIG = "--psm 3 --oem 1"
DEFAULT_TESSERACT_LANG = "eng"
TESSERACT_APT_PACKAGE = "tesseract-ocr"
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")

_CMD_LOCK = threading.Lock()


class TesseractNotAvailable(RuntimeError):
    """The ``tesseract`` binary or the ``pytesseract`` package is missing."""


# --------------------------------------------------------------------------------------------- entry


def load_ocr(
    source: str,
    path: str | os.PathLike | None = None,
    *,
    tool_name: str | None = None,
    strict: bool = True,
    images: Mapping[str, str | os.PathLike] | None = None,
    doc_ids: Iterable[str] | None = None,
    config: str = DEFAULT_TESSERACT_CONFIG,
    lang: str = DEFAULT_TESSERACT_LANG,
    workers: int = 1,
    tesseract_cmd: str | None = None,
) -> dict[str, OcrPage]:
    """``doc id -> OcrPage`` from one OCR source.

    Args:
        source: ``due``, ``synthetic`` or ``tesseract``.
        path: ``due`` / ``synthetic``: the ``documents_content.jsonl`` file. ``tesseract``: a folder of
            page images (``<doc id>.<png|jpg|tif|...>``; ignored when `images` is given).
        tool_name: DUE layer to read (default ``microsoft_cv`` for ``due``, ``synthetic`` for
            ``synthetic``).
        strict: DUE sources only: a document without `tool_name` raises (default) instead of silently
            falling back to another OCR engine.
        images: ``tesseract`` only: explicit ``doc id -> image path``.
        doc_ids: restrict the result to these ids (e.g. the pages the questions are asked on); for
            ``tesseract`` only these images are OCR'd. A requested id without OCR / image raises
            KeyError naming up to ten of them.
        config, lang, tesseract_cmd: Tesseract settings (see :func:`tesseract_page`).
        workers: Tesseract pages OCR'd concurrently (one subprocess each; a custom `tesseract_cmd` is a
            pytesseract global, so pages run one at a time then).
    """
    if source not in OCR_SOURCES:
        raise ValueError(f"unknown OCR source {source!r}; allowed: {', '.join(OCR_SOURCES)}")
    wanted = None if doc_ids is None else list(dict.fromkeys(str(d) for d in doc_ids))

    if source in ("due", "synthetic"):
        if path is None:
            raise ValueError(f"OCR source {source!r} needs the path of a DUE documents_content.jsonl")
        tool = tool_name or DEFAULT_TOOL[source]
        if wanted is None:
            return read_due_jsonl(path, tool, strict=strict)
        pages = _read_due_subset(Path(path), tool, strict, set(wanted))
        _check_missing(wanted, pages, f"{path} ({source} OCR)")
        return {d: pages[d] for d in wanted}

    # tesseract
    if images is None:
        if path is None:
            raise ValueError("OCR source 'tesseract' needs an image folder (path=) or images={doc id: image}")
        images = find_images(path)
    images = {str(k): Path(v) for k, v in images.items()}
    ids = list(images) if wanted is None else wanted
    _check_missing(ids, images, f"images ({path if path is not None else 'images='})")
    check_tesseract(tesseract_cmd)

    def run(doc_id: str) -> OcrPage:
        return tesseract_page(images[doc_id], doc_id, config=config, lang=lang, tesseract_cmd=tesseract_cmd)

    if workers > 1 and len(ids) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(run, ids))
    else:
        results = [run(d) for d in ids]
    log.info("tesseract OCR: %d pages, %d words", len(results), sum(len(p.words) for p in results))
    return dict(zip(ids, results))


def _read_due_subset(path: Path, tool_name: str, strict: bool, wanted: set[str]) -> dict[str, OcrPage]:
    """The pages of `wanted` documents only (other records are not converted, so need not be valid)."""
    pages: dict[str, OcrPage] = {}
    for lineno, record in enumerate(read_jsonl(path), 1):
        name = str(record.get("name")) if isinstance(record, dict) else None
        if name not in wanted:
            continue
        if name in pages:
            raise ValueError(f"{path}, record {lineno}: document {name!r} appears twice")
        try:
            pages[name] = from_due_record(record, tool_name, strict)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{path}, record {lineno}: {err}") from err
    log.info("read %d of the requested %d DUE documents (%s OCR) from %s", len(pages), len(wanted), tool_name, path)
    return pages


def find_images(folder: str | os.PathLike) -> dict[str, Path]:
    """``image stem -> path`` of the page images directly inside `folder` (sorted by name)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist")
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            if p.stem in out:
                raise ValueError(f"{folder}: two images for page {p.stem!r}: {out[p.stem].name}, {p.name}")
            out[p.stem] = p
    return out


def page_key(question: VqaQuestion, pages: Mapping[str, Any]) -> str:
    """The key of `question`'s page in an OCR dict.

    Tries ``question.page_id`` (``<ucsf_document_id>_<page no>``), then the image stem (DocVQA's
    ``documents/<id>.png``), then ``ucsf_document_id`` alone (the synthetic benchmark names its OCR
    pages by ``ucsf_document_id`` and numbers every page ``1``). KeyError when none is present.
    """
    candidates = [question.page_id, Path(question.image).stem]
    if question.ucsf_document_id is not None:
        candidates.append(str(question.ucsf_document_id))
    for key in candidates:
        if key in pages:
            return key
    raise KeyError(f"question {question.question_id!r}: no OCR page under any of {', '.join(dict.fromkeys(candidates))}")


def _check_missing(wanted: Sequence[str], have: Mapping[str, Any], where: str) -> None:
    missing = [d for d in wanted if d not in have]
    if missing:
        more = f" (+{len(missing) - 10} more)" if len(missing) > 10 else ""
        raise KeyError(f"{where}: no page for {len(missing)} requested id(s): {', '.join(missing[:10])}{more}")


# ----------------------------------------------------------------------------------------- tesseract


def _import_pytesseract():
    try:
        import pytesseract
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise TesseractNotAvailable(
            "the 'tesseract' OCR source needs the PyPI package 'pytesseract' (pip install pytesseract) and "
            f"the Tesseract binary (apt-get install {TESSERACT_APT_PACKAGE})"
        ) from err
    return pytesseract


def check_tesseract(tesseract_cmd: str | None = None) -> str:
    """Return the Tesseract version string; TesseractNotAvailable naming the apt package when missing."""
    pytesseract = _import_pytesseract()
    cmd = tesseract_cmd or pytesseract.pytesseract.tesseract_cmd
    if shutil.which(cmd) is None:
        raise TesseractNotAvailable(
            f"the Tesseract binary {cmd!r} was not found on PATH; install the Debian/Ubuntu package "
            f"'{TESSERACT_APT_PACKAGE}' (apt-get install {TESSERACT_APT_PACKAGE}) or pass tesseract_cmd="
        )
    with _tesseract_cmd(pytesseract, tesseract_cmd):
        try:
            return str(pytesseract.get_tesseract_version())
        except pytesseract.TesseractNotFoundError as err:
            raise TesseractNotAvailable(
                f"the Tesseract binary {cmd!r} could not be run; install '{TESSERACT_APT_PACKAGE}'"
            ) from err


@contextlib.contextmanager
def _tesseract_cmd(pytesseract, cmd: str | None):
    """Temporarily point pytesseract at `cmd` (its command is a module global; serialised by a lock)."""
    if cmd is None or cmd == pytesseract.pytesseract.tesseract_cmd:
        yield
        return
    with _CMD_LOCK:
        old_cmd = pytesseract.pytesseract.tesseract_cmd
        pytesseract.pytesseract.tesseract_cmd = cmd
        try:
            yield
        finally:
            pytesseract.pytesseract.tesseract_cmd = old_cmd


def tesseract_page(
    image_path: str | os.PathLike,
    doc_id: str,
    *,
    config: str = DEFAULT_TESSERACT_CONFIG,
    lang: str = DEFAULT_TESSERACT_LANG,
    tesseract_cmd: str | None = None,
    timeout: float = 0,
) -> OcrPage:
    """OCR one page image with Tesseract (see the module docstring for the rules).

    Raises FileNotFoundError for a missing image and :class:`TesseractNotAvailable` (naming the apt
    package) when the binary is missing; a failing Tesseract run raises RuntimeError naming the image.
    """
    from PIL import Image

    pytesseract = _import_pytesseract()
    image_path = Path(image_path)
    if not image_path.is_file():
        raise FileNotFoundError(f"page image {image_path} (page {doc_id!r}) does not exist")
    cmd = tesseract_cmd or pytesseract.pytesseract.tesseract_cmd
    if shutil.which(cmd) is None:
        check_tesseract(tesseract_cmd)  # raises with the install hint
    with Image.open(image_path) as im:
        im.seek(0)
        image = im.convert("RGB") if im.mode not in ("L", "RGB") else im.copy()
    return tesseract_image(image, doc_id, config=config, lang=lang, tesseract_cmd=tesseract_cmd, timeout=timeout,
                           meta={"image": str(image_path)}, where=str(image_path))


def tesseract_image(
    image,
    doc_id: str,
    *,
    config: str = DEFAULT_TESSERACT_CONFIG,
    lang: str = DEFAULT_TESSERACT_LANG,
    tesseract_cmd: str | None = None,
    timeout: float = 0,
    meta: dict | None = None,
    where: str | None = None,
) -> OcrPage:
    """OCR one decoded page (a PIL image, e.g. a rendered PDF page) with Tesseract: the rules of
    :func:`tesseract_page`, which reads a file and calls this. `where` names the page in errors."""
    pytesseract = _import_pytesseract()
    cmd = tesseract_cmd or pytesseract.pytesseract.tesseract_cmd
    if shutil.which(cmd) is None:
        check_tesseract(tesseract_cmd)  # raises with the install hint
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    width, height = image.size
    with _tesseract_cmd(pytesseract, tesseract_cmd):
        try:
            data = pytesseract.image_to_data(image, lang=lang, config=config, timeout=timeout,
                                             output_type=pytesseract.Output.DICT)
        except pytesseract.TesseractNotFoundError as err:
            raise TesseractNotAvailable(
                f"the Tesseract binary {cmd!r} could not be run; install '{TESSERACT_APT_PACKAGE}'") from err
        except (pytesseract.TesseractError, RuntimeError) as err:
            raise RuntimeError(f"tesseract failed on {where or doc_id} (page {doc_id!r}): {err}") from err
    return page_from_tesseract_data(data, doc_id, width, height, meta={
        **(meta or {}), "tesseract_config": config, "tesseract_lang": lang})


def page_from_tesseract_data(
    data: Mapping[str, Sequence], doc_id: str, width: int, height: int, meta: dict | None = None
) -> OcrPage:
    """Build an :class:`OcrPage` from ``image_to_data`` columns (strings or numbers)."""
    words: list[str] = []
    boxes: list[Box] = []
    scores: list[float] = []
    lines: list[tuple[int, int]] = []
    current_key = None
    n = len(data.get("text", []))
    for i in range(n):
        if int(float(data["level"][i])) != 5:
            continue
        conf = float(data["conf"][i])
        word = str(data["text"][i]).strip()
        if conf <= 0 or not word:
            continue
        key = tuple(int(float(data[k][i])) for k in ("page_num", "block_num", "par_num", "line_num"))
        if key != current_key:
            lines.append((len(words), len(words)))
            current_key = key
        left, top = float(data["left"][i]), float(data["top"][i])
        w, h = float(data["width"][i]), float(data["height"][i])
        x1, y1 = min(max(left, 0.0), width), min(max(top, 0.0), height)
        x2, y2 = min(max(left + w, 0.0), width), min(max(top + h, 0.0), height)
        words.append(word)
        boxes.append((x1, y1, x2, y2))
        scores.append(round(conf / 100.0, 4))
        lines[-1] = (lines[-1][0], len(words))
    out_meta = dict(meta or {})
    out_meta["scores"] = scores
    return OcrPage(doc_id, words, boxes, lines, int(width), int(height), source="tesseract", meta=out_meta)
