"""PAGE XML -> COCO on small hand-written files (both Coords styles, several schema versions)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from pycocotools.coco import COCO

from distildoc.data.coco import load_coco
from distildoc.data.labels import PRIMA_CATEGORIES
from distildoc.data.prima import convert_prima, page_xml_to_coco, parse_page_xml, split_prima

PAGE_2019 = """<?xml version="1.0" encoding="UTF-8"?>
<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15">
  <Metadata><Creator>test</Creator><Created>2024-01-01T00:00:00</Created></Metadata>
  <Page imageFilename="00000086.tif" imageWidth="200" imageHeight="300">
    <ReadingOrder><OrderedGroup id="ro1"><RegionRefIndexed index="0" regionRef="r1"/></OrderedGroup></ReadingOrder>
    <TextRegion id="r1" type="paragraph">
      <Coords points="10,20 50,20 50,60 10,60"/>
      <TextLine id="l1"><Coords points="12,22 48,22 48,30 12,30"/></TextLine>
    </TextRegion>
    <ImageRegion id="r2"><Coords points="100,100 180,100 180,150 100,150"/></ImageRegion>
    <GraphicRegion id="r3"><Coords points="0,200 40,200 40,210 0,210"/></GraphicRegion>
    <SeparatorRegion id="r4"><Coords points="60,0 100,0 100,10 70,10 70,30 60,30"/></SeparatorRegion>
    <TableRegion id="r5">
      <Coords points="10,250 110,250 110,290 10,290"/>
      <TextRegion id="r5c"><Coords points="10,250 60,250 60,270 10,270"/></TextRegion>
    </TableRegion>
    <NoiseRegion id="r6"><Coords points="5,5 9,5"/></NoiseRegion>
  </Page>
</PcGts>
"""

PAGE_2010 = """<?xml version="1.0" encoding="UTF-8"?>
<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2010-03-19">
  <Page imageFilename="00000120.tif" imageWidth="100" imageHeight="100">
    <MathsRegion id="m1"><Coords>
      <Point x="20" y="30"/><Point x="60" y="30"/><Point x="60" y="45"/><Point x="20" y="45"/>
    </Coords></MathsRegion>
    <ChartRegion id="c1"><Coords>
      <Point x="0" y="0"/><Point x="10" y="0"/><Point x="10" y="10"/><Point x="0" y="10"/>
    </Coords></ChartRegion>
  </Page>
</PcGts>
"""

# hand-computed: (region type, category id, bbox [x, y, w, h], polygon area)
EXPECTED_2019 = [
    ("TextRegion", 1, [10, 20, 40, 40], 40 * 40),
    ("ImageRegion", 2, [100, 100, 80, 50], 80 * 50),
    ("GraphicRegion", 6, [0, 200, 40, 10], 40 * 10),  # -> OtherRegion
    ("SeparatorRegion", 5, [60, 0, 40, 30], 40 * 10 + 10 * 20),  # L shape: top bar + stem
    ("TableRegion", 3, [10, 250, 100, 40], 100 * 40),  # its nested cell is not an instance
]
EXPECTED_2010 = [
    ("MathsRegion", 4, [20, 30, 40, 15], 40 * 15),
    ("ChartRegion", 6, [0, 0, 10, 10], 10 * 10),  # -> OtherRegion
]


@pytest.fixture
def xml_files(tmp_path: Path) -> list[Path]:
    a, b = tmp_path / "00000086.xml", tmp_path / "00000120.xml"
    a.write_text(PAGE_2019)
    b.write_text(PAGE_2010)
    return [a, b]


def test_parse_both_coords_styles(xml_files: list[Path]) -> None:
    page = parse_page_xml(xml_files[0])
    assert (page.image_filename, page.width, page.height) == ("00000086.tif", 200, 300)
    assert [r.region_id for r in page.regions] == ["r1", "r2", "r3", "r4", "r5"]  # r6 has 2 points: skipped
    assert page.regions[0].polygon == [10, 20, 50, 20, 50, 60, 10, 60]
    assert page.regions[2].category == "OtherRegion"
    old = parse_page_xml(xml_files[1])
    assert old.regions[0].polygon == [20, 30, 60, 30, 60, 45, 20, 45]
    assert [r.category for r in old.regions] == ["MathsRegion", "OtherRegion"]


def test_coco_conversion_by_hand(xml_files: list[Path], tmp_path: Path) -> None:
    coco = page_xml_to_coco(xml_files)
    assert [(c["id"], c["name"]) for c in coco["categories"]] == list(enumerate(PRIMA_CATEGORIES, 1))
    assert [(im["id"], im["file_name"], im["width"], im["height"]) for im in coco["images"]] == [
        (1, "00000086.tif", 200, 300), (2, "00000120.tif", 100, 100)]
    got = [(a["image_id"], a["region_type"], a["category_id"], a["bbox"], a["area"]) for a in coco["annotations"]]
    want = [(1, *e) for e in EXPECTED_2019] + [(2, *e) for e in EXPECTED_2010]
    assert got == want
    assert [a["id"] for a in coco["annotations"]] == list(range(1, 8))
    assert coco["annotations"][3]["segmentation"] == [[60, 0, 100, 0, 100, 10, 70, 10, 70, 30, 60, 30]]
    # the result is a valid COCO file for our loader and for pycocotools
    from distildoc.utils.io import write_json

    path = write_json(tmp_path / "prima.json", coco)
    load_coco(path)
    api = COCO(str(path))
    mask = api.annToMask(api.loadAnns([4])[0])
    assert int(mask.sum()) == 600 and mask[5, 80] == 1 and mask[20, 80] == 0


def test_split_rule_and_convert(tmp_path: Path) -> None:
    folder = tmp_path / "xml"
    folder.mkdir()
    names = [f"{k:08d}.xml" for k in (86, 120, 3, 77, 1001, 45, 9, 300, 12, 555)]
    for name in names:
        (folder / name).write_text(PAGE_2010.replace("00000120.tif", name.replace(".xml", ".tif")))
    split = split_prima([folder / n for n in names], seed=42)
    # the documented rule, written out: sort by name, shuffle with Random(42), 8 train / 2 test
    ordered = sorted(names)
    idx = list(range(len(ordered)))
    random.Random(42).shuffle(idx)
    assert [p.name for p in split["train"]] == sorted(ordered[i] for i in idx[:8])
    assert [p.name for p in split["test"]] == sorted(ordered[i] for i in idx[8:])
    written = convert_prima(folder, tmp_path / "coco", seed=42)
    train = load_coco(written["train"])
    test = load_coco(written["test"])
    assert len(train["images"]) == 8 and len(test["images"]) == 2
    assert {im["page_xml"] for im in test["images"]} == {p.name for p in split["test"]}
    assert len(train["annotations"]) == 16


def test_bad_files_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "broken.xml"
    bad.write_text("<PcGts><Page imageWidth='10'")
    with pytest.raises(ValueError, match=r"broken\.xml: not well-formed"):
        parse_page_xml(bad)
    bad.write_text("<PcGts><Page imageWidth='10'/></PcGts>")
    with pytest.raises(ValueError, match=r"broken\.xml: Page needs integer imageWidth/imageHeight"):
        parse_page_xml(bad)
    bad.write_text("<PcGts><Page imageWidth='10' imageHeight='10'><TextRegion id='t'>"
                   "<Coords points='1,1 5;5 1,5'/></TextRegion></Page></PcGts>")
    with pytest.raises(ValueError, match=r"TextRegion t: malformed point '5;5'"):
        parse_page_xml(bad)
