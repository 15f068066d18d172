"""Hand-worked tests of the DLA enrichment rules (DistilDoc Algorithm 1, released-code variant)."""

from __future__ import annotations

import copy

import pytest

from distildoc.data.ocr import OcrPage
from distildoc.docvqa.enrich import (
    area_mostly_inside,
    closest_tokens,
    enrich_page,
    iou,
    is_tag,
    point_strictly_inside,
    rescale_boxes,
    token_matches_end,
    token_matches_start,
)

# Two lines, two 100x100 tokens each:
#   line 0:  A (0,100,100,200)   B (200,100,300,200)
#   line 1:  C (0,300,100,400)   D (200,300,300,400)
A, B, C, D = (0, 100, 100, 200), (200, 100, 300, 200), (0, 300, 100, 400), (200, 300, 300, 400)


def grid_page() -> OcrPage:
    return OcrPage(
        doc_id="grid",
        words=["A", "B", "C", "D"],
        boxes=[A, B, C, D],
        lines=[(0, 2), (2, 4)],
        width=1000,
        height=1000,
        source="test",
        meta={"origin": ["x"]},
    )


def preds(*items, image_size=(1000, 1000)):
    """items: (label, box, score)."""
    return {
        "boxes": [list(b) for _, b, _ in items],
        "labels": [lab for lab, _, _ in items],
        "scores": [s for _, _, s in items],
        "image_size": image_size,
    }


def lines_text(page: OcrPage) -> list[str]:
    return [" ".join(page.words[s:e]) for s, e in page.lines]


# ----------------------------------------------------------------------------------- membership rules


def test_iou_rule():
    # Region strictly inside B: intersection 60*60 = 3600, union = 10000 -> IoU 0.36 > 0.3.
    region = (210, 110, 270, 170)
    assert iou(region, B) == pytest.approx(0.36)
    # ... and it is the only rule that fires: no corner of B inside, only 36 % of B's area inside.
    assert not point_strictly_inside(region, B[0], B[1])
    assert not point_strictly_inside(region, B[2], B[3])
    assert not area_mostly_inside(B, region)
    assert token_matches_start(region, B) and token_matches_end(region, B)

    out = enrich_page(grid_page(), preds(("Table", region, 0.9)))
    assert out.words == ["A", "<Table>", "B", "</Table>", "C", "D"]
    assert out.meta["dla"]["regions"][0]["fallback_start"] is False
    assert out.meta["dla"]["regions"][0]["fallback_end"] is False
    # A smaller inner region (IoU 2500/10000 = 0.25) no longer matches.
    assert not token_matches_start((220, 120, 270, 170), B)


def test_top_left_inside_rule_feeds_start_only():
    # B's top-left (200,100) is strictly inside; intersection 40*40 = 1600: IoU 1600/10900 ~ 0.147, 16 % of area.
    region = (190, 90, 240, 140)
    assert iou(region, B) < 0.3 and not area_mostly_inside(B, region)
    assert token_matches_start(region, B)
    assert not token_matches_end(region, B)  # bottom-right (300,200) is outside
    out = enrich_page(grid_page(), preds(("Title", region, 0.9)))
    # start = B by the rule; end falls back to the closest bottom-right corner to (240,140):
    # A (100,200): 140+60=200, B (300,200): 60+60=120, C: 140+260, D: 60+260 -> B.
    assert out.words == ["A", "<Title>", "B", "</Title>", "C", "D"]
    region_meta = out.meta["dla"]["regions"][0]
    assert (region_meta["start"], region_meta["end"]) == (1, 1)
    assert region_meta["fallback_start"] is False and region_meta["fallback_end"] is True


def test_bottom_right_inside_rule_feeds_end_only():
    region = (260, 160, 310, 210)  # B's bottom-right (300,200) strictly inside; 1600 px overlap
    assert token_matches_end(region, B)
    assert not token_matches_start(region, B)
    out = enrich_page(grid_page(), preds(("Caption", region, 0.9)))
    # start falls back to the closest top-left corner to (260,160): A 260+60, B 60+60=120, C 260+140, D 60+140.
    assert out.words == ["A", "<Caption>", "B", "</Caption>", "C", "D"]
    region_meta = out.meta["dla"]["regions"][0]
    assert region_meta["fallback_start"] is True and region_meta["fallback_end"] is False


