"""Whether a page image can be decoded: the one check every loader shares (classification decode, COCO
pages, layout-prediction export, the real-page DocVQA chain)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from PIL import Image, UnidentifiedImageError

log = logging.getLogger(__name__)

#: what Pillow raises for an empty, truncated or otherwise undecodable file
UNREADABLE_ERRORS: tuple[type[BaseException], ...] = (OSError, UnidentifiedImageError, ValueError, SyntaxError,
                                                      Image.DecompressionBombError)


def unreadable_reason(path: str | os.PathLike) -> str | None:
    """``None`` when the image at `path` decodes completely, else why not (the error's text). A missing
    file counts as unreadable here; callers that must fail on it check existence first."""
    try:
        with Image.open(path) as im:
            im.load()  # force the decode: a truncated file raises here, not later
    except UNREADABLE_ERRORS as err:
        return str(err) or type(err).__name__
    return None


def split_readable(paths: Iterable[str | os.PathLike]) -> tuple[list[Path], list[str]]:
    """The page images that decode (in order, as Paths) and the unreadable ones (truncated, empty, not an
    image; logged, returned as given). A missing page is an error naming it."""
    readable, skipped = [], []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise FileNotFoundError(f"page image not found: {p}")
        reason = unreadable_reason(path)
        if reason is None:
            readable.append(path)
        else:
            log.warning("skipping unreadable page image %s: %s", p, reason)
            skipped.append(str(p))
    return readable, skipped
