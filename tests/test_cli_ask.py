"""`distildoc ask` on the real DocVQA fixture pages (../shared/realdata/docvqa): Tesseract -> layout tags ->
prompt -> the embedded SmolLM2 reader. Exit codes, the JSON Lines schema, the prompt on --verbose, extractive
answers as spans of the page's OCR words, unreadable pages skipped with a message, a missing --layout path
-> exit 2. The reader is loaded once for the module (the CLI's `load_reader` is patched to hand it out with
the command's settings); the `slow` test runs the console entry point with its own reader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from distildoc.cli import app
from distildoc.docvqa import ask as qa

sys.path.insert(0, str(Path(__file__).parent))
from test_export import make_detector_dir  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()
QUESTION = "What is the name of the University?"
ROW_KEYS = {"page", "question", "answer", "layout", "reader", "decoding", "prompt", "n_words", "n_tags",
            "prompt_tokens", "truncated", "finish_reason", "error", "ocr_seconds", "seconds"}


def run(*args: str):
    return runner.invoke(app, ["ask", *(str(a) for a in args)])


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _need_tools() -> None:
    from distildoc.docvqa.llm.smollm2 import smollm2_gguf_path
    from distildoc.docvqa.ocr import TesseractNotAvailable, check_tesseract

    try:
        check_tesseract()
        smollm2_gguf_path()
    except (TesseractNotAvailable, FileNotFoundError) as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def page(realdata) -> Path:
    return realdata / "docvqa" / "ffhx0227_1.png"  # the university letter: 71 Tesseract words


@pytest.fixture(scope="module")
def shared_reader():
    _need_tools()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return qa.load_reader("smollm2", max_new_tokens=16, num_threads=2)


@pytest.fixture
def loads(shared_reader, monkeypatch) -> list[tuple[str, dict]]:
    """The CLI's reader loads (name, options); each gets the module's reader with the command's settings."""
    calls: list[tuple[str, dict]] = []

    def load(name: str, **options):
        calls.append((name, options))
        shared_reader.max_new_tokens = options.get("max_new_tokens", 32)
        shared_reader.decoding = options.get("decoding", "free")
        return shared_reader

    monkeypatch.setattr(qa, "load_reader", load)
    return calls


def _is_span(answer: str, words: list[str]) -> bool:
    a = answer.split()
    return bool(a) and any(words[i:i + len(a)] == a for i in range(len(words) - len(a) + 1))


def test_json_lines_verbose_extractive_and_an_unreadable_page_skipped(loads, page, tmp_path: Path) -> None:
    from distildoc.docvqa.ocr import tesseract_page

    bad = tmp_path / "truncated.png"
    bad.write_bytes(page.read_bytes()[:2000])  # a real PNG cut short
    r = run(bad, page, tmp_path / "missing.png", "-q", QUESTION, "--json", "--verbose", "--decoding", "extractive",
            "--max-new-tokens", "12")
    assert r.exit_code == 0, r.output
    rows = _lines(r.stdout)
    assert len(rows) == 1
    row = rows[0]
    assert set(row) == ROW_KEYS | {"prompt_text"}
    assert row["page"] == str(page) and row["question"] == QUESTION and row["error"] is None
    assert row["prompt"] == "task_space" and row["layout"] is None and row["n_tags"] == 0
    assert row["reader"] == "smollm2" and row["decoding"] == "extractive"
    assert isinstance(row["answer"], str) and row["answer"].strip()
    assert row["finish_reason"] in {"stop", "eos", "length"} and row["prompt_tokens"] > 100
    assert row["n_words"] > 30 and row["seconds"] > 0 and row["ocr_seconds"] > 0
    # --verbose: the prompt (stderr, and prompt_text in JSON) holds the question and the page's words
    assert f"Question: {QUESTION}" in row["prompt_text"] and "VANDERBILT" in row["prompt_text"]
    assert f"Question: {QUESTION}" in r.stderr and row["prompt_text"].endswith("Answer:")
    # extractive decoding: the answer spells a span of the page's Tesseract words
    words = tesseract_page(page, "p").words
    assert _is_span(row["answer"], words), (row["answer"], words)
    assert f"skipped unreadable page {bad}" in r.stderr
    assert f"no page file at {tmp_path / 'missing.png'}" in r.stderr and "2 page(s) skipped" in r.stderr
    assert loads == [("smollm2", {"max_new_tokens": 12, "decoding": "extractive"})]


