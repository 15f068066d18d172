"""The `distildoc` CLI (`distildoc.cli`) on the real fixture pages (../shared/realdata: three RVL-CDIP TIFFs,
PubLayNet JPEGs), with tiny models made as tests/test_export.py makes them: exit codes, the JSON Lines /
COCO / predictions schemas, unreadable pages skipped with a message, a missing model path -> exit 2."""

from __future__ import annotations

import json
import shutil
import sys
import tomllib
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from distildoc.cli import app
from distildoc.export import export_classifier, export_detector

sys.path.insert(0, str(Path(__file__).parent))
from test_export import make_detector_dir, make_vit_runs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()
ROW_KEYS = {"page", "label", "label_id", "confidence", "top_k", "model", "backend", "file"}


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def models(tmp_path_factory, realdata) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli_models")
    runs = make_vit_runs(root / "runs")
    export_classifier(runs["student"], root / "student_export", quantization="dynamic")
    det = make_detector_dir(root / "det")
    export_detector(det, root / "det_export", pages=sorted((realdata / "publaynet").glob("*.jpg"))[:1])
    return {"run": runs["student"], "export": root / "student_export", "det": det, "det_export": root / "det_export"}


@pytest.fixture(scope="module")
def rvl(realdata) -> Path:
    return realdata / "rvl_cdip"


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_classify_table_on_a_folder(models, rvl) -> None:
    r = run("classify", models["run"], rvl, "--no-progress")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0].split()[:4] == ["page", "label", "confidence", "top-3"]
    for name in ("2024525661.tif", "503210033+-0034.tif", "80035521.tif"):
        assert name in r.stdout
    assert "SOURCES.md" not in r.stdout and "test.txt" not in r.stdout  # a folder gives its page files only


def test_classify_json_lines_schema_and_backends_agree(models, rvl) -> None:
    r_onnx = run("classify", models["export"], str(rvl / "*.tif"), "--json", "-k", "4")
    r_torch = run("classify", models["run"], rvl, "--json", "-k", "4")
    assert r_onnx.exit_code == 0 and r_torch.exit_code == 0, r_onnx.output + r_torch.output
    rows, ref = _lines(r_onnx.stdout), _lines(r_torch.stdout)
    assert len(rows) == 3 and [r["page"] for r in rows] == [r["page"] for r in ref]
    labels = json.loads((models["export"] / "config.json").read_text())["labels"]
    for row, t in zip(rows, ref):
        assert set(row) == ROW_KEYS and row["backend"] == "onnx" and t["backend"] == "torch"
        assert isinstance(row["label_id"], int) and row["label"] == labels[row["label_id"]]
        assert len(row["top_k"]) == 4 and row["top_k"][0]["label"] == row["label"]
        assert row["confidence"] == row["top_k"][0]["score"] and 0.0 <= row["confidence"] <= 1.0
        scores = [t_["score"] for t_ in row["top_k"]]
        assert scores == sorted(scores, reverse=True) and sum(scores) <= 1.0 + 1e-5
        assert set(row["top_k"][0]) == {"label", "label_id", "score"}
        # the ONNX export and the PyTorch run folder classify the same pages the same way
        assert row["label"] == t["label"] and abs(row["confidence"] - t["confidence"]) < 1e-4


def test_int8_needs_an_export_folder(models, rvl) -> None:
    r = run("classify", models["export"], rvl, "--int8", "--json")
    assert r.exit_code == 0 and all(row["file"] == "model.int8.onnx" for row in _lines(r.stdout))
    r = run("classify", models["run"], rvl, "--int8")
    assert r.exit_code == 2 and "--int8 needs an export folder" in r.stderr