def test_area_rule():
    # Region spans exactly B's y-range (so no corner is *strictly* inside) and x 240..600:
    # overlap 60*100 = 6000 > 50 % of 10000; IoU = 6000 / (10000 + 36000 - 6000) = 0.15.
    region = (240, 100, 600, 200)
    assert iou(region, B) == pytest.approx(0.15)
    assert not point_strictly_inside(region, B[0], B[1])
    assert not point_strictly_inside(region, B[2], B[3])
    assert area_mostly_inside(B, region)
    # exactly 50 % is not enough
    assert not area_mostly_inside(B, (250, 100, 600, 200))
    out = enrich_page(grid_page(), preds(("Formula", region, 0.9)))
    assert out.words == ["A", "<Formula>", "B", "</Formula>", "C", "D"]
    assert out.meta["dla"]["regions"][0]["fallback_start"] is False


def test_first_and_last_matching_tokens():
    # A region over the whole grid: start = first token, end = last token in OCR order.
    out = enrich_page(grid_page(), preds(("Table", (-10, 90, 310, 410), 0.9)))
    assert out.words == ["<Table>", "A", "B", "C", "D", "</Table>"]
    assert out.lines == [(0, 3), (3, 6)]


# ------------------------------------------------------------------------------- selection / rescaling


def test_score_threshold_and_ignore_list():
    items = (
        ("Title", (-10, 90, 110, 210), 0.5),  # exactly the threshold: dropped (score must be > 0.5)
        ("Text", (190, 90, 310, 210), 0.99),  # ignored label
        ("Picture", (-10, 290, 110, 410), 0.51),  # kept
    )
    out = enrich_page(grid_page(), preds(*items))
    assert out.words == ["A", "B", "<Picture>", "C", "</Picture>", "D"]

    out = enrich_page(grid_page(), preds(*items), ignore_labels=())
    assert out.words == ["A", "<Text>", "B", "</Text>", "<Picture>", "C", "</Picture>", "D"]

    out = enrich_page(grid_page(), preds(*items), score_threshold=0.4, ignore_labels=("Picture",))
    assert out.words == ["<Title>", "A", "</Title>", "<Text>", "B", "</Text>", "C", "D"]


def test_rescaling_from_dla_image_size():
    assert rescale_boxes([(105, 27.5, 135, 42.5)], (500, 250), (1000, 1000)) == [(210.0, 110.0, 270.0, 170.0)]
    # DLA ran on a 500x250 image: (105,27.5,135,42.5) -> (210,110,270,170) on the 1000x1000 page (IoU rule on B).
    out = enrich_page(grid_page(), preds(("Table", (105, 27.5, 135, 42.5), 0.9), image_size=(500, 250)))
    assert out.words == ["A", "<Table>", "B", "</Table>", "C", "D"]
    assert out.meta["dla"]["regions"][0]["box"] == [210.0, 110.0, 270.0, 170.0]
    # Same box without rescaling (same image size): it touches no token -> fallback. Top-left (105,27.5):
    # A 105+72.5=177.5, B 95+72.5=167.5 -> B; bottom-right (135,42.5): A 35+157.5=192.5, B 165+157.5 -> A.
    out = enrich_page(grid_page(), preds(("Table", (105, 27.5, 135, 42.5), 0.9)))
    assert out.words == ["A", "</Table>", "<Table>", "B", "C", "D"]
    assert out.meta["dla"]["regions"][0]["box"] == [105.0, 27.5, 135.0, 42.5]


# --------------------------------------------------------------------------------------------- nesting


def test_nested_regions_and_line_ranges():
    table = ("Table", (-10, 90, 310, 410), 0.9)  # A..D
    caption = ("Caption", (-10, 290, 310, 410), 0.9)  # C..D (area rule: fully inside)
    out = enrich_page(grid_page(), preds(table, caption))
    assert out.words == ["<Table>", "A", "B", "<Caption>", "C", "D", "</Caption>", "</Table>"]
    assert lines_text(out) == ["<Table> A B", "<Caption> C D </Caption> </Table>"]
    assert out.lines == [(0, 3), (3, 8)]