def test_table_output_prompt_type_and_a_pdf_page(loads, page, tmp_path: Path) -> None:
    pdf = tmp_path / "letter.pdf"
    with Image.open(page) as im:
        im.convert("L").save(pdf, resolution=150)
    r = run(pdf, "-q", QUESTION, "--prompt", "plain", "--max-new-tokens", "8", "--dpi", "150")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["page", "question", "answer", "words", "tags", "s"]
    assert f"{pdf}#page=1" in r.stdout and QUESTION in r.stdout
    assert "Question:" not in r.stdout + r.stderr  # the prompt only on --verbose
    assert loads[-1] == ("smollm2", {"max_new_tokens": 8})


def test_layout_model_tags_go_into_the_prompt(loads, page, tmp_path: Path) -> None:
    det = make_detector_dir(tmp_path / "det")  # tiny random ViT-T-FPN: 10 detections with scores > 0
    r = run(page, "-q", QUESTION, "--layout", det, "--score-thresh", "0", "--json", "--verbose",
            "--max-new-tokens", "4")
    assert r.exit_code == 0, r.output
    row = _lines(r.stdout)[0]
    assert row["layout"] == str(det) and row["n_tags"] > 0 and row["n_tags"] % 2 == 0
    labels = {"text", "title", "list", "table", "figure"}
    assert any(f"<{lab}>" in row["prompt_text"] for lab in labels)
    assert any(f"<{lab}>" in r.stderr for lab in labels)


def test_missing_layout_model_exits_2_naming_the_path(loads, page, tmp_path: Path) -> None:
    missing = tmp_path / "results" / "smoke" / "dla" / "models" / "none__R50-FPN__supervised"
    r = run(page, "-q", QUESTION, "--layout", missing)
    assert r.exit_code == 2
    assert f"model path not found: {missing}" in r.stderr
    assert "snakemake --cores 2 dla --config preset=smoke" in r.stderr
    r = run(page, "-q", QUESTION, "--layout", tmp_path)  # a folder that is no model
    assert r.exit_code == 2 and "holds no distildoc model" in r.stderr
    assert loads == []  # failed before the reader was loaded


def test_usage_errors_and_no_readable_page(loads, page, tmp_path: Path, monkeypatch) -> None:
    bad = tmp_path / "empty.png"
    bad.write_bytes(b"")
    r = run(bad, "-q", QUESTION)
    assert r.exit_code == 1 and "no page could be read" in r.stderr and f"skipped unreadable page {bad}" in r.stderr
    r = run(page, "-q", QUESTION, "--prompt", "fancy")
    assert r.exit_code == 2 and "unknown --prompt 'fancy'" in r.stderr
    r = run(page, "-q", QUESTION, "--reader", "gpt5")
    assert r.exit_code == 2 and "unknown --reader 'gpt5'" in r.stderr
    r = run(page, "-q", QUESTION, "--decoding", "beam")
    assert r.exit_code == 2 and "unknown --decoding 'beam'" in r.stderr
    r = run(page, "-q", QUESTION, "-R", "dtype")
    assert r.exit_code == 2 and "not KEY=VALUE" in r.stderr
    r = run(page, "-q", "  ")
    assert r.exit_code == 2 and "--question is empty" in r.stderr
    r = run(page)
    assert r.exit_code == 2 and "--question" in r.output
    assert loads == []

    from distildoc.docvqa import ocr

    def no_tesseract(*a, **k):
        raise ocr.TesseractNotAvailable("the Tesseract binary 'tesseract' was not found on PATH; install the "
                                        "Debian/Ubuntu package 'tesseract-ocr'")

    monkeypatch.setattr(ocr, "check_tesseract", no_tesseract)
    r = run(page, "-q", QUESTION)
    assert r.exit_code == 2 and "tesseract-ocr" in r.stderr


def test_answer_page_library_function(shared_reader, page) -> None:
    shared_reader.max_new_tokens, shared_reader.decoding = 8, "free"
    with Image.open(page) as im:
        top = im.crop((0, 0, im.width, im.height // 4))  # the letterhead: a short prompt
    rec = qa.answer_page(top, QUESTION, shared_reader, prompt="task", name="letter")
    assert rec["page"] == "letter" and rec["prompt"] == "task" and rec["n_tags"] == 0 and rec["n_words"] > 0
    assert QUESTION in rec["prompt_text"] and "VANDERBILT" in rec["prompt_text"]
    assert isinstance(rec["answer"], str) and rec["error"] is None


@pytest.mark.slow
def test_console_entry_point_loads_the_embedded_reader(page) -> None:
    """`python -m distildoc.cli ask` end to end: its own SmolLM2 load (float32, first_line)."""
    _need_tools()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = subprocess.run([sys.executable, "-m", "distildoc.cli", "ask", str(page), "-q", QUESTION, "--json",
                          "--max-new-tokens", "8"], capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    row = _lines(res.stdout)[0]
    assert set(row) == ROW_KEYS and isinstance(row["answer"], str) and row["answer"].strip()
