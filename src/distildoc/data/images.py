"""Whether a page image can be decoded: the one check every loader shares (classification decode, COCO
pages, layout-prediction export, the real-page DocVQA chain)."""

from __future__ import annotations

import os

from PIL import Image, UnidentifiedImageError

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
