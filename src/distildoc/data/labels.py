"""Label spaces of the datasets the paper uses, with their official ids and order."""

from __future__ import annotations

#: RVL-CDIP's 16 classes; the list index is the official class id.
RVL_CDIP_CLASSES: tuple[str, ...] = (
    "letter",
    "form",
    "email",
    "handwritten",
    "advertisement",
    "scientific report",
    "scientific publication",
    "specification",
    "file folder",
    "news article",
    "budget",
    "invoice",
    "presentation",
    "questionnaire",
    "resume",
    "memo",
)

#: RVL-CDIP-N keeps 12 of the 16 classes; its labels are remapped to RVL-CDIP ids.
RVL_CDIP_N_CLASSES: tuple[str, ...] = (
    "budget",
    "email",
    "form",
    "handwritten",
    "invoice",
    "letter",
    "memo",
    "news article",
    "questionnaire",
    "resume",
    "scientific publication",
    "specification",
)

#: Tobacco-3482's 10 classes in the conventional (alphabetical folder) order.
TOBACCO3482_CLASSES: tuple[str, ...] = (
    "ADVE",
    "Email",
    "Form",
    "Letter",
    "Memo",
    "News",
    "Note",
    "Report",
    "Resume",
    "Scientific",
)

#: DocLayNet's 11 categories; COCO category id = index + 1.
DOCLAYNET_CATEGORIES: tuple[str, ...] = (
    "Caption",
    "Footnote",
    "Formula",
    "List-item",
    "Page-footer",
    "Page-header",
    "Picture",
    "Section-header",
    "Table",
    "Text",
    "Title",
)

#: PRImA Layout Analysis region types kept by the PAGE-XML -> COCO converter (id = index + 1).
PRIMA_CATEGORIES: tuple[str, ...] = (
    "TextRegion",
    "ImageRegion",
    "TableRegion",
    "MathsRegion",
    "SeparatorRegion",
    "OtherRegion",
)

#: The 9 DocVQA question types (as in the official `question_types` field).
DOCVQA_QUESTION_TYPES: tuple[str, ...] = (
    "handwritten",
    "form",
    "table/list",
    "layout",
    "free_text",
    "image/photo",
    "figure/diagram",
    "Yes/No",
    "others",
)


def doclaynet_category_id(name: str) -> int:
    """COCO category id (1-based) of a DocLayNet category name."""
    try:
        return DOCLAYNET_CATEGORIES.index(name) + 1
    except ValueError:
        raise KeyError(f"unknown DocLayNet category {name!r}; allowed: {', '.join(DOCLAYNET_CATEGORIES)}") from None


def rvl_cdip_class_id(name: str) -> int:
    """RVL-CDIP class id of a class name."""
    try:
        return RVL_CDIP_CLASSES.index(name)
    except ValueError:
        raise KeyError(f"unknown RVL-CDIP class {name!r}; allowed: {', '.join(RVL_CDIP_CLASSES)}") from None


def coco_categories(names: tuple[str, ...] = DOCLAYNET_CATEGORIES) -> list[dict]:
    """COCO `categories` entries (1-based ids) for a tuple of category names."""
    return [{"id": i + 1, "name": n, "supercategory": n} for i, n in enumerate(names)]
