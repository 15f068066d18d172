"""Pages for inference outside the pipeline: expanding files / folders / globs, decoding images and PDFs,
and the exact input tensors the exported models take.

Classifier input (what ``TensorSplit.batch`` gives the models in training, from pages decoded by
``distildoc.data.rvlcdip.load_image``): the page converted to grayscale (PIL ``"L"``), resized to
``img_size × img_size`` with PIL bilinear resampling (aspect ratio not kept), scaled to [0, 1], normalised
with mean 0.5 / std 0.5 (so [-1, 1]) and replicated to 3 channels: float32 ``N×3×S×S``.

Detector input: the page converted to RGB and scaled to [0, 1] at its own size, float32 ``1×3×H×W`` (the
PyTorch detectors take the same, as ``distildoc.evaluate.detection.load_image`` decodes files; the ONNX
exports resize it to their fixed size inside the graph).
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.images import UNREADABLE_ERRORS
from ..data.tensors import MEAN, STD

log = logging.getLogger(__name__)

#: page files the CLI picks up from folders and globs (case-insensitive)
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
PDF_SUFFIX = ".pdf"
PAGE_SUFFIXES: tuple[str, ...] = IMAGE_SUFFIXES + (PDF_SUFFIX,)
#: resolution PDF pages are rendered at unless told otherwise (RVL-CDIP scans are ~100-200 dpi)
DEFAULT_PDF_DPI = 150

#: the classifier preprocessing as config.json records it
CLASSIFIER_PREPROCESSING = {
    "color": "grayscale (PIL 'L')",
    "resize": "img_size x img_size, PIL bilinear, aspect ratio not kept",
    "scale": 1 / 255,
    "mean": MEAN,
    "std": STD,
    "channels": "grayscale replicated to 3 channels",
    "layout": "NCHW float32",
    "formula": "x = (gray / 255 - 0.5) / 0.5, repeated on 3 channels",
}


@dataclass
class PageSet:
    """The page files an argument list names, and the arguments that named nothing (missing paths)."""

    files: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    from_folder_or_glob: bool = False


def expand_pages(args: Sequence[str | os.PathLike], suffixes: tuple[str, ...] = PAGE_SUFFIXES) -> PageSet:
    """Files named directly (any suffix: an unreadable one is reported later), the page files directly in
    named folders (by suffix, sorted), and the page files a glob matches (``**`` recursive, sorted).
    Duplicates are kept once, in first-seen order."""
    out = PageSet()
    seen: set[Path] = set()

    def add(p: Path) -> None:
        if p not in seen:
            seen.add(p)
            out.files.append(p)

    for arg in args:
        path = Path(arg)
        if path.is_file():
            add(path)
        elif path.is_dir():
            out.from_folder_or_glob = True
            for p in sorted(path.iterdir()):
                if p.is_file() and p.suffix.lower() in suffixes:
                    add(p)
        elif glob.has_magic(str(arg)):
            out.from_folder_or_glob = True
            matches = sorted(Path(m) for m in glob.glob(str(arg), recursive=True))
            files = [m for m in matches if m.is_file() and m.suffix.lower() in suffixes]
            if not files:
                out.missing.append(str(arg))
            for p in files:
                add(p)
        else:
            out.missing.append(str(arg))
    return out


@dataclass
class Page:
    name: str  # the file path, with ``#page=N`` (1-based) for a PDF page
    path: Path
    image: Image.Image | None
    error: str | None = None


def iter_pages(files: Sequence[Path], dpi: int = DEFAULT_PDF_DPI) -> Iterator[Page]:
    """Decode each file: an image gives one page (a multi-page TIFF its first, as in training), a PDF one
    page per PDF page rendered at `dpi`. An undecodable file gives one Page with ``error`` set."""
    for path in files:
        if path.suffix.lower() == PDF_SUFFIX:
            yield from _pdf_pages(path, dpi)
            continue
        try:
            with Image.open(path) as im:
                im.load()  # force the decode: a truncated file raises here
                image = im.copy()
        except UNREADABLE_ERRORS as err:
            yield Page(str(path), path, None, str(err) or type(err).__name__)
            continue
        yield Page(str(path), path, image)


def _pdf_pages(path: Path, dpi: int) -> Iterator[Page]:
    try:
        import pypdfium2 as pdfium
    except ImportError:  # pragma: no cover - pypdfium2 is a dependency
        yield Page(str(path), path, None, "PDF input needs pypdfium2 (pip install pypdfium2)")
        return
    try:
        pdf = pdfium.PdfDocument(str(path))
    except Exception as err:  # pypdfium2 raises PdfiumError (and OSError) for broken files
        yield Page(str(path), path, None, f"unreadable PDF: {err}")
        return
    try:
        for i in range(len(pdf)):
            name = f"{path}#page={i + 1}"
            try:
                image = pdf[i].render(scale=dpi / 72.0).to_pil()
            except Exception as err:
                yield Page(name, path, None, f"PDF page not rendered: {err}")
                continue
            yield Page(name, path, image)
    finally:
        pdf.close()


def classifier_input(images: Sequence[Image.Image], img_size: int) -> np.ndarray:
    """float32 ``N×3×S×S``: grayscale, bilinear resize to ``S×S``, (x/255 - 0.5)/0.5, replicated to 3
    channels: the tensor ``TensorSplit.batch`` builds from pages decoded by ``rvlcdip.load_image``."""
    arrays = []
    for im in images:
        gray = im.convert("L").resize((img_size, img_size), Image.Resampling.BILINEAR)
        arrays.append(np.asarray(gray, dtype=np.uint8))
    x = np.stack(arrays).astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(MEAN)) / np.float32(STD)
    return np.ascontiguousarray(np.repeat(x[:, None], 3, axis=1))


def detector_input(image: Image.Image) -> np.ndarray:
    """float32 ``1×3×H×W`` in [0, 1]: the page as RGB at its own size (what the detector exports take;
    the graph resizes to its fixed size itself)."""
    x = np.asarray(image.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / np.float32(255.0)
    return np.ascontiguousarray(x[None])


def detector_page_tensor(image: Image.Image):
    """The page as the PyTorch detectors take it: float ``3×H×W`` in [0, 1] at its own size (RGB), as
    ``distildoc.evaluate.detection.load_image`` decodes files."""
    import torch

    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    return torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0)
