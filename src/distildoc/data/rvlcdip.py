"""Document-classification datasets: RVL-CDIP label files and images, RVL-CDIP-N, Tobacco-3482.

Formats read here:

* **RVL-CDIP label file** (``labels/{train,val,test}.txt`` of the official release): one
  ``<relative image path> <class id>`` per line, class ids 0..15 in the order of
  :data:`~distildoc.data.labels.RVL_CDIP_CLASSES`; paths are relative to the ``images/`` folder.
  The synthetic benchmark and the Tobacco-3482 split files use the same format.
* **RVL-CDIP-N** (Larson et al., NeurIPS 2022): one folder per class, named after the 12 class names
  (``budget``, ``news article`` / ``news_article``, ...), mapped onto the RVL-CDIP class ids.
* **Tobacco-3482**: one folder per class, named as :data:`~distildoc.data.labels.TOBACCO3482_CLASSES`.

Images are decoded to grayscale (``"L"``) with PIL. RVL-CDIP ships at least one unreadable test image
(index 33669 of ``test.txt``); :func:`load_image` returns ``None`` for such files and
:func:`decode_split` skips them and names them, so the caller can count and log them.
"""

from __future__ import annotations

import logging
import os
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from ..utils.io import write_text
from .images import UNREADABLE_ERRORS
from .labels import RVL_CDIP_CLASSES, RVL_CDIP_N_CLASSES, TOBACCO3482_CLASSES, rvl_cdip_class_id

log = logging.getLogger(__name__)

Entry = tuple[str, int]