def test_unreadable_page_is_reported_and_skipped(models, rvl, tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    r = run("classify", models["export"], bad, rvl / "80035521.tif", tmp_path / "missing.tif", "--json")
    assert r.exit_code == 0, r.output
    assert [row["page"] for row in _lines(r.stdout)] == [str(rvl / "80035521.tif")]
    assert f"skipped unreadable page {bad}" in r.stderr
    assert f"no page file at {tmp_path / 'missing.tif'}" in r.stderr
    assert "2 page(s) skipped" in r.stderr
    r = run("classify", models["export"], bad)
    assert r.exit_code == 1 and "no page could be read" in r.stderr


def test_missing_model_path_exits_2_saying_how_to_produce_it(rvl, tmp_path: Path) -> None:
    missing = tmp_path / "results" / "smoke" / "dic" / "runs" / "rvl" / "R101__R50__imagenet__s0" / "ce_kd"
    r = run("classify", missing, rvl)
    assert r.exit_code == 2
    assert f"model path not found: {missing}" in r.stderr
    assert "snakemake --cores 2 dic --config preset=smoke" in r.stderr
    r = run("layout", tmp_path / "nowhere", rvl, "--out", tmp_path / "o")
    assert r.exit_code == 2 and "model path not found" in r.stderr and "--config preset=" in r.stderr
    r = run("classify", tmp_path, rvl)  # a folder that is no model
    assert r.exit_code == 2 and "holds no distildoc model" in r.stderr


def test_a_model_of_the_other_task_exits_2(models, rvl, tmp_path: Path) -> None:
    r = run("classify", models["det"], rvl)
    assert r.exit_code == 2 and "is a detector, this command needs a classifier" in r.stderr
    r = run("layout", models["export"], rvl, "--out", tmp_path / "o")
    assert r.exit_code == 2 and "is a classifier, this command needs a detector" in r.stderr


def test_pdf_pages(models, rvl, tmp_path: Path) -> None:
    pages = [Image.open(p).convert("L") for p in sorted(rvl.glob("*.tif"))[:2]]
    pdf = tmp_path / "two pages.pdf"
    pages[0].save(pdf, save_all=True, append_images=pages[1:], resolution=100)
    r = run("classify", models["export"], pdf, "--json", "--dpi", "100")
    assert r.exit_code == 0, r.output
    assert [row["page"] for row in _lines(r.stdout)] == [f"{pdf}#page=1", f"{pdf}#page=2"]


def _check_layout_out(out: Path, n_pages: int) -> dict:
    pred = json.loads((out / "predictions.json").read_text())
    assert pred["format"] == "distildoc-dla-predictions/v1" and pred["box_format"] == "xyxy"
    assert len(pred["images"]) == n_pages
    coco = json.loads((out / "coco.json").read_text())
    assert set(coco) >= {"images", "annotations", "categories"}
    cat_ids = {c["id"] for c in coco["categories"]}
    img = {i["id"]: i for i in coco["images"]}
    assert len(img) == n_pages and {"id", "file_name", "width", "height"} <= set(coco["images"][0])
    assert coco["annotations"], "score threshold 0: the tiny detector's 10 detections per page are kept"
    for a in coco["annotations"]:
        assert {"id", "image_id", "category_id", "bbox", "area", "score"} <= set(a)
        assert a["image_id"] in img and a["category_id"] in cat_ids and 0.0 <= a["score"] <= 1.0
        x, y, w, h = a["bbox"]
        assert w >= 0 and h >= 0 and x >= -1 and y >= -1 and x + w <= img[a["image_id"]]["width"] + 1
    for rec, im in zip(pred["images"], coco["images"]):
        stem = Path(rec["path"]).stem
        with Image.open(out / f"{stem}.png") as drawn:
            assert drawn.size == (im["width"], im["height"]) == tuple(rec["image_size"])
    return pred


def test_layout_run_folder_and_export_folder(models, realdata, tmp_path: Path) -> None:
    pages = sorted((realdata / "publaynet").glob("*.jpg"))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    r = run("layout", models["det"], pages[0], str(realdata / "publaynet" / "PMC36*.jpg"), bad,
            "--out", tmp_path / "run", "--score-thresh", "0", "--json")
    assert r.exit_code == 0, r.output
    rows = _lines(r.stdout)
    assert [row["page"] for row in rows] == [str(pages[0]), str(pages[1])]
    assert set(rows[0]) == {"page", "n_regions", "labels", "boxes", "scores", "image"}
    assert f"skipped unreadable page {bad}" in r.stderr
    pred = _check_layout_out(tmp_path / "run", 2)
    assert pred["skipped_inputs"] == [str(bad)]
    r = run("layout", models["det_export"], pages[0], pages[1], "--out", tmp_path / "onnx", "--score-thresh", "0")
    assert r.exit_code == 0, r.output
    assert "wrote" in r.stdout and "regions" in r.stdout.splitlines()[0]
    onnx = _check_layout_out(tmp_path / "onnx", 2)
    # the tiny ViT detector has a fixed size: PyTorch and the ONNX export find the same boxes
    for a, b in zip(pred["images"], onnx["images"]):
        assert a["labels"] == b["labels"]
        assert max(abs(u - v) for ba, bb in zip(a["boxes"], b["boxes"]) for u, v in zip(ba, bb)) < 0.05


def test_models_lists_runs_layout_models_and_exports(models, tmp_path: Path) -> None:
    res = tmp_path / "results"
    shutil.copytree(models["run"], res / "p" / "dic" / "runs" / "rvl" / "ViT-B__ViT-T__random__s0" / "simkd_cnn")
    shutil.copytree(models["det"], res / "p" / "dla" / "models" / "none__ViT-T-FPN__supervised")
    shutil.copytree(models["export"], res / "p" / "export" / "vit-t-simkd")
    (res / "p" / "dla" / "models" / "none__ViT-T-FPN__supervised" / "ckpt" / "x").mkdir(parents=True)
    r = run("models", "--preset", "p", "--results", res, "--json")
    assert r.exit_code == 0, r.output
    rows = _lines(r.stdout)
    assert [row["kind"] for row in rows] == ["dic student", "dla model", "export (classifier)"]
    assert rows[0]["method"] == "simkd_cnn" and rows[0]["test_accuracy"] == 0.5 and rows[1]["bbox_mAP"] == 1.0
    r = run("models", "--preset", "p", "--results", res)
    assert r.exit_code == 0 and "simkd_cnn" in r.stdout and "test acc %" in r.stdout
    r = run("models", "--preset", "nope", "--results", res)
    assert r.exit_code == 2 and "snakemake --cores 2 all --config preset=nope" in r.stderr


def test_export_command(models, tmp_path: Path) -> None:
    r = run("export", models["run"], tmp_path / "e", "--quantization", "dynamic")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["quantization"] == "dynamic" and summary["onnx_fp32_vs_torch"]["top1_agreement"] == 1.0
    assert (tmp_path / "e" / "README.md").is_file()
    r = run("export", models["export"], tmp_path / "e2")
    assert r.exit_code == 2 and "already an export folder" in r.stderr
    r = run("export", tmp_path / "missing", tmp_path / "e3")
    assert r.exit_code == 2 and "model path not found" in r.stderr


def test_the_console_script_is_declared() -> None:
    r = run("ask", "--help")  # `ask` itself: tests/test_cli_ask.py
    assert r.exit_code == 0 and "--question" in r.stdout and "--layout" in r.stdout
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["distildoc"] == "distildoc.cli:main"
    assert run("--help").exit_code == 0