def test_same_start_opens_outer_first_regardless_of_prediction_order():
    title = ("Title", (-10, 90, 310, 210), 0.9)  # A..B, listed first
    table = ("Table", (-10, 90, 310, 410), 0.9)  # A..D
    out = enrich_page(grid_page(), preds(title, table))
    assert out.words == ["<Table>", "<Title>", "A", "B", "</Title>", "C", "D", "</Table>"]
    assert out.lines == [(0, 5), (5, 8)]


def test_same_end_closes_inner_first_and_identical_spans_nest():
    title = ("Title", (-10, 90, 310, 210), 0.9)  # A..B
    picture = ("Picture", (210, 110, 270, 170), 0.9)  # B only (IoU rule)
    out = enrich_page(grid_page(), preds(title, picture))
    assert out.words == ["<Title>", "A", "<Picture>", "B", "</Picture>", "</Title>", "C", "D"]

    first = ("Table", (-10, 290, 310, 410), 0.9)
    second = ("Picture", (-10, 290, 310, 410), 0.8)
    out = enrich_page(grid_page(), preds(first, second))
    assert out.words == ["A", "B", "<Table>", "<Picture>", "C", "D", "</Picture>", "</Table>"]


def test_end_tag_and_start_tag_on_the_same_token():
    # Region 1 ends at B, region 2 starts at B: </X> goes after B, <Y> before B (the released index shift
    # would have put <Y> after B).
    x = ("Title", (-10, 90, 110, 210), 0.9)  # A only
    x_to_b = ("Section-header", (-10, 90, 310, 210), 0.9)  # A..B
    y = ("Picture", (190, 90, 310, 410), 0.9)  # B..D
    out = enrich_page(grid_page(), preds(x, x_to_b, y))
    assert out.words == [
        "<Section-header>", "<Title>", "A", "</Title>", "<Picture>", "B", "</Section-header>",
        "C", "D", "</Picture>",
    ]  # fmt: skip


# ------------------------------------------------------------------------------------ fallback / order


def test_box_without_tokens_uses_closest_corners():
    # Nothing overlaps (600,600,700,700). Top-left (600,600): A 1100, B 900, C 900, D 700 -> D;
    # bottom-right (700,700): A 1100, B 900, C 900, D 700 -> D.
    assert closest_tokens((600, 600, 700, 700), [A, B, C, D]) == (3, 3)
    out = enrich_page(grid_page(), preds(("Picture", (600, 600, 700, 700), 0.9)))
    assert out.words == ["A", "B", "C", "<Picture>", "D", "</Picture>"]
    meta = out.meta["dla"]["regions"][0]
    assert meta["fallback_start"] and meta["fallback_end"]


def test_end_before_start_is_kept():
    # Region in the gap between the lines: top-left (0,220) is closest to C (80 vs A 120),
    # bottom-right (300,280) is closest to B (80 vs D 120): start C (2) after end B (1).
    out = enrich_page(grid_page(), preds(("Picture", (0, 220, 300, 280), 0.9)))
    assert out.words == ["A", "B", "</Picture>", "<Picture>", "C", "D"]
    assert (out.meta["dla"]["regions"][0]["start"], out.meta["dla"]["regions"][0]["end"]) == (2, 1)
    # each tag stays on its anchoring token's line
    assert lines_text(out) == ["A B </Picture>", "<Picture> C D"]


# ----------------------------------------------------------------------------------- lines and boxes


