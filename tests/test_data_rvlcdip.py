"""RVL-CDIP label files and TIFF decoding on the real samples; the student-subset rule; RVL-CDIP-N and
Tobacco-3482 folder loaders."""

from __future__ import annotations

import io
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from distildoc.data.labels import RVL_CDIP_CLASSES, RVL_CDIP_N_CLASSES, TOBACCO3482_CLASSES
from distildoc.data.rvlcdip import (
    class_counts,
    decode_split,
    load_image,
    load_rvl_cdip_n,
    load_tobacco3482,
    read_label_file,
    split_tobacco3482,
    student_subset,
    subset_per_class,
    write_label_file,
)

# the official label files of the fixture (SOURCES.md): memo (train), invoice (val), handwritten (test)
EXPECTED = {
    "train": [("80035521.tif", 15)],
    "val": [("2024525661.tif", 11)],
    "test": [("503210033+-0034.tif", 3)],
}


@pytest.fixture
def rvl(realdata: Path) -> Path:
    return realdata / "rvl_cdip"


# ------------------------------------------------------------------------------------ label files


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_read_real_label_files(rvl: Path, split: str) -> None:
    entries = read_label_file(rvl / f"{split}.txt")
    assert entries == EXPECTED[split]
    assert RVL_CDIP_CLASSES[entries[0][1]] in {"memo", "invoice", "handwritten"}
    rooted = read_label_file(rvl / f"{split}.txt", root=rvl)
    assert rooted == [(str(rvl / p), c) for p, c in EXPECTED[split]]
    assert all(Path(p).is_file() for p, _ in rooted)


def test_label_file_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("a/b.tif 3\n\nlonely_path\n")
    with pytest.raises(ValueError, match=r"bad\.txt, line 3: expected"):
        read_label_file(bad)
    bad.write_text("a.tif 0\nb.tif 16\n")
    with pytest.raises(ValueError, match=r"bad\.txt, line 2: class id 16 outside 0\.\.15"):
        read_label_file(bad)
    bad.write_text("a.tif -1\n")
    with pytest.raises(ValueError, match=r"line 1: class id -1 outside"):
        read_label_file(bad)
    bad.write_text("a.tif memo\n")
    with pytest.raises(ValueError, match=r"line 1: class id 'memo' is not an integer"):
        read_label_file(bad)
    with pytest.raises(FileNotFoundError, match="missing label file"):
        read_label_file(tmp_path / "nope.txt")


def test_label_file_round_trip_and_spaces(tmp_path: Path) -> None:
    entries = [("dir with space/x.tif", 4), ("y.png", 0)]
    write_label_file(tmp_path / "l.txt", entries)
    assert (tmp_path / "l.txt").read_text() == "dir with space/x.tif 4\ny.png 0\n"
    assert read_label_file(tmp_path / "l.txt") == entries
    assert class_counts(entries) == {0: 1, 4: 1}


# ------------------------------------------------------------------------------------ images


