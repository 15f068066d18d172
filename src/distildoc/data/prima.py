"""PRImA Layout Analysis Dataset: PAGE XML ground truth -> COCO instances.

Parsing is namespace-agnostic (``xml.etree``; every PAGE schema version from 2009 to 2019 works): the
``Page`` element gives ``imageFilename`` / ``imageWidth`` / ``imageHeight``, and every *direct* child of
``Page`` whose tag ends in ``Region`` is one layout region (regions nested inside another region, e.g.
table cells, are not separate instances). Its polygon comes from ``Coords/@points``
(``"x1,y1 x2,y2 ..."``, PAGE 2013+) or the older ``Coords/Point`` children (``x``/``y`` attributes).

Categories (:data:`~distildoc.data.labels.PRIMA_CATEGORIES`, ids 1..6): TextRegion, ImageRegion,
TableRegion, MathsRegion, SeparatorRegion, OtherRegion. Every other region type -- GraphicRegion,
ChartRegion, LineDrawingRegion, NoiseRegion, FrameRegion, ChemRegion, MusicRegion, AdvertRegion,
MapRegion, CustomRegion, UnknownRegion, ... -- is mapped to **OtherRegion**.

COCO geometry: ``segmentation`` is the polygon, ``bbox`` its extent ``[min x, min y, max x - min x,
max y - min y]`` and ``area`` the rasterised polygon area from ``pycocotools.mask.area``. Regions with
fewer than 3 points are skipped (logged).
"""

from __future__ import annotations

import logging
import os
import random
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pycocotools import mask as mask_utils

from ..utils.io import write_json
from .labels import PRIMA_CATEGORIES, coco_categories

log = logging.getLogger(__name__)

OTHER = "OtherRegion"


@dataclass
class PageRegion:
    """One region of a PAGE XML page: its PAGE type, id and flat polygon ``[x1, y1, x2, y2, ...]``."""

    region_type: str
    region_id: str
    polygon: list[float]

    @property
    def category(self) -> str:
        """The kept category: the type itself if in PRIMA_CATEGORIES, else OtherRegion."""
        return self.region_type if self.region_type in PRIMA_CATEGORIES else OTHER


@dataclass
class PageXml:
    """The parts of a PAGE XML file the converter uses."""

    path: Path
    image_filename: str
    width: int
    height: int
    regions: list[PageRegion]


def _local(tag: str) -> str:
    """Tag name without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]


def _child(elem: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in elem if _local(c.tag) == name), None)


def _polygon(coords: ET.Element, where: str) -> list[float]:
    points = coords.get("points")
    flat: list[float] = []
    if points:
        for pair in points.split():
            try:
                x, y = pair.split(",")
                flat += [float(x), float(y)]
            except ValueError:
                raise ValueError(f"{where}: malformed point {pair!r} in Coords/@points") from None
    else:
        for pt in coords:
            if _local(pt.tag) == "Point":
                try:
                    flat += [float(pt.get("x", "")), float(pt.get("y", ""))]
                except ValueError:
                    raise ValueError(f"{where}: Coords/Point without numeric x/y: {pt.attrib}") from None
    return flat


def parse_page_xml(path: str | os.PathLike) -> PageXml:
    """Parse one PAGE XML file (any schema version). Raises ValueError naming the file on bad content."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise ValueError(f"{path}: not well-formed XML: {err}") from err
    page = root if _local(root.tag) == "Page" else next((e for e in root.iter() if _local(e.tag) == "Page"), None)
    if page is None:
        raise ValueError(f"{path}: no Page element")
    try:
        width, height = int(page.get("imageWidth", "")), int(page.get("imageHeight", ""))
    except ValueError:
        raise ValueError(f"{path}: Page needs integer imageWidth/imageHeight, got {page.attrib}") from None
    regions: list[PageRegion] = []
    for elem in page:
        kind = _local(elem.tag)
        if not kind.endswith("Region"):
            continue
        rid = elem.get("id", f"r{len(regions)}")
        coords = _child(elem, "Coords")
        polygon = _polygon(coords, f"{path}: {kind} {rid}") if coords is not None else []
        if len(polygon) < 6:
            log.warning("%s: %s %s has %d points, skipped", path, kind, rid, len(polygon) // 2)
            continue
        regions.append(PageRegion(kind, rid, polygon))
    return PageXml(path, page.get("imageFilename", path.with_suffix(".tif").name), width, height, regions)


def _annotation(region: PageRegion, ann_id: int, image_id: int, width: int, height: int) -> dict:
    xs, ys = region.polygon[0::2], region.polygon[1::2]
    x0, y0 = min(xs), min(ys)
    rle = mask_utils.merge(mask_utils.frPyObjects([region.polygon], height, width))
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": PRIMA_CATEGORIES.index(region.category) + 1,
        "segmentation": [list(region.polygon)],
        "bbox": [x0, y0, max(xs) - x0, max(ys) - y0],
        "area": float(mask_utils.area(rle)),
        "iscrowd": 0,
        "region_type": region.region_type,
    }