def test_tags_stay_on_their_line():
    page = OcrPage(
        doc_id="three",
        words=["a", "b", "c", "d", "e", "f"],
        boxes=[(0, 0, 10, 10), (20, 0, 30, 10), (0, 20, 10, 30), (20, 20, 30, 30), (0, 40, 10, 50), (20, 40, 30, 50)],
        lines=[(0, 2), (2, 4), (4, 6)],
        width=100,
        height=100,
    )
    # Region from b (end of line 0) to c (start of line 1): <X> before b on line 0, </X> after c on line 1.
    items = (("List-item", (15, -5, 35, 5), 0.9), ("List-item", (-5, 25, 5, 35), 0.9))
    out = enrich_page(page, preds(*items, image_size=(100, 100)))
    # First region: b's top-left (20,0) is strictly inside -> start b; no bottom-right inside, IoU 0.2,
    # 50 % area (not > 50 %) -> end falls back to the closest bottom-right to (35,5): b (5+5=10).
    # Second region matches nothing -> top-left closest to (-5,25): c (5+5=10); bottom-right closest to
    # (5,35): c (5+5=10). So the list items are [b] and [c].
    assert lines_text(out) == ["a <List-item> b </List-item>", "<List-item> c </List-item> d", "e f"]
    assert out.lines == [(0, 4), (4, 8), (8, 10)]

    spanning = enrich_page(page, preds(("Table", (15, -5, 15.5, 35), 0.9), image_size=None))
    # top-left of b? (20,0) is not inside x 15..15.5 -> fallback start: TL closest to (15,-5): a 15+5=20, b 5+5=10 -> b.
    # end: BR closest to (15.5,35): c (10,30) 5.5+5=10.5, d (30,30) 14.5+5 -> c.
    assert lines_text(spanning) == ["a <Table> b", "c </Table> d", "e f"]
    assert spanning.lines == [(0, 3), (3, 6), (6, 8)]
    # every line range stays inside the page and lines do not overlap
    flat = [i for s, e in spanning.lines for i in range(s, e)]
    assert flat == list(range(len(spanning.words)))


def test_tag_boxes_are_scaled_neighbour_boxes():
    out = enrich_page(grid_page(), preds(("Table", (210, 110, 270, 170), 0.9)))
    boxes = dict(zip(out.words, out.boxes))
    assert boxes["<Table>"] == pytest.approx((198.0, 99.0, 297.0, 198.0))  # 0.99 * B
    assert boxes["</Table>"] == pytest.approx((202.0, 101.0, 303.0, 202.0))  # 1.01 * B
    assert boxes["B"] == B
    assert len(out.boxes) == len(out.words)

    edge = OcrPage("edge", ["z"], [(900, 900, 1000, 1000)], [(0, 1)], 1000, 1000)
    out = enrich_page(edge, preds(("Page-footer", (890, 890, 1000, 1000), 0.9)))
    assert out.boxes[2] == pytest.approx((909.0, 909.0, 1000.0, 1000.0))  # 1.01 scaling clipped to the page


def test_input_not_mutated_and_types():
    page = grid_page()
    before = copy.deepcopy(page)
    p = preds(("Table", (105, 27.5, 135, 42.5), 0.9), ("Text", (0, 0, 1, 1), 0.9), image_size=(500, 250))
    p_before = copy.deepcopy(p)
    out = enrich_page(page, p)
    assert page == before
    assert p == p_before
    assert out is not page and out.meta is not page.meta
    assert out.meta["origin"] == ["x"] and out.meta["origin"] is not page.meta["origin"]
    assert "dla" not in page.meta
    assert out.doc_id == page.doc_id and out.width == page.width and out.source == page.source


def test_empty_page_and_no_predictions():
    empty = OcrPage("e", [], [], [], 100, 100)
    out = enrich_page(empty, preds(("Table", (0, 0, 10, 10), 0.9)))
    assert out.words == [] and out.lines == []
    page = grid_page()
    out = enrich_page(page, {"boxes": [], "labels": [], "scores": []})
    assert out.words == page.words and out.lines == page.lines


def test_bad_predictions():
    with pytest.raises(ValueError):
        enrich_page(grid_page(), {"boxes": [(0, 0, 1, 1)], "labels": [], "scores": [0.9]})
    with pytest.raises(TypeError):
        enrich_page(grid_page(), {"boxes": [(0, 0, 1, 1)], "labels": [8], "scores": [0.9]})


def test_is_tag():
    assert is_tag("<Table>") and is_tag("</List-item>") and is_tag("<Section-header>")
    assert not is_tag("<5") and not is_tag("a>b") and not is_tag("<>") and not is_tag("Table")