def test_load_real_tiffs(rvl: Path) -> None:
    for entries in EXPECTED.values():
        img = load_image(rvl / entries[0][0])
        assert img is not None and img.mode == "L"
        assert max(img.size) == 1000  # RVL-CDIP pages: longest side 1000 px
        arr = np.asarray(img)
        assert arr.mean() > 150  # mostly white paper
        assert arr.min() < 50  # with dark ink
        small = load_image(rvl / entries[0][0], size=64)
        assert small is not None and small.size == (64, 64) and small.mode == "L"


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # PIL on the cut TIFF
def test_unreadable_images_give_none(rvl: Path, tmp_path: Path) -> None:
    tif = (rvl / "80035521.tif").read_bytes()
    (tmp_path / "trunc.tif").write_bytes(tif[: len(tif) // 2])
    (tmp_path / "empty.tif").write_bytes(b"")
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8)).save(buf, "PNG")
    (tmp_path / "trunc.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    for name in ("trunc.tif", "empty.tif", "junk.png", "trunc.png", "missing.tif"):
        assert load_image(tmp_path / name) is None, name


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # PIL on the cut TIFF
def test_decode_split_skips_and_names_unreadable(rvl: Path, tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    for entries in EXPECTED.values():
        (root / entries[0][0]).write_bytes((rvl / entries[0][0]).read_bytes())
    (root / "corrupt.tif").write_bytes(b"II*\x00garbage")
    entries = [EXPECTED["train"][0], ("corrupt.tif", 5), EXPECTED["val"][0], ("gone.tif", 2), EXPECTED["test"][0]]
    for workers in (1, 3):
        images, labels, ids, skipped = decode_split(entries, root, 32, workers=workers, progress=False)
        assert images.shape == (3, 32, 32) and images.dtype == np.uint8
        assert labels.tolist() == [15, 11, 3] and labels.dtype == np.int64
        assert ids == ["80035521.tif", "2024525661.tif", "503210033+-0034.tif"]
        assert skipped == ["corrupt.tif", "gone.tif"]
        for k, rel in enumerate(ids):
            np.testing.assert_array_equal(images[k], np.asarray(load_image(root / rel, 32)))


# ------------------------------------------------------------------------------------ student subset


def _toy_entries(counts: dict[int, int]) -> list[tuple[str, int]]:
    """Entries interleaved across classes, as in the official files: class c has counts[c] images."""
    rng = random.Random(123)
    entries = [(f"c{c:02d}/img{k:03d}.tif", c) for c, n in counts.items() for k in range(n)]
    rng.shuffle(entries)
    return entries


def _expected_subset(entries: list[tuple[str, int]], n: int, seed: int) -> list[tuple[str, int]]:
    """The documented rule written another way: rank every entry by its position after shuffling the
    index list with Random(seed), then keep the n best-ranked of each class, ordered by rank."""
    order = list(range(len(entries)))
    random.Random(seed).shuffle(order)  # same permutation as shuffling a list of that length
    rank = {idx: pos for pos, idx in enumerate(order)}
    by_class: dict[int, list[int]] = {}
    for idx in sorted(range(len(entries)), key=rank.__getitem__):
        by_class.setdefault(entries[idx][1], []).append(idx)
    keep = [idx for idxs in by_class.values() for idx in idxs[:n]]
    return [entries[idx] for idx in sorted(keep, key=rank.__getitem__)]


def test_subset_per_class_picks_documented_images() -> None:
    counts = {c: 6 + (c % 5) for c in range(16)}
    counts[7] = 2  # a class shorter than N keeps everything
    entries = _toy_entries(counts)
    original = list(entries)
    chosen = subset_per_class(entries, 4, seed=42)
    assert entries == original  # the input is not shuffled in place
    assert chosen == _expected_subset(entries, 4, 42)
    per_class = Counter(c for _, c in chosen)
    assert per_class == {c: min(4, n) for c, n in counts.items()}
    assert len(set(chosen)) == len(chosen)
    # another seed picks another subset with the same counts
    other = subset_per_class(entries, 4, seed=7)
    assert other != chosen and Counter(c for _, c in other) == per_class


def test_student_subset_val_quarter() -> None:
    train = _toy_entries({c: 12 for c in range(16)})
    val = _toy_entries({c: 5 for c in range(16)})
    sub_train, sub_val = student_subset(train, val, n_per_class=8, seed=42)
    assert Counter(c for _, c in sub_train) == {c: 8 for c in range(16)}
    assert Counter(c for _, c in sub_val) == {c: 2 for c in range(16)}  # N/4
    assert sub_val == _expected_subset(val, 2, 42)
    with pytest.raises(ValueError):
        subset_per_class(train, 0)


# ------------------------------------------------------------------------------------ RVL-CDIP-N, Tobacco


def _touch_png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8), 255).save(path)


