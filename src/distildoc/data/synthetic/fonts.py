"""TrueType fonts for the synthetic pages: the ones matplotlib ships, so no system font is required.

`train` pages use the DejaVu families; `shift` pages (the RVL-CDIP-N-like covariate-shift split) use
fonts never seen in training (STIX and Computer Modern).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import matplotlib
from PIL import ImageFont

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"

#: family -> (regular, bold, italic) file names
FAMILIES: dict[str, tuple[str, str, str]] = {
    "dejavu-sans": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf"),
    "dejavu-serif": ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf"),
    "dejavu-mono": ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf"),
    "stix": ("STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf"),
    "computer-modern": ("cmr10.ttf", "cmb10.ttf", "cmti10.ttf"),
    "cm-sans": ("cmss10.ttf", "cmb10.ttf", "cmss10.ttf"),
    "cm-mono": ("cmtt10.ttf", "cmtt10.ttf", "cmtt10.ttf"),
}

STYLE_FAMILIES: dict[str, tuple[str, ...]] = {
    "train": ("dejavu-sans", "dejavu-serif", "dejavu-mono"),
    "shift": ("stix", "computer-modern", "cm-sans", "cm-mono"),
}

_WEIGHTS = {"regular": 0, "bold": 1, "italic": 2}


@lru_cache(maxsize=512)
def get_font(family: str, size: int, weight: str = "regular") -> ImageFont.FreeTypeFont:
    """A cached Pillow font; raises KeyError naming the family or weight when unknown."""
    if family not in FAMILIES:
        raise KeyError(f"unknown font family {family!r}; allowed: {', '.join(FAMILIES)}")
    if weight not in _WEIGHTS:
        raise KeyError(f"unknown font weight {weight!r}; allowed: {', '.join(_WEIGHTS)}")
    path = FONT_DIR / FAMILIES[family][_WEIGHTS[weight]]
    if not path.exists():
        raise FileNotFoundError(f"font file missing: {path} (matplotlib installation incomplete?)")
    return ImageFont.truetype(str(path), size=max(6, int(size)))
