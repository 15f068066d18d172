"""The DocVQA stage's question set: a seeded, type-stratified sample of a DocVQA-format split."""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

from ..data.docvqa import read_docvqa, resolve_image


def select_questions(qa_json: str | Path, images_root: str | Path, max_questions: int, seed: int = 0) -> list[dict]:
    """Up to `max_questions` questions, round-robin over question types (seeded) so that every type is
    represented; each record carries the resolved page image path."""
    questions = read_docvqa(qa_json)
    by_type: dict[str, list] = defaultdict(list)
    for q in questions:
        by_type[(q.question_types or ["others"])[0]].append(q)
    rng = random.Random(seed)
    for qs in by_type.values():
        rng.shuffle(qs)
    picked, types = [], sorted(by_type)
    while len(picked) < min(max_questions, len(questions)):
        for t in types:
            if by_type[t] and len(picked) < max_questions:
                picked.append(by_type[t].pop())
    picked.sort(key=lambda q: q.question_id)
    return [{"questionId": q.question_id, "question": q.question, "question_types": list(q.question_types or []),
             "answers": list(q.answers or []), "doc_id": Path(q.image).stem,  # = the OCR (DUE) document name
             "image_path": str(resolve_image(q, images_root))} for q in picked]
