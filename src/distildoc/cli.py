"""distildoc: the trained models outside the pipeline (docs/deploy.md).

    distildoc classify MODEL PAGES... [--json] [--top-k 3] [--int8] [--dpi 150]
    distildoc layout MODEL PAGES... --out DIR [--score-thresh 0.5] [--json]
    distildoc models [--preset default] [--json]
    distildoc export RUN_DIR OUT_DIR [--test-split PT] [--calib-split PT] [--quantization auto] [--pages PAGE...]
    distildoc ask PAGES... -q QUESTION [--layout MODEL] [--prompt task_space] [--reader smollm2] [--decoding free]

MODEL is a pipeline run folder (PyTorch) or an export folder (onnxruntime). PAGES are files, folders (their
PNG / JPEG / TIFF / PDF files) or globs; a PDF gives one page per PDF page, rendered at ``--dpi``.

Exit codes: 0 when at least one page was processed (unreadable pages are reported on stderr and skipped);
1 when no page could be read; 2 for a usage error, a missing MODEL path (the message says how to produce it)
or a MODEL of the other task.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.split("\n\n")[0],
                  context_settings={"help_option_names": ["-h", "--help"]})

EXIT_NO_PAGE, EXIT_USAGE = 1, 2
PagesArg = Annotated[list[str], typer.Argument(help="page files, folders or globs (PNG/JPEG/TIFF/PDF)", show_default=False)]
ModelArg = Annotated[Path, typer.Argument(help="a run folder (results/<preset>/...) or an export folder", show_default=False)]
DpiOpt = Annotated[int, typer.Option(help="resolution PDF pages are rendered at", min=24, max=1200)]
ProgressOpt = Annotated[bool | None, typer.Option("--progress/--no-progress",
                                                  help="progress bar (default: on when a folder or glob is given)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON Lines on stdout instead of a table")]


def _err(msg: str) -> None:
    typer.echo(msg, err=True)


def _fail(msg: str, code: int = EXIT_USAGE):
    _err(f"error: {msg}")
    raise typer.Exit(code)


def _load(model: Path, expect: str, int8: bool = False):
    from .export.predict import ModelNotFound, WrongModelKind, load_predictor

    try:
        return load_predictor(model, expect=expect, int8=int8)
    except (ModelNotFound, WrongModelKind) as err:
        _fail(str(err))
    except FileNotFoundError as err:  # a run folder missing one of its files
        _fail(f"{err}; the run folder is incomplete: re-run its pipeline job")


def _pages(pages: list[str], dpi: int, progress: bool | None):
    """(iterator of Page, tqdm bar or None): missing arguments reported here."""
    from tqdm import tqdm

    from .export.pages import expand_pages, iter_pages

    found = expand_pages(pages)
    for arg in found.missing:
        _err(f"skipped: no page file at {arg}")
    show = found.from_folder_or_glob if progress is None else progress
    bar = tqdm(total=len(found.files), unit="file", file=sys.stderr, disable=not show or not found.files)
    return iter_pages(found.files, dpi=dpi), bar, found


def _readable(pages_iter, bar, skipped: list[dict]):
    """Pages that decoded; the others reported on stderr and collected in `skipped`."""
    last = None
    for page in pages_iter:
        if page.path != last:
            bar.update(1)
            last = page.path
        if page.error is not None:
            msg = f"skipped unreadable page {page.name}: {page.error}"
            bar.write(msg, file=sys.stderr) if not bar.disable else _err(msg)
            skipped.append({"page": page.name, "error": page.error})
            continue
        yield page
    bar.close()


@app.command()
def classify(model: ModelArg, pages: PagesArg,
             top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="classes listed per page")] = 3,
             json_lines: JsonOpt = False,
             int8: Annotated[bool, typer.Option("--int8", help="the export's int8 model (export folders)")] = False,
             batch_size: Annotated[int, typer.Option(min=1)] = 16,
             dpi: DpiOpt = 150, progress: ProgressOpt = None) -> None:
    """Classify document pages: label, confidence (softmax) and top-k per page."""
    import numpy as np

    from .evaluate.classification import softmax

    pred = _load(model, "classifier", int8)
    if int8:
        parity = model / "parity.json"
        if parity.is_file() and json.loads(parity.read_text()).get("int8_recommended") is False:
            _err(f"warning: {parity} says int8 loses more than 1 accuracy point on this model's test split")
    it, bar, found = _pages(pages, dpi, progress)
    skipped: list[dict] = [{"page": m, "error": "not found"} for m in found.missing]
    rows: list[dict[str, Any]] = []
    k = min(top_k, len(pred.labels))

    def flush(batch):
        probs = softmax(pred.logits([p.image for p in batch]))
        for page, p in zip(batch, probs):
            order = np.argsort(-p, kind="stable")[:k]
            row = {"page": page.name, "label": pred.labels[order[0]], "label_id": int(order[0]),
                   "confidence": round(float(p[order[0]]), 6),
                   "top_k": [{"label": pred.labels[i], "label_id": int(i), "score": round(float(p[i]), 6)} for i in order],
                   "model": str(pred.path), "backend": pred.backend, "file": pred.file}
            rows.append(row)
            if json_lines:
                typer.echo(json.dumps(row, ensure_ascii=False))

    batch = []
    for page in _readable(it, bar, skipped):
        batch.append(page)
        if len(batch) == batch_size:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    if not json_lines and rows:
        from tabulate import tabulate

        table = [[r["page"], r["label"], f"{r['confidence']:.3f}",
                  ", ".join(f"{t['label']} {t['score']:.3f}" for t in r["top_k"])] for r in rows]
        typer.echo(tabulate(table, headers=["page", "label", "confidence", f"top-{k}"], tablefmt="simple"))
    _finish(len(rows), skipped)


def _finish(n_ok: int, skipped: list[dict]) -> None:
    if skipped:
        _err(f"{len(skipped)} page(s) skipped")
    if n_ok == 0:
        _fail("no page could be read", EXIT_NO_PAGE)


def _safe_stem(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


@app.command()
def layout(model: ModelArg, pages: PagesArg,
           out: Annotated[Path, typer.Option("--out", "-o", help="output folder", show_default=False)],
           score_thresh: Annotated[float, typer.Option(min=0.0, max=1.0, help="detections kept")] = 0.5,
           draw: Annotated[bool, typer.Option("--draw/--no-draw", help="write <page>.png with the boxes drawn")] = True,
           json_lines: JsonOpt = False, dpi: DpiOpt = 150, progress: ProgressOpt = None) -> None:
    """Detect layout regions: OUT/predictions.json (distildoc-dla-predictions/v1), OUT/coco.json (COCO images,
    categories and scored annotations) and OUT/<page>.png with the boxes drawn."""
    from .evaluate.detection import EXPORT_FORMAT as DLA_FORMAT
    from .utils.io import write_json

    pred = _load(model, "detector")
    out.mkdir(parents=True, exist_ok=True)
    it, bar, found = _pages(pages, dpi, progress)
    skipped: list[dict] = [{"page": m, "error": "not found"} for m in found.missing]
    names = pred.labels
    records, coco_images, coco_anns, rows = [], [], [], []
    used: set[str] = set()
    for page in _readable(it, bar, skipped):
        det = pred.detect(page.image)
        keep = det["scores"] >= score_thresh
        boxes, labels, scores = det["boxes"][keep], det["labels"][keep], det["scores"][keep]
        unknown = sorted({int(x) for x in labels} - set(names))
        if unknown:
            _fail(f"model labels {unknown} have no name in the model's categories")
        w, h = page.image.size
        image_id = len(coco_images) + 1
        base = Path(page.name.split("#page=")[0]).stem + (f"_p{page.name.split('#page=')[1]}" if "#page=" in page.name else "")
        stem, i = _safe_stem(base), 1
        while stem in used:
            i += 1
            stem = f"{_safe_stem(base)}_{i}"
        used.add(stem)
        rec = {"file_name": Path(page.name).name, "path": page.name, "image_size": [w, h],
               "boxes": [[round(float(v), 2) for v in b] for b in boxes],
               "labels": [names[int(x)] for x in labels], "scores": [round(float(s), 5) for s in scores]}
        records.append(rec)
        coco_images.append({"id": image_id, "file_name": page.name, "width": w, "height": h})
        for b, lab, s in zip(boxes, labels, scores):
            x1, y1, x2, y2 = (float(v) for v in b)
            coco_anns.append({"id": len(coco_anns) + 1, "image_id": image_id, "category_id": int(lab),
                              "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                              "area": round((x2 - x1) * (y2 - y1), 2), "score": round(float(s), 5)})
        drawn = None
        if draw:
            drawn = out / f"{stem}.png"
            _draw(page.image, rec).save(drawn)
        row = {"page": page.name, "n_regions": len(scores), "labels": rec["labels"], "boxes": rec["boxes"],
               "scores": rec["scores"], "image": str(drawn) if drawn else None}
        rows.append(row)
        if json_lines:
            typer.echo(json.dumps(row, ensure_ascii=False))
    label_names = [names[k] for k in sorted(names)]
    write_json(out / "predictions.json", {"format": DLA_FORMAT, "box_format": "xyxy", "score_thresh": score_thresh,
                                          "label_names": label_names, "images": records,
                                          "skipped_inputs": [s["page"] for s in skipped],
                                          "model": str(pred.path), "backend": pred.backend}, indent=None)
    write_json(out / "coco.json", {"info": {"description": f"distildoc layout predictions of {pred.path}",
                                            "backend": pred.backend, "score_thresh": score_thresh},
                                   "images": coco_images, "annotations": coco_anns,
                                   "categories": [{"id": k, "name": names[k]} for k in sorted(names)]}, indent=None)
    if not json_lines and rows:
        from collections import Counter

        from tabulate import tabulate

        table = [[r["page"], r["n_regions"], ", ".join(f"{n} {c}" for n, c in Counter(r["labels"]).most_common()),
                  r["image"] or ""] for r in rows]
        typer.echo(tabulate(table, headers=["page", "regions", "by label", "drawn"], tablefmt="simple"))
        typer.echo(f"wrote {out / 'predictions.json'} and {out / 'coco.json'}")
    _finish(len(rows), skipped)


_COLORS = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
           (240, 50, 230), (128, 128, 0), (0, 128, 128), (170, 110, 40), (128, 0, 0), (0, 0, 128)]


def _draw(image, rec: dict):
    from PIL import ImageDraw

    im = image.convert("RGB")
    draw = ImageDraw.Draw(im)
    for b, lab, s in zip(rec["boxes"], rec["labels"], rec["scores"]):
        color = _COLORS[sum(map(ord, lab)) % len(_COLORS)]  # stable per label name
        draw.rectangle(b, outline=color, width=max(1, round(min(im.size) / 300)))
        draw.text((b[0] + 2, b[1] + 1), f"{lab} {s:.2f}", fill=color)
    return im


@app.command()
def models(preset: Annotated[str, typer.Option(help="the preset whose results/<preset>/ is listed")] = "default",
           results: Annotated[Path, typer.Option(help="the results folder")] = Path("results"),
           json_lines: JsonOpt = False) -> None:
    """List a preset's trained classification runs, layout models and exports with their metrics."""
    from .export.listing import list_models

    root = results / preset
    if not root.is_dir():
        _fail(f"no results for preset {preset!r} at {root}; produce them with "
              f"`snakemake --cores 2 all --config preset={preset}` (or `dic` / `dla` for one stage)")
    entries = list_models(root)
    if json_lines:
        for e in entries:
            typer.echo(json.dumps(e, ensure_ascii=False))
        return
    if not entries:
        typer.echo(f"no trained model under {root}")
        return
    from tabulate import tabulate

    def pct(v):
        return "" if v is None else f"{100 * v:.1f}"

    table = [[e["kind"], e["path"], e.get("arch") or "", e.get("method") or "", e.get("teacher") or "",
              pct(e.get("test_accuracy")), "" if e.get("test_ece") is None else f"{e['test_ece']:.3f}",
              "" if e.get("bbox_mAP") is None else f"{e['bbox_mAP']:.1f}",
              "" if e.get("params_M") is None else f"{e['params_M']:.2f}"] for e in entries]
    typer.echo(tabulate(table, headers=["kind", "path", "arch", "method", "teacher", "test acc %", "test ECE",
                                        "bbox mAP", "params M"], tablefmt="simple"))


