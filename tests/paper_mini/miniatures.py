"""A miniature of every real input of the `paper` preset, in its real format, laid out as a mirror serves it.

:func:`build_mirror` writes ``<mirror>/<dataset>/<registry filename>`` for every file of
``distildoc.data.sources.SOURCES`` (the layout ``DISTILDOC_MIRROR`` fetches from), a registry override file
with their sha256 / size (``DISTILDOC_REGISTRY_OVERRIDE``), and the PRImA folder (a *manual* dataset: the user
unpacks it into ``data/raw/prima``; :func:`build_prima` writes it where the test says). A handful of pages each:

=================  ===============================================================================================
rvl_cdip           ``rvl-cdip.tar.gz`` (``images/imagesX/a/b/c/<id>/<id>.tif``: the 3 real RVL-CDIP TIFFs of
                   ``../shared/realdata/rvl_cdip`` + generated grayscale TIFFs, 3 / 1 / 1 per class for train / val /
                   test, one truncated TIFF in test as the real test.txt has) + ``labels/{train,val,test}.txt``
rvl_cdip_n         the 5 parquet shards of the hub (``image`` struct {bytes, path} + ``label``, ClassLabel names in
                   the ``huggingface`` schema metadata), one generated page per class of the 12
tobacco3482        ``tobacco3482.tar.gz``: ``Tobacco3482-jpg/<class>/<n>.jpg``, 4 JPEGs per class
doclaynet          ``DocLayNet_core.zip``: ``COCO/{train,val,test}.json`` (the 11 DocLayNet categories, ``precedence``,
                   ``doc_category``) + ``PNG/<sha256>.png`` at 1025x1025: the 20 real PubLayNet pages of
                   ``../shared/realdata/publaynet`` padded to a square and scaled, their boxes mapped to DocLayNet
                   classes; a precedence-1 duplicate of one box (the loader drops it)
prima              ``XML/pc-<id>.xml`` (PAGE 2010 XML) + ``Images/<id>.tif``: 10 PubLayNet pages as PRImA pages
docvqa             ``spdocvqa_qas.zip`` (``spdocvqa_qas/{train,val,test}_v1.0_withQT.json``: the 12 real val
                   questions on the 3 real pages of ``../shared/realdata/docvqa`` + question types),
                   ``spdocvqa_images.tar.gz``, ``spdocvqa_ocr.tar.gz`` (``spdocvqa_ocr/<page>.json``) and DUE's
                   ``DocVQA.tar.gz`` (``DocVQA/documents_content.jsonl``, ``microsoft_cv`` + ``tesseract`` layers)
infographicvqa     the same four archives for 3 generated infographics and 6 questions (``image_local_name``)
=================  ===============================================================================================

The DUE OCR of the miniatures is **generated** (the answers and some filler words at made-up positions), not the
real Azure OCR: no OCR was published with the fixture pages.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from distildoc.data.labels import (DOCLAYNET_CATEGORIES, RVL_CDIP_CLASSES, RVL_CDIP_N_CLASSES,
                                   TOBACCO3482_CLASSES)
from distildoc.data.sources import SOURCES

REPO = Path(__file__).resolve().parents[2]
REALDATA = REPO.parent / "shared" / "realdata"

#: PubLayNet class -> DocLayNet class, PAGE region type
PUBLAYNET_TO_DOCLAYNET = {"text": "Text", "title": "Title", "list": "List-item", "table": "Table", "figure": "Picture"}
PUBLAYNET_TO_PAGE = {"text": "TextRegion", "title": "TextRegion", "list": "TextRegion", "table": "TableRegion",
                     "figure": "ImageRegion"}
#: the RVL-CDIP labels of the three real TIFFs (their SOURCES.md)
REAL_RVL = {"80035521.tif": ("train", 15), "2024525661.tif": ("val", 11), "503210033+-0034.tif": ("test", 3)}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _page(seed: int, label: int, size: tuple[int, int], n_classes: int) -> Image.Image:
    """A grayscale page whose layout depends on its class (bands at class-specific heights) plus noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    arr = np.full((h, w), 235, np.uint8)
    band = h // (n_classes + 2)
    y = band * (label + 1)
    arr[y:y + band, w // 8: w - w // 8] = 40
    for _ in range(6):  # text-like lines
        ly = int(rng.integers(0, h - 4))
        arr[ly:ly + 2, int(rng.integers(0, w // 3)): int(rng.integers(w // 2, w))] = 90
    arr = np.clip(arr.astype(int) + rng.integers(-12, 12, arr.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "L")


def _bytes(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _tar_gz(members: dict[str, bytes]) -> bytes:
    """A .tar.gz of `members`, byte-identical on every build (member and gzip-header times 0): the miniatures'
    checksums do not change between builds, so a kept scratch folder's downloads stay valid."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------- classification


def rvl_cdip_files(per_split: dict[str, int] | None = None) -> dict[str, bytes]:
    """``rvl-cdip.tar.gz`` + the three official label files."""
    per_split = per_split or {"train": 3, "val": 1, "test": 1}
    members: dict[str, bytes] = {}
    lines: dict[str, list[str]] = {s: [] for s in per_split}
    k = 0
    for split, n in per_split.items():
        for label in range(len(RVL_CDIP_CLASSES)):
            for _ in range(n):
                doc = f"{k:08d}"
                rel = f"imagesa/a/{doc[-2]}/{doc[-1]}/{doc}/{doc}.tif"
                members[f"images/{rel}"] = _bytes(_page(k, label, (78, 100), 16), "TIFF")
                lines[split].append(f"{rel} {label}")
                k += 1
    for name, (split, label) in REAL_RVL.items():  # the real pages, at their real labels
        src = REALDATA / "rvl_cdip" / name
        rel = f"imagesz/z/z/z/{Path(name).stem}/{name}"
        members[f"images/{rel}"] = src.read_bytes()
        lines[split].append(f"{rel} {label}")
    # the real test.txt names an unreadable image: so does the miniature's (a truncated TIFF)
    rel = "imagesz/z/z/y/broken/broken.tif"
    members[f"images/{rel}"] = _bytes(_page(999, 0, (78, 100), 16), "TIFF")[:200]
    lines["test"].append(f"{rel} 0")
    out = {"rvl-cdip.tar.gz": _tar_gz(members)}
    for split, rows in lines.items():
        out[f"labels/{split}.txt"] = ("\n".join(rows) + "\n").encode()
    return out


def rvl_cdip_n_files() -> dict[str, bytes]:
    """The five hub parquet shards (pyarrow)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    hub_names = sorted(c.replace(" ", "_") for c in RVL_CDIP_N_CLASSES)  # the hub's ClassLabel names
    shards = [f.filename for f in SOURCES["rvl_cdip_n"].files]
    rows: list[list[tuple[bytes, str, int]]] = [[] for _ in shards]
    for i, name in enumerate(hub_names):
        img = _page(5000 + i, i, (80, 104), len(hub_names)).convert("RGB")
        rows[i % len(shards)].append((_bytes(img, "JPEG", quality=80), f"{name}/{i:05d}.jpg", i))
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    features = {"image": {"_type": "Image"}, "label": {"names": hub_names, "_type": "ClassLabel"}}
    out = {}
    for filename, shard_rows in zip(shards, rows):
        table = pa.table({"image": pa.array([{"bytes": b, "path": p} for b, p, _ in shard_rows], type=image_type),
                          "label": pa.array([label for _, _, label in shard_rows], type=pa.int64())})
        table = table.replace_schema_metadata({b"huggingface": json.dumps({"info": {"features": features}}).encode()})
        buf = io.BytesIO()
        pq.write_table(table, buf)
        out[filename] = buf.getvalue()
    return out


def tobacco3482_files(per_class: int = 4) -> dict[str, bytes]:
    members = {}
    for label, cls in enumerate(TOBACCO3482_CLASSES):
        for i in range(per_class):
            img = _page(7000 + 10 * label + i, label, (78, 100), len(TOBACCO3482_CLASSES))
            members[f"Tobacco3482-jpg/{cls}/{cls.lower()}_{i:03d}.jpg"] = _bytes(img, "JPEG", quality=85)
    return {"tobacco3482.tar.gz": _tar_gz(members)}


# --------------------------------------------------------------------------------------------- layout


def _publaynet() -> tuple[list[dict], dict[int, list[dict]], dict[int, str]]:
    coco = json.loads((REALDATA / "publaynet" / "samples.json").read_text())
    images = sorted(coco["images"], key=lambda im: im["file_name"])
    anns: dict[int, list[dict]] = {}
    for a in coco["annotations"]:
        anns.setdefault(a["image_id"], []).append(a)
    cats = {c["id"]: c["name"] for c in coco["categories"]}
    return images, anns, cats


def doclaynet_files(side: int = 1025) -> dict[str, bytes]:
    """``DocLayNet_core.zip``: COCO/{train,val,test}.json + PNG/<hash>.png, from the 20 PubLayNet pages."""
    images, anns, cats = _publaynet()
    splits = {"train": images[:12], "val": images[12:16], "test": images[16:20]}
    members: dict[str, bytes] = {}
    categories = [{"id": i + 1, "name": n, "supercategory": n} for i, n in enumerate(DOCLAYNET_CATEGORIES)]
    ann_id = 1
    for split, ims in splits.items():
        coco = {"info": {"description": "DocLayNet miniature (PubLayNet pages)"}, "images": [], "annotations": [],
                "categories": categories}
        for im in ims:
            page = Image.open(REALDATA / "publaynet" / im["file_name"]).convert("RGB")
            w, h = page.size
            scale = side / max(w, h)  # DocLayNet pages are 1025 x 1025: the page scaled and centred
            page = page.resize((round(w * scale), round(h * scale)), Image.Resampling.BILINEAR)
            canvas = Image.new("RGB", (side, side), "white")
            ox, oy = (side - page.width) // 2, (side - page.height) // 2
            canvas.paste(page, (ox, oy))
            png = _bytes(canvas, "PNG", optimize=False, compress_level=1)
            name = f"{_sha(png)}.png"
            members[f"PNG/{name}"] = png
            coco["images"].append({"id": im["id"], "file_name": name, "width": side, "height": side,
                                   "doc_category": "scientific_articles", "collection": "ann_reports_00_04_fancy",
                                   "doc_name": im["file_name"], "page_no": 0, "precedence": 0})
            for k, a in enumerate(anns.get(im["id"], [])):
                x, y, bw, bh = a["bbox"]
                box = [x * scale + ox, y * scale + oy, bw * scale, bh * scale]
                seg = [[box[0], box[1], box[0] + box[2], box[1], box[0] + box[2], box[1] + box[3], box[0],
                        box[1] + box[3]]]
                cat = DOCLAYNET_CATEGORIES.index(PUBLAYNET_TO_DOCLAYNET[cats[a["category_id"]]]) + 1
                rec = {"id": ann_id, "image_id": im["id"], "category_id": cat, "bbox": box,
                       "segmentation": seg, "area": box[2] * box[3], "iscrowd": 0, "precedence": 0}
                coco["annotations"].append(rec)
                ann_id += 1
                if k == 0:  # a second annotator's box: precedence 1, dropped by the conversion
                    coco["annotations"].append({**rec, "id": ann_id, "precedence": 1})
                    ann_id += 1
        members[f"COCO/{split}.json"] = json.dumps(coco).encode()
    return {"DocLayNet_core.zip": _zip(members)}


PAGE_XML = """<?xml version="1.0" encoding="UTF-8"?>
<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2010-03-19" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" pcGtsId="pc-{page}">
  <Metadata><Creator>distildoc paper_mini</Creator><Created>2024-01-01T00:00:00</Created></Metadata>
  <Page imageFilename="{page}.tif" imageWidth="{w}" imageHeight="{h}">
{regions}
  </Page>
</PcGts>
"""


def build_prima(dest: Path, n_pages: int = 10) -> Path:
    """The PRImA folder a user unpacks into ``data/raw/prima``: ``XML/pc-<id>.xml`` + ``Images/<id>.tif``."""
    images, anns, cats = _publaynet()
    (dest / "XML").mkdir(parents=True, exist_ok=True)
    (dest / "Images").mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images[:n_pages]):
        page = f"{i + 1:08d}"
        Image.open(REALDATA / "publaynet" / im["file_name"]).convert("L").save(dest / "Images" / f"{page}.tif")
        regions = []
        for k, a in enumerate(anns.get(im["id"], [])):
            x, y, bw, bh = (int(round(v)) for v in a["bbox"])
            kind = PUBLAYNET_TO_PAGE[cats[a["category_id"]]]
            points = f"{x},{y} {x + bw},{y} {x + bw},{y + bh} {x},{y + bh}"
            regions.append(f'    <{kind} id="r{k}"><Coords points="{points}"/></{kind}>')
        if i % 3 == 0:  # a separator and a region type PRImA maps to OtherRegion
            regions.append('    <SeparatorRegion id="s1"><Coords points="20,10 500,10 500,14 20,14"/></SeparatorRegion>')
            regions.append('    <GraphicRegion id="g1"><Coords points="30,20 80,20 80,60 30,60"/></GraphicRegion>')
        (dest / "XML" / f"pc-{page}.xml").write_text(
            PAGE_XML.format(page=page, w=im["width"], h=im["height"], regions="\n".join(regions)))
    return dest


# --------------------------------------------------------------------------------------------- DocVQA


def _due_record(name: str, words: list[str], size: tuple[int, int], tools=("microsoft_cv", "tesseract")) -> dict:
    """One DUE ``documents_content.jsonl`` record: the words laid out in lines of 6 (generated positions)."""
    w, h = size
    boxes = []
    for i, word in enumerate(words):
        row, col = divmod(i, 6)
        x = 40 + col * (w - 80) // 6
        y = 40 + row * 24
        boxes.append([x, y, x + 10 * len(word), y + 18])
    lines = [[s, min(s + 6, len(words))] for s in range(0, len(words), 6)]
    line_boxes = [[min(b[0] for b in boxes[s:e]), min(b[1] for b in boxes[s:e]), max(b[2] for b in boxes[s:e]),
                   max(b[3] for b in boxes[s:e])] for s, e in lines]
    contents = []
    for tool in tools:
        contents.append({"tool_name": tool, "text": " ".join(words), "common_format": {
            "tokens": words, "positions": boxes, "scores": [1.0] * len(words),
            "structures": {"pages": {"positions": [[0, 0, w, h]], "structure_value": [[0, len(words)]]},
                           "lines": {"positions": line_boxes, "structure_value": lines}}}})
    return {"name": name, "language": "en", "split": "dev", "contents": contents}


_FILLER = "the of report date total page number amount name address phone company reference".split()


def _words_for(questions: list[dict], seed: int) -> list[str]:
    rng = random.Random(seed)
    words = [w for q in questions for w in str(q["answers"][0]).split()]
    words += rng.sample(_FILLER, 8)
    rng.shuffle(words)
    return words


QUESTION_TYPES = ["layout", "form", "table/list", "free_text", "handwritten", "others"]


def docvqa_files() -> dict[str, bytes]:
    """SP-DocVQA's RRC archives + DUE's DocVQA.tar.gz, from the 12 real val questions on 3 real pages."""
    real = json.loads((REALDATA / "docvqa" / "val_v1.0.json").read_text())
    data = []
    for i, q in enumerate(real["data"]):
        data.append({**q, "question_types": [QUESTION_TYPES[i % len(QUESTION_TYPES)]]})
    by_page: dict[str, list[dict]] = {}
    for q in data:
        by_page.setdefault(f"{q['ucsf_document_id']}_{q['ucsf_document_page_no']}", []).append(q)
    header = {k: v for k, v in real.items() if k != "data"}
    qas = {f"spdocvqa_qas/{split}_v1.0_withQT.json": json.dumps(
        {**header, "dataset_split": split, "data": data if split == "val" else
         [{k: v for k, v in q.items() if k != "answers"} for q in data[:2]] if split == "test" else data[:4]}).encode()
        for split in ("train", "val", "test")}
    images, ocr, due = {}, {}, []
    for k, (page, qs) in enumerate(sorted(by_page.items())):
        png = (REALDATA / "docvqa" / f"{page}.png").read_bytes()
        images[f"spdocvqa_images/{page}.png"] = png
        size = Image.open(io.BytesIO(png)).size
        words = _words_for(qs, k)
        rec = _due_record(page, words, size)
        due.append(rec)
        lay = rec["contents"][0]["common_format"]
        ocr[f"spdocvqa_ocr/{page}.json"] = json.dumps({"status": "succeeded", "recognitionResults": [{
            "page": 1, "width": size[0], "height": size[1], "unit": "pixel",
            "lines": [{"boundingBox": [b[0], b[1], b[2], b[1], b[2], b[3], b[0], b[3]], "text": t,
                       "words": [{"boundingBox": [b[0], b[1], b[2], b[1], b[2], b[3], b[0], b[3]], "text": t}]}
                      for t, b in zip(lay["tokens"], lay["positions"])]}]}).encode()
    jsonl = ("\n".join(json.dumps(r) for r in due) + "\n").encode()
    return {"spdocvqa_qas.zip": _zip(qas), "spdocvqa_images.tar.gz": _tar_gz(images),
            "spdocvqa_ocr.tar.gz": _tar_gz(ocr), "due_DocVQA.tar.gz": _tar_gz({"DocVQA/documents_content.jsonl": jsonl})}


def infographicvqa_files(n_images: int = 3) -> dict[str, bytes]:
    """InfographicVQA's RRC archives + DUE's InfographicsVQA.tar.gz, for generated infographics."""
    facts = [("How many people were surveyed?", "2,400"), ("Which country is shown in red?", "Canada"),
             ("What percentage use mobile phones?", "68%"), ("What is the title of the chart?", "Digital Life"),
             ("In which year was the survey done?", "2019"), ("How many icons are shown?", "5")]
    data, images, ocr, due = [], {}, {}, []
    for k in range(n_images):
        name = f"{30000 + k}.jpeg"
        img = Image.new("RGB", (360, 900), (250, 245, 235))
        draw = ImageDraw.Draw(img)
        for j in range(4):
            draw.rectangle([20, 60 + 200 * j, 340, 220 + 200 * j], fill=((60 * j) % 255, 120, 200 - 40 * j))
            draw.text((30, 70 + 200 * j), facts[(2 * k + j) % len(facts)][1], fill="white")
        images[f"infographicsvqa_images/{name}"] = _bytes(img, "JPEG", quality=85)
        qs = []
        for j in range(2):
            question, answer = facts[(2 * k + j) % len(facts)]
            q = {"questionId": 65000 + 2 * k + j, "question": question, "image_local_name": name,
                 "image_url": f"https://example.org/infographics/{name}", "ocr_output_file": f"{30000 + k}.json",
                 "answers": [answer], "data_split": "val", "answer_type": ["single span"],
                 "evidence": ["text"], "operation/reasoning": [], "question_types": [QUESTION_TYPES[j]]}
            qs.append(q)
        data += qs
        rec = _due_record(Path(name).stem, _words_for(qs, 100 + k), img.size)
        due.append(rec)
        ocr[f"infographicsvqa_ocr/{30000 + k}.json"] = json.dumps(
            {"WORD": [{"Text": t, "Geometry": {"BoundingBox": dict(zip(("Left", "Top", "Width", "Height"), b))}}
                      for t, b in zip(rec["contents"][0]["common_format"]["tokens"],
                                      rec["contents"][0]["common_format"]["positions"])]}).encode()
    header = {"dataset_name": "infographicVQA", "dataset_version": "1.0"}
    qas = {f"infographicsvqa_qas/infographicsVQA_{split}_v1.0_withQT.json": json.dumps(
        {**header, "dataset_split": split, "data": data if split == "val" else data[:2]}).encode()
        for split in ("train", "val")}
    jsonl = ("\n".join(json.dumps(r) for r in due) + "\n").encode()
    return {"infographicsvqa_qas.zip": _zip(qas), "infographicsvqa_images.tar.gz": _tar_gz(images),
            "infographicsvqa_ocr.tar.gz": _tar_gz(ocr),
            "due_InfographicsVQA.tar.gz": _tar_gz({"InfographicsVQA/documents_content.jsonl": jsonl})}


# --------------------------------------------------------------------------------------------- the mirror

BUILDERS = {"rvl_cdip": rvl_cdip_files, "rvl_cdip_n": rvl_cdip_n_files, "tobacco3482": tobacco3482_files,
            "doclaynet": doclaynet_files, "docvqa": docvqa_files, "infographicvqa": infographicvqa_files}


def build_mirror(root: Path) -> tuple[Path, Path]:
    """Write every downloadable dataset's miniature under ``root/mirror/<dataset>/<filename>`` and the registry
    override file ``root/registry_override.json`` (sha256 + size of each); returns both paths. Every file of
    the registry is served (a file the registry lists and the miniature lacked would fail here)."""
    mirror = root / "mirror"
    if mirror.exists():
        shutil.rmtree(mirror)
    override: dict[str, dict[str, dict]] = {}
    for name, source in SOURCES.items():
        if source.manual:
            continue
        files = BUILDERS[name]()
        expected = {f.filename for f in source.files}
        if set(files) != expected:
            raise AssertionError(f"miniature of {name}: files {sorted(files)} != registry {sorted(expected)}")
        for filename, data in files.items():
            path = mirror / name / filename
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        override[name] = {fn: {"sha256": _sha(data), "size": len(data)} for fn, data in files.items()}
    override_path = root / "registry_override.json"
    override_path.write_text(json.dumps(override, indent=1))
    return mirror, override_path
