"""Dataset summaries: split sizes, class / region / question counts, and contact sheets of pages."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ..utils.io import atomic_path, read_json, write_json, write_text

log = logging.getLogger(__name__)


def summarise_manifests(manifest_paths: list[str | Path]) -> pd.DataFrame:
    """One row per (dataset, split): pages, classes, regions, words, questions."""
    rows = []
    for path in manifest_paths:
        m = read_json(path)
        rows.append({
            "dataset": m["dataset"],
            "split": m["split"],
            "pages": m["n_pages"],
            "classes": len(m["classes"]),
            "pages_per_class": m["n_per_class"],
            "regions": m["n_regions"],
            "words": m["n_words"],
            "questions": m["n_questions"],
            "style": m["style"],
            "seed": m["seed"],
            "generator_version": m["generator_version"],
        })
        log.info("read %s", path)
    return pd.DataFrame(rows)


def write_summary(df: pd.DataFrame, json_path: Path, csv_path: Path, md_path: Path, extra: dict | None = None) -> None:
    totals = {"pages": int(df["pages"].sum()), "regions": int(df["regions"].sum()),
              "questions": int(df["questions"].sum()), "words": int(df["words"].sum())}
    write_json(json_path, {"totals": totals, **(extra or {}), "splits": df.to_dict(orient="records")})
    write_text(csv_path, df.to_csv(index=False))
    write_text(md_path, df.to_markdown(index=False) + "\n")


def contact_sheet(root: Path, out_path: Path, per_row: int = 8) -> None:
    """One page per class of each synthetic dataset, with the class name and layout boxes overlaid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    from PIL import Image

    from .labels import DOCLAYNET_CATEGORIES

    colours = plt.get_cmap("tab20").colors
    picks = []  # (dataset, class name, image path, annotations)
    for dataset in ("rvl", "rvl_n", "tobacco"):
        ann_files = sorted((root / dataset / "layout").glob("*.json"))
        if not ann_files:
            continue
        coco = read_json(ann_files[0])
        seen = set()
        by_image: dict[int, list] = {}
        for a in coco["annotations"]:
            by_image.setdefault(a["image_id"], []).append(a)
        for im in coco["images"]:
            if im["doc_class"] not in seen:
                seen.add(im["doc_class"])
                picks.append((dataset, im["doc_class"], root / dataset / im["file_name"], by_image.get(im["id"], [])))
    n_rows = -(-len(picks) // per_row)
    fig, axes = plt.subplots(n_rows, per_row, figsize=(per_row * 1.9, n_rows * 2.6))
    for ax in axes.flat:
        ax.axis("off")
    for ax, (dataset, name, path, anns) in zip(axes.flat, picks):
        ax.imshow(Image.open(path).convert("RGB"))
        for a in anns:
            x, y, w, h = a["bbox"]
            ax.add_patch(Rectangle((x, y), w, h, fill=False, lw=0.6, ec=colours[(a["category_id"] - 1) % 20]))
        ax.set_title(f"{dataset}: {name}", fontsize=7)
    handles = [Rectangle((0, 0), 1, 1, fill=False, ec=colours[i % 20]) for i in range(len(DOCLAYNET_CATEGORIES))]
    fig.legend(handles, DOCLAYNET_CATEGORIES, loc="lower center", ncol=11, fontsize=6, frameon=False)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    with atomic_path(out_path) as tmp:  # creates the folder; renamed onto out_path only when complete
        fig.savefig(tmp, dpi=110, format=Path(out_path).suffix.lstrip(".") or "png")
    plt.close(fig)
    log.info("wrote %s (%d pages)", out_path, len(picks))