@app.command()
def export(run_dir: Annotated[Path, typer.Argument(help="a classification run folder or a layout model folder",
                                                    show_default=False)],
           out_dir: Annotated[Path, typer.Argument(help="the export folder to write", show_default=False)],
           test_split: Annotated[Path | None, typer.Option(help="decoded test split (.pt) for parity / accuracy "
                                                                "(default: the run's, when found)")] = None,
           calib_split: Annotated[Path | None, typer.Option(help="decoded split (.pt) the static int8 quantisation "
                                                                 "calibrates on (default: the run's val split)")] = None,
           quantization: Annotated[str, typer.Option(help="auto | static | dynamic | none")] = "auto",
           max_parity_pages: Annotated[int, typer.Option(min=1)] = 2000,
           pages: Annotated[list[str] | None, typer.Option("--pages", help="layout: page images for the bbox "
                                                                           "parity check (repeatable; files, folders, globs)")] = None) -> None:
    """Export a run to ONNX with a model card (model.onnx, model.int8.onnx, parity.json, config.json, README.md)."""
    from .export.predict import CLASSIFIER, ModelNotFound, WrongModelKind, model_kind

    try:
        kind, form = model_kind(run_dir)
    except (ModelNotFound, WrongModelKind) as err:
        _fail(str(err))
    if form != "run":
        _fail(f"{run_dir} is already an export folder")
    if kind == CLASSIFIER:
        from .export.classifier import export_classifier, find_dic_splits

        found = find_dic_splits(run_dir)
        try:
            rec = export_classifier(run_dir, out_dir, test_split=test_split or found.get("test"),
                                    calib_split=calib_split or found.get("val"), quantization=quantization,
                                    max_parity_pages=max_parity_pages)
        except ValueError as err:
            _fail(str(err))
        summary = {"out_dir": str(out_dir), "onnx_fp32_vs_torch": rec["onnx_fp32_vs_torch"],
                   "onnx_int8_vs_fp32": rec.get("onnx_int8_vs_fp32"), "int8_accuracy_drop": rec.get("int8_accuracy_drop"),
                   "int8_recommended": rec.get("int8_recommended"), "quantization": rec["quantization"].get("mode"),
                   "metrics": rec.get("metrics")}
    else:
        from .export.detector import export_detector
        from .export.pages import IMAGE_SUFFIXES, expand_pages

        files = expand_pages(pages or [], IMAGE_SUFFIXES).files
        rec = export_detector(run_dir, out_dir, pages=files)
        summary = {"out_dir": str(out_dir), "input_size": rec["input_size"], "max_abs_box_diff": rec["max_abs_box_diff"],
                   "max_abs_score_diff": rec["max_abs_score_diff"], "labels_equal": rec["labels_equal"],
                   "fixed_vs_native": rec["fixed_vs_native"]}
    typer.echo(json.dumps(summary, indent=2))