#: file suffixes treated as page images by the folder-per-class loaders
IMAGE_SUFFIXES: frozenset[str] = frozenset({".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})


# --------------------------------------------------------------------------------------------- label files


def read_label_file(
    path: str | os.PathLike, root: str | os.PathLike | None = None, n_classes: int = len(RVL_CDIP_CLASSES)
) -> list[Entry]:
    """Read an RVL-CDIP-style label file: ``<relative image path> <class id>`` per line.

    Blank lines are ignored; the path is everything before the last whitespace-separated field, so
    paths containing spaces survive. With `root`, returned paths are ``root / relative path``;
    otherwise they are returned as written.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: a line without a path and an integer id, or an id outside ``0..n_classes-1``;
            the message names the file and the 1-based line number.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing label file: {path}")
    entries: list[Entry] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            text = line.strip()
            if not text:
                continue
            parts = text.rsplit(None, 1)
            if len(parts) != 2:
                raise ValueError(f"{path}, line {lineno}: expected '<image path> <class id>', got {text!r}")
            rel, label_text = parts
            try:
                label = int(label_text)
            except ValueError:
                raise ValueError(f"{path}, line {lineno}: class id {label_text!r} is not an integer") from None
            if not 0 <= label < n_classes:
                raise ValueError(f"{path}, line {lineno}: class id {label} outside 0..{n_classes - 1}")
            entries.append((str(Path(root) / rel) if root is not None else rel, label))
    log.info("read %d entries from %s", len(entries), path)
    return entries


def write_label_file(path: str | os.PathLike, entries: Sequence[Entry]) -> Path:
    """Write ``<path> <class id>`` lines atomically (the format :func:`read_label_file` reads)."""
    out = write_text(path, "".join(f"{p} {label}\n" for p, label in entries))
    log.info("wrote %d entries to %s", len(entries), path)
    return out


def class_counts(entries: Sequence[Entry]) -> dict[int, int]:
    """Number of entries per class id, sorted by id."""
    return dict(sorted(Counter(label for _, label in entries).items()))


# --------------------------------------------------------------------------------------------- images


def load_image(path: str | os.PathLike, size: int | tuple[int, int] | None = None) -> Image.Image | None:
    """Decode a TIFF / PNG / JPEG page to grayscale (``"L"``), optionally resized (bilinear).

    `size` is a square side or a ``(width, height)`` pair. Multi-page TIFFs give their first page.
    Returns ``None`` (and logs a warning) for a missing, empty, truncated or otherwise undecodable
    file, so that one bad page does not stop a 400k-image decode.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()  # force the decode here: truncated files raise now, not later
            gray = im.convert("L")
    except UNREADABLE_ERRORS as err:
        log.warning("unreadable image %s: %s", path, err)
        return None
    if size is not None:
        wh = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        gray = gray.resize(wh, Image.Resampling.BILINEAR)
    return gray


def decode_split(
    entries: Sequence[Entry],
    root: str | os.PathLike,
    size: int,
    workers: int = 1,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Decode every listed image once to uint8 at ``size × size`` (bilinear), skipping unreadable ones.

    Args:
        entries: ``(relative path, class id)`` pairs, e.g. from :func:`read_label_file`.
        root: folder the relative paths are resolved against (RVL-CDIP: ``<release>/images``).
        size: final square side in pixels.
        workers: decoding threads (PIL releases the GIL while decoding); 1 decodes in this thread.
        progress: show a tqdm progress bar.

    Returns:
        ``(images N×size×size uint8, labels N int64, ids (relative paths), skipped (relative paths))``,
        in the order of `entries` minus the skipped ones.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"missing image folder: {root}")
    n = len(entries)
    images = np.empty((n, size, size), dtype=np.uint8)
    keep = np.zeros(n, dtype=bool)

    def decode(i: int) -> tuple[int, Image.Image | None]:
        return i, load_image(root / entries[i][0], size)

    def consume(results: Iterator[tuple[int, Image.Image | None]]) -> None:
        for i, img in tqdm(results, total=n, desc=f"decode {root.name}", unit="img", disable=not progress):
            if img is not None:
                images[i] = np.asarray(img, dtype=np.uint8)
                keep[i] = True

    if workers <= 1:
        consume(map(decode, range(n)))
    else:
        with ThreadPoolExecutor(workers) as pool:
            consume(pool.map(decode, range(n)))
    skipped = [entries[i][0] for i in np.flatnonzero(~keep)]
    if n and not keep.any():
        raise ValueError(f"none of the {n} images listed under {root} could be read (first: {root / entries[0][0]})")
    labels = np.asarray([label for (_, label), k in zip(entries, keep) if k], dtype=np.int64)
    ids = [p for (p, _), k in zip(entries, keep) if k]
    if skipped:
        log.warning("skipped %d of %d unreadable images under %s: %s", len(skipped), n, root, ", ".join(skipped[:20]))
    log.info("decoded %d images at %dx%d from %s", len(ids), size, size, root)
    return images[keep], labels, ids, skipped


# --------------------------------------------------------------------------------------------- subsets


def subset_per_class(entries: Sequence[Entry], n_per_class: int, seed: int = 42) -> list[Entry]:
    """The paper's student-subset rule: shuffle with a seed, then keep the first N of every class.

    Exactly: ``shuffled = list(entries); random.Random(seed).shuffle(shuffled)``; walk ``shuffled`` in
    order and keep an entry while its class has fewer than `n_per_class` kept entries. The result is in
    shuffled order. A class with fewer than N entries keeps all of them (logged).

    The paper's RVL-CDIP_1k subset applies this to the official ``train.txt`` with N=1000 and seed 42
    (16,000 images) and to ``val.txt`` with N/4 = 250 per class (4,000 images, see
    :func:`student_subset`); the test set is the full official ``test.txt`` minus the images that cannot
    be decoded (:func:`decode_split` names them).
    """
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class}")
    shuffled = list(entries)
    random.Random(seed).shuffle(shuffled)
    taken: Counter[int] = Counter()
    chosen: list[Entry] = []
    for entry in shuffled:
        if taken[entry[1]] < n_per_class:
            taken[entry[1]] += 1
            chosen.append(entry)
    short = {c: k for c, k in sorted(taken.items()) if k < n_per_class}
    if short:
        log.warning("classes with fewer than %d entries (kept all): %s", n_per_class, short)
    log.info("subset: %d of %d entries, up to %d per class (seed %d)", len(chosen), len(entries), n_per_class, seed)
    return chosen


def student_subset(
    train: Sequence[Entry], val: Sequence[Entry], n_per_class: int = 1000, seed: int = 42
) -> tuple[list[Entry], list[Entry]]:
    """RVL-CDIP_N subsets: N per class from train and N // 4 per class from val (same rule, same seed)."""
    return subset_per_class(train, n_per_class, seed), subset_per_class(val, max(1, n_per_class // 4), seed)


# --------------------------------------------------------------------------------------------- folder layouts


def _normalise_class_name(name: str) -> str:
    """``News_Article`` / ``news-article`` / ``news  article`` -> ``news article``."""
    return re.sub(r"\s+", " ", re.sub(r"[_\-]+", " ", name)).strip().lower()


def _image_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(image files, other files) under `folder`, recursively, sorted; hidden files ignored."""
    images, others = [], []
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            (images if p.suffix.lower() in IMAGE_SUFFIXES else others).append(p)
    return images, others


def _class_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        raise FileNotFoundError(f"missing dataset folder: {root}")
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def load_rvl_cdip_n(root: str | os.PathLike) -> list[Entry]:
    """RVL-CDIP-N in its published folder-per-class layout, labelled with **RVL-CDIP** class ids.

    ``<root>/<class name>/<file>``: the folder name is one of the 12 names of
    :data:`~distildoc.data.labels.RVL_CDIP_N_CLASSES`, compared case-insensitively with ``_`` / ``-``
    read as spaces (``news_article`` -> ``news article`` -> RVL-CDIP id 9). Files in nested folders are
    included; non-image files (e.g. PDFs) are skipped and counted in the log. Returned paths are
    relative to `root` (POSIX separators), sorted.

    Raises:
        ValueError: a folder that is not an RVL-CDIP-N class, or no class folder at all.
    """
    root = Path(root)
    allowed = {_normalise_class_name(c): c for c in RVL_CDIP_N_CLASSES}
    entries: list[Entry] = []
    n_other = 0
    folders = _class_folders(root)
    if not folders:
        raise ValueError(f"{root}: no class folders; expected one folder per class of {', '.join(RVL_CDIP_N_CLASSES)}")
    for folder in folders:
        name = allowed.get(_normalise_class_name(folder.name))
        if name is None:
            raise ValueError(f"{root}: folder {folder.name!r} is not an RVL-CDIP-N class; "
                             f"allowed: {', '.join(RVL_CDIP_N_CLASSES)}")
        images, others = _image_files(folder)
        n_other += len(others)
        label = rvl_cdip_class_id(name)
        entries.extend((p.relative_to(root).as_posix(), label) for p in images)
    if n_other:
        log.warning("%s: skipped %d non-image files", root, n_other)
    log.info("RVL-CDIP-N: %d images in %d classes under %s", len(entries), len(folders), root)
    return entries


def load_tobacco3482(root: str | os.PathLike) -> list[Entry]:
    """Tobacco-3482 in its folder-per-class layout: ``<root>/<class>/<file>``.

    Folder names are matched case-insensitively to :data:`~distildoc.data.labels.TOBACCO3482_CLASSES`
    (``ADVE``, ``Email``, ...); the label is the index in that tuple (0..9). Returned paths are relative
    to `root`, sorted. Non-image files are skipped and counted in the log.
    """
    root = Path(root)
    allowed = {c.lower(): i for i, c in enumerate(TOBACCO3482_CLASSES)}
    entries: list[Entry] = []
    n_other = 0
    folders = _class_folders(root)
    if not folders:
        raise ValueError(f"{root}: no class folders; expected {', '.join(TOBACCO3482_CLASSES)}")
    for folder in folders:
        label = allowed.get(folder.name.lower())
        if label is None:
            raise ValueError(f"{root}: folder {folder.name!r} is not a Tobacco-3482 class; "
                             f"allowed: {', '.join(TOBACCO3482_CLASSES)}")
        images, others = _image_files(folder)
        n_other += len(others)
        entries.extend((p.relative_to(root).as_posix(), label) for p in images)
    if n_other:
        log.warning("%s: skipped %d non-image files", root, n_other)
    log.info("Tobacco-3482: %d images in %d classes under %s", len(entries), len(folders), root)
    return entries


def split_tobacco3482(
    entries: Sequence[Entry], train_per_class: int = 80, val_per_class: int = 20, seed: int = 42
) -> dict[str, list[Entry]]:
    """The common Tobacco-3482 protocol: 800 train, 200 validation, the rest (2,482) test.

    Stratified-random with a seed: for every class id in increasing order, its entries sorted by path
    are shuffled with one shared ``random.Random(seed)`` (seed 42); the first `train_per_class` (80)
    go to train, the next `val_per_class` (20) to validation and the remaining ones to test. With the
    10 classes this gives 800 / 200 / 2,482 images. Each returned split is sorted by path.

    Raises:
        ValueError: a class with fewer than ``train_per_class + val_per_class`` entries.
    """
    by_class: dict[int, list[Entry]] = defaultdict(list)
    for entry in entries:
        by_class[entry[1]].append(entry)
    rng = random.Random(seed)
    splits: dict[str, list[Entry]] = {"train": [], "val": [], "test": []}
    for label in sorted(by_class):
        items = sorted(by_class[label])
        if len(items) < train_per_class + val_per_class:
            raise ValueError(f"Tobacco-3482 class {label} has {len(items)} images, fewer than "
                             f"{train_per_class} train + {val_per_class} val")
        rng.shuffle(items)
        splits["train"] += items[:train_per_class]
        splits["val"] += items[train_per_class:train_per_class + val_per_class]
        splits["test"] += items[train_per_class + val_per_class:]
    for name in splits:
        splits[name].sort()
    log.info("Tobacco-3482 split (seed %d): %s", seed, {k: len(v) for k, v in splits.items()})
    return splits


# --------------------------------------------------------------------------------------------- real-data preparation


def find_class_root(root: str | os.PathLike, class_names: Sequence[str], max_depth: int = 3) -> Path:
    """The folder under `root` (itself included, up to `max_depth` levels down) whose sub-folders are class
    folders: one or more of `class_names` (compared as :func:`_normalise_class_name` does) and nothing else
    that is not hidden; the shallowest such folder wins. Archives often wrap the class folders in a
    top-level folder (``Tobacco3482-jpg/ADVE``).

    Raises:
        FileNotFoundError: no such folder; the message names `root` and the expected class names.
    """
    root = Path(root)
    wanted = {_normalise_class_name(c) for c in class_names}
    level = [root] if root.is_dir() else []
    for _ in range(max_depth + 1):
        for folder in sorted(level):
            names = {_normalise_class_name(p.name) for p in _class_folders(folder)}
            if names and names <= wanted:
                return folder
        level = [d for f in level for d in _class_folders(f)]
    raise FileNotFoundError(f"no folder with class sub-folders ({', '.join(class_names)}) under {root} "
                            f"(searched {max_depth} levels down)")


def tobacco3482_label_files(root: str | os.PathLike, out_dir: str | os.PathLike, train_per_class: int = 80,
                            val_per_class: int = 20, seed: int = 42) -> dict[str, Path]:
    """Write ``tobacco_{train,val,test}.txt`` into `out_dir` from a Tobacco-3482 download under `root`.

    The class folders are found with :func:`find_class_root`, read with :func:`load_tobacco3482` and split
    with :func:`split_tobacco3482`; the written paths are relative to `root` (so a wrapping folder becomes
    part of each path) and the pipeline decodes them against `root`.
    """
    root = Path(root)
    class_root = find_class_root(root, TOBACCO3482_CLASSES)
    prefix = class_root.relative_to(root).as_posix()
    entries = [(f"{prefix}/{p}" if prefix != "." else p, label) for p, label in load_tobacco3482(class_root)]
    splits = split_tobacco3482(entries, train_per_class, val_per_class, seed)
    return {name: write_label_file(Path(out_dir) / f"tobacco_{name}.txt", items) for name, items in splits.items()}


def parquet_class_names(schema_metadata: dict | None) -> list[str] | None:
    """The ``label`` ClassLabel names a Hugging Face parquet shard records in its ``huggingface`` schema
    metadata (``{"info": {"features": {"label": {"_type": "ClassLabel", "names": [...]}}}}``), or None."""
    import json

    raw = (schema_metadata or {}).get(b"huggingface")
    if not raw:
        return None
    try:
        features = json.loads(raw).get("info", {}).get("features", {})
    except ValueError:
        return None
    names = (features.get("label") or {}).get("names")
    return list(names) if names else None


def _image_suffix(data: bytes, path_hint: str | None) -> str:
    if path_hint and Path(path_hint).suffix.lower() in IMAGE_SUFFIXES:
        return Path(path_hint).suffix.lower()
    import io

    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = (im.format or "png").lower()
    except (OSError, UnidentifiedImageError):
        return ".png"
    return {"jpeg": ".jpg", "tiff": ".tif"}.get(fmt, f".{fmt}")


def extract_rvl_cdip_n_parquet(parquet_paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                               class_names: Sequence[str] | None = None) -> list[Entry]:
    """Unpack RVL-CDIP-N as published on the Hugging Face hub (parquet shards with an ``image`` column --
    ``{"bytes", "path"}`` structs -- and an integer ``label``) into the folder-per-class layout that
    :func:`load_rvl_cdip_n` reads: ``<out_dir>/<class name>/<nnnnn>_<stem><ext>``, the image bytes written
    unchanged, ``nnnnn`` the row's index over the shards in sorted order.

    The label ids are names from the shard's own ClassLabel metadata (:func:`parquet_class_names`), else
    `class_names`, else :data:`~distildoc.data.labels.RVL_CDIP_N_CLASSES` (the hub's alphabetical order);
    every name must be an RVL-CDIP-N class. Returns :func:`load_rvl_cdip_n` of `out_dir`: paths relative
    to `out_dir` with **RVL-CDIP** class ids.

    Raises:
        ImportError: pyarrow is missing. ValueError: no rows, a missing column, an unknown class name or a
        label id outside the names.
    """
    try:
        import pyarrow.parquet as pq
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("reading RVL-CDIP-N's parquet shards needs pyarrow (pip install pyarrow)") from err
    out_dir = Path(out_dir)
    allowed = {_normalise_class_name(c): c for c in RVL_CDIP_N_CLASSES}
    row = 0
    for shard in sorted(map(Path, parquet_paths)):
        table = pq.read_table(shard)
        missing = [c for c in ("image", "label") if c not in table.column_names]
        if missing:
            raise ValueError(f"{shard}: missing column(s) {missing}; has {table.column_names}")
        names = parquet_class_names(table.schema.metadata) or list(class_names or RVL_CDIP_N_CLASSES)
        folders = []
        for n in names:
            if _normalise_class_name(n) not in allowed:
                raise ValueError(f"{shard}: class {n!r} is not an RVL-CDIP-N class; allowed: {', '.join(RVL_CDIP_N_CLASSES)}")
            folders.append(allowed[_normalise_class_name(n)])
        for image, label in zip(table.column("image").to_pylist(), table.column("label").to_pylist()):
            if not 0 <= int(label) < len(folders):
                raise ValueError(f"{shard}: row {row} has label {label} outside 0..{len(folders) - 1}")
            data = image["bytes"] if isinstance(image, dict) else image
            hint = image.get("path") if isinstance(image, dict) else None
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(hint).stem) if hint else "page"
            target = out_dir / folders[int(label)] / f"{row:05d}_{stem}{_image_suffix(data, hint)}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            row += 1
    if row == 0:
        raise ValueError(f"no RVL-CDIP-N rows in {len(parquet_paths)} parquet shard(s)")
    log.info("RVL-CDIP-N: %d images from %d parquet shard(s) -> %s", row, len(parquet_paths), out_dir)
    return load_rvl_cdip_n(out_dir)


def prepare_rvl_cdip_n(raw_root: str | os.PathLike, out_dir: str | os.PathLike, label_file: str | os.PathLike
                       ) -> list[Entry]:
    """RVL-CDIP-N images in folder-per-class layout under `out_dir` + its label file (paths relative to
    `out_dir`, RVL-CDIP ids), from the download under `raw_root`: the hub's parquet shards
    (``**/*.parquet``, :func:`extract_rvl_cdip_n_parquet`) or, without any, the authors' folder-per-class
    release placed there by hand (found by :func:`find_class_root`, images copied)."""
    import shutil

    raw_root, out_dir = Path(raw_root), Path(out_dir)
    shards = sorted(raw_root.rglob("*.parquet"))
    if shards:
        entries = extract_rvl_cdip_n_parquet(shards, out_dir)
    else:
        class_root = find_class_root(raw_root, RVL_CDIP_N_CLASSES)
        for rel, _ in load_rvl_cdip_n(class_root):
            (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(class_root / rel, out_dir / rel)
        entries = load_rvl_cdip_n(out_dir)
    write_label_file(label_file, entries)
    return entries