def test_rvl_cdip_n_maps_folder_names_to_rvl_ids(tmp_path: Path) -> None:
    # hand table: RVL-CDIP-N class -> official RVL-CDIP id
    hand = {"budget": 10, "email": 2, "form": 1, "handwritten": 3, "invoice": 11, "letter": 0, "memo": 15,
            "news article": 9, "questionnaire": 13, "resume": 14, "scientific publication": 6, "specification": 7}
    assert set(hand) == set(RVL_CDIP_N_CLASSES)
    folder_names = {"budget": "budget", "news article": "news_article", "scientific publication":
                    "Scientific Publication", "memo": "memo", "letter": "Letter"}
    for cls, folder in folder_names.items():
        _touch_png(tmp_path / folder / "a.png")
        _touch_png(tmp_path / folder / "sub" / "b.jpg")
    (tmp_path / "memo" / "notes.pdf").write_bytes(b"%PDF-1.4")
    entries = load_rvl_cdip_n(tmp_path)
    assert len(entries) == 10
    for path, label in entries:
        cls = next(c for c, f in folder_names.items() if path.startswith(f + "/"))
        assert label == hand[cls] == RVL_CDIP_CLASSES.index(cls)
    assert ("news_article/sub/b.jpg", 9) in entries
    (tmp_path / "letterz").mkdir()
    with pytest.raises(ValueError, match="'letterz' is not an RVL-CDIP-N class"):
        load_rvl_cdip_n(tmp_path)


def test_tobacco_loader_and_split(tmp_path: Path) -> None:
    counts = {name: 100 + 3 * i for i, name in enumerate(TOBACCO3482_CLASSES)}  # 1,135 images
    for name, n in counts.items():
        folder = tmp_path / ("adve" if name == "ADVE" else name)  # case-insensitive folder match
        folder.mkdir()
        for k in range(n):
            (folder / f"{name}_{k:03d}.jpg").touch()
    entries = load_tobacco3482(tmp_path)
    assert len(entries) == sum(counts.values())
    assert Counter(c for _, c in entries) == {i: counts[n] for i, n in enumerate(TOBACCO3482_CLASSES)}
    splits = split_tobacco3482(entries, seed=42)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [800, 200, sum(counts.values()) - 1000]
    assert Counter(c for _, c in splits["train"]) == {i: 80 for i in range(10)}
    assert Counter(c for _, c in splits["val"]) == {i: 20 for i in range(10)}
    everything = splits["train"] + splits["val"] + splits["test"]
    assert sorted(everything) == sorted(entries) and len(set(everything)) == len(entries)
    assert split_tobacco3482(list(reversed(entries)), seed=42) == splits  # input order does not matter
    assert split_tobacco3482(entries, seed=1)["train"] != splits["train"]
    # the label-file format round-trips with 10 classes
    write_label_file(tmp_path / "train.txt", splits["train"])
    assert read_label_file(tmp_path / "train.txt", n_classes=10) == splits["train"]
    with pytest.raises(ValueError, match="fewer than 80 train"):
        split_tobacco3482(entries[:50])


def test_per_class_rows_draw_the_student_subset_and_nest() -> None:
    """`dic.student_pages` N (distildoc.data.tensors.per_class_rows): on a decoded split's labels, the student subset's
    N and seed choose exactly the rows of the subset's pages (the same shuffle), and a larger N chooses a superset."""
    import torch

    from distildoc.data.tensors import TensorSplit, per_class_rows

    counts = {c: 9 + (c % 4) for c in range(16)}
    entries = _toy_entries(counts)
    labels = torch.tensor([c for _, c in entries])
    row_of = {path: i for i, (path, _) in enumerate(entries)}
    subset_rows = sorted(row_of[p] for p, _ in subset_per_class(entries, 3, seed=42))
    assert per_class_rows(labels, 3, 42).tolist() == subset_rows
    assert per_class_rows(labels, 3, 42).tolist() == sorted(row_of[p] for p, _ in _expected_subset(entries, 3, 42))
    bigger = per_class_rows(labels, 7, 42)
    assert set(subset_rows) <= set(bigger.tolist())
    assert Counter(labels[bigger].tolist()) == {c: 7 for c in range(16)}
    split = TensorSplit(torch.arange(len(entries), dtype=torch.uint8).view(-1, 1, 1).expand(-1, 2, 2).clone(), labels,
                        [p for p, _ in entries], ["bad.tif"])
    part = split.take(bigger)
    assert part.ids == [entries[i][0] for i in bigger.tolist()] and part.skipped == ["bad.tif"]
    assert torch.equal(part.labels, labels[bigger]) and torch.equal(part.images[:, 0, 0], bigger.to(torch.uint8))