PromptOpt = Annotated[str, typer.Option("--prompt", "-p", help="prompt type: task_space | task | space | plain "
                                                               "(the paper's Table 2) | task_table | table "
                                                               "(space layout with tables written row by row) | "
                                                               "task_focus | focus (only the table text's line "
                                                               "that best matches the question)")]


@app.command()
def ask(pages: PagesArg,
        question: Annotated[list[str], typer.Option("--question", "-q", show_default=False,
                                                    help="the question (repeat for several; each page gets each)")],
        layout: Annotated[Path | None, typer.Option("--layout", "-l", show_default=False,
                                                    help="a layout model (run folder or export folder): its regions "
                                                         "go into the prompt as <Label> tags (Algorithm 1)")] = None,
        prompt: PromptOpt = "task_space",
        reader: Annotated[str, typer.Option(help="the LLM reader (smollm2: the embedded SmolLM2-135M-Instruct; gemma3: "
                                                   "Gemma 3 270M, opt-in: make reader-gemma)")] = "smollm2",
        reader_option: Annotated[list[str] | None, typer.Option(
            "--reader-option", "-R", show_default=False,
            help="KEY=VALUE setting of the reader (repeatable; VALUE parsed as YAML), e.g. -R base_url=... "
                 "-R model=... for --reader openai")] = None,
        decoding: Annotated[str, typer.Option(help="free | extractive (the answer is a span of the page's OCR "
                                                   "words; transformers / smollm2 / gemma3 readers)")] = "free",
        max_new_tokens: Annotated[int, typer.Option(min=1, help="longest answer in tokens")] = 32,
        score_thresh: Annotated[float, typer.Option(min=0.0, max=1.0, help="layout regions kept (score >)")] = 0.5,
        json_lines: JsonOpt = False,
        verbose: Annotated[bool, typer.Option("--verbose", "-v", help="print each prompt (stderr; --json: "
                                                                      "also as prompt_text)")] = False,
        dpi: DpiOpt = 150, progress: ProgressOpt = None) -> None:
    """Ask questions on document pages: Tesseract OCR -> layout tags (--layout) -> prompt -> LLM reader."""
    from .docvqa import ask as qa
    from .docvqa.ocr import TesseractNotAvailable, check_tesseract
    from .docvqa.prompts import ALL_PROMPT_TYPES

    questions = [q.strip() for q in question if q.strip()]
    if not questions:
        _fail("--question is empty")
    if prompt not in ALL_PROMPT_TYPES:
        _fail(f"unknown --prompt {prompt!r}; allowed: {', '.join(ALL_PROMPT_TYPES)}")
    from .docvqa.llm import READERS
    from .docvqa.llm.extractive import DECODING

    if reader not in READERS:
        _fail(f"unknown --reader {reader!r}; available: {', '.join(READERS)}")
    if decoding not in DECODING:
        _fail(f"unknown --decoding {decoding!r}; allowed: {', '.join(DECODING)}")
    options = _reader_options(reader_option or [])
    options["max_new_tokens"] = max_new_tokens
    if decoding != "free":
        options["decoding"] = decoding
    try:
        version = check_tesseract()
    except TesseractNotAvailable as err:
        _fail(str(err))
    detector = _load(layout, "detector") if layout is not None else None
    it, bar, found = _pages(pages, dpi, progress)
    skipped: list[dict] = [{"page": m, "error": "not found"} for m in found.missing]
    llm = None
    rows: list[dict[str, Any]] = []
    extra = {"layout": str(layout) if layout is not None else None, "reader": reader, "decoding": decoding}
    for page in _readable(it, bar, skipped):
        if llm is None:  # loaded once a page is readable (SmolLM2: ~10 s)
            try:
                llm = qa.load_reader(reader, **options)
            except (TypeError, ValueError, KeyError, FileNotFoundError, ImportError) as err:
                bar.close()
                _fail(f"reader {reader!r} could not be built: {err}")
        try:
            read = qa.read_page(page.image, page.name, detector=detector, score_threshold=score_thresh)
        except RuntimeError as err:  # Tesseract failed on this page
            msg = f"skipped page {page.name}: {err}"
            bar.write(msg, file=sys.stderr) if not bar.disable else _err(msg)
            skipped.append({"page": page.name, "error": str(err)})
            continue
        for ans in qa.answer_questions(read, questions, llm, prompt):
            row = qa.page_record(read, ans, **extra)
            if verbose:
                msg = f"--- prompt ({page.name}; {ans['prompt_tokens']} tokens" + \
                      (", cut to fit" if ans["truncated"] else "") + f") ---\n{ans['prompt_text']}\n--- end of prompt ---"
                bar.write(msg, file=sys.stderr) if not bar.disable else _err(msg)
                if json_lines:
                    row["prompt_text"] = ans["prompt_text"]
            if ans["error"]:
                _err(f"no answer on {page.name} to {ans['question']!r}: {ans['error']}")
            rows.append(row)
            if json_lines:
                typer.echo(json.dumps(row, ensure_ascii=False))
    if not json_lines and rows:
        from tabulate import tabulate

        table = [[r["page"], r["question"], "" if r["answer"] is None else r["answer"], r["n_words"], r["n_tags"],
                  f"{r['ocr_seconds'] + r['seconds']:.1f}"] for r in rows]
        typer.echo(tabulate(table, headers=["page", "question", "answer", "words", "tags", "s"], tablefmt="simple"))
        if verbose:
            _err(f"tesseract {version.splitlines()[0] if version else '?'}; prompt {prompt}; reader {reader}; "
                 f"decoding {decoding}; layout {extra['layout'] or 'none'}")
    _finish(len({r["page"] for r in rows}), skipped)


def _reader_options(items: list[str]) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            _fail(f"--reader-option {item!r} is not KEY=VALUE")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else None
    return out


def main() -> None:  # console script entry point
    os.environ.setdefault("TQDM_MININTERVAL", "0.5")
    app()


if __name__ == "__main__":
    main()