def page_xml_to_coco(xml_paths: Sequence[str | os.PathLike], description: str = "PRImA Layout Analysis") -> dict:
    """COCO instances of the given PAGE XML files (image ids 1.. in the given order)."""
    images, annotations = [], []
    for image_id, xml_path in enumerate(xml_paths, 1):
        page = parse_page_xml(xml_path)
        images.append({"id": image_id, "file_name": Path(page.image_filename).name, "width": page.width,
                       "height": page.height, "page_xml": Path(xml_path).name})
        for region in page.regions:
            annotations.append(_annotation(region, len(annotations) + 1, image_id, page.width, page.height))
    log.info("PAGE XML -> COCO: %d pages, %d regions", len(images), len(annotations))
    return {"info": {"description": description}, "images": images, "annotations": annotations,
            "categories": coco_categories(PRIMA_CATEGORIES)}


def split_prima(
    xml_paths: Sequence[str | os.PathLike], test_fraction: float = 0.2, seed: int = 42
) -> dict[str, list[Path]]:
    """Seeded 80/20 train/test split of PAGE XML files.

    Rule: sort the paths by file name, shuffle the sorted list with ``random.Random(seed).shuffle``
    (seed 42), the first ``n - round(n * test_fraction)`` are train, the rest test; each split is then
    sorted by file name again.
    """
    paths = sorted((Path(p) for p in xml_paths), key=lambda p: p.name)
    random.Random(seed).shuffle(paths)
    n_train = len(paths) - round(len(paths) * test_fraction)
    return {"train": sorted(paths[:n_train], key=lambda p: p.name), "test": sorted(paths[n_train:], key=lambda p: p.name)}


def convert_prima(xml_dir: str | os.PathLike, out_dir: str | os.PathLike, test_fraction: float = 0.2,
                  seed: int = 42) -> dict[str, Path]:
    """Convert every ``*.xml`` under `xml_dir` and write ``train.json`` / ``test.json`` into `out_dir`."""
    xml_paths = sorted(Path(xml_dir).rglob("*.xml"))
    if not xml_paths:
        raise FileNotFoundError(f"no PAGE XML files under {xml_dir}")
    written = {}
    for split, paths in split_prima(xml_paths, test_fraction, seed).items():
        written[split] = write_json(Path(out_dir) / f"{split}.json", page_xml_to_coco(paths, f"PRImA {split}"),
                                    indent=None)
        log.info("PRImA %s: %d pages -> %s", split, len(paths), written[split])
    return written


#: image suffixes a PRImA page may have on disk (the XML's imageFilename is usually the .tif)
_PAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")


def resolve_image_paths(coco: dict, root: str | os.PathLike) -> dict:
    """Rewrite every image's ``file_name`` to its path relative to `root`, found by file name under `root`
    (recursively) or, failing that, by stem with any of the usual page suffixes. Pages whose image is not
    found are dropped with their annotations (logged); ValueError when none is found."""
    root = Path(root)
    by_name: dict[str, Path] = {}
    by_stem: dict[str, Path] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix.lower() in _PAGE_SUFFIXES:
            by_name.setdefault(p.name, p)
            by_stem.setdefault(p.stem, p)
    images, missing = [], []
    for im in coco["images"]:
        name = Path(im["file_name"]).name
        hit = by_name.get(name) or by_stem.get(Path(name).stem)
        if hit is None:
            missing.append(name)
            continue
        images.append({**im, "file_name": hit.relative_to(root).as_posix()})
    if coco["images"] and not images:
        raise ValueError(f"none of the {len(coco['images'])} page images named in the PAGE XML files is under {root} "
                         f"(first: {missing[0]})")
    if missing:
        log.warning("%d page image(s) not found under %s, pages dropped: %s", len(missing), root, ", ".join(missing[:20]))
    keep = {im["id"] for im in images}
    return {**coco, "images": images, "annotations": [a for a in coco["annotations"] if a["image_id"] in keep]}


def prepare_prima(root: str | os.PathLike, out_dir: str | os.PathLike, test_fraction: float = 0.2,
                  seed: int = 42) -> dict[str, Path]:
    """PRImA download under `root` -> the pipeline's layout files ``<out_dir>/{train,val}.json``.

    Every ``*.xml`` under `root` (outside `out_dir`) is split by :func:`split_prima` (file names sorted,
    ``random.Random(seed)`` shuffle, the last ``round(n * test_fraction)`` held out) and converted by
    :func:`page_xml_to_coco`; the held-out pages are written as ``val.json`` (the split the layout stage
    evaluates on). Image ``file_name`` values are made relative to `root` (:func:`resolve_image_paths`), so
    `root` is the images root the detectors read from.
    """
    root, out_dir = Path(root), Path(out_dir)
    xml_paths = [p for p in sorted(root.rglob("*.xml")) if out_dir.resolve() not in p.resolve().parents]
    if not xml_paths:
        raise FileNotFoundError(f"no PAGE XML files under {root}")
    written = {}
    for split, paths in split_prima(xml_paths, test_fraction, seed).items():
        name = "val" if split == "test" else split
        coco = resolve_image_paths(page_xml_to_coco(paths, f"PRImA {name} (seed {seed}, {test_fraction:g} held out)"),
                                   root)
        written[name] = write_json(out_dir / f"{name}.json", coco, indent=None)
        log.info("PRImA %s: %d pages, %d regions -> %s", name, len(coco["images"]), len(coco["annotations"]),
                 written[name])
    return written
