"""The official DocVQA JSON (SP-DocVQA; InfographicVQA's variant too) as typed records.

File layout::

    {"dataset_name": "docvqa", "dataset_version": "1.0", "dataset_split": "val",
     "data": [{"questionId": 26167, "question": "...", "question_types": ["layout"],   # optional
               "image": "documents/ffbg0227_2.png", "docId": 7467,
               "ucsf_document_id": "ffbg0227", "ucsf_document_page_no": "2",
               "answers": ["2", "page 2"], "data_split": "val"}, ...]}

Required per question: ``questionId``, ``question`` and ``image`` (InfographicVQA names it
``image_local_name``); ``answers`` too except in a ``test`` split, which ships without them. The
document keys (``docId``, ``ucsf_document_id``, ``ucsf_document_page_no``) are optional because
InfographicVQA has none; any other key (``answer_type``, ``evidence``, ...) is kept in ``extra`` and
written back unchanged.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..utils.io import read_json, write_json

log = logging.getLogger(__name__)

_KNOWN = ("questionId", "question", "question_types", "image", "docId", "ucsf_document_id",
          "ucsf_document_page_no", "answers", "data_split")


@dataclass
class VqaQuestion:
    """One DocVQA question (field names follow the JSON keys in snake_case)."""

    question_id: int | str
    question: str
    image: str
    answers: list[str] = field(default_factory=list)
    question_types: list[str] = field(default_factory=list)
    doc_id: int | str | None = None
    ucsf_document_id: str | None = None
    ucsf_document_page_no: str | None = None
    data_split: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: the JSON key the image came from (``image`` or InfographicVQA's ``image_local_name``)
    image_key: str = "image"

    @property
    def page_id(self) -> str:
        """``<ucsf_document_id>_<page no>`` (the DocVQA image / OCR file stem), else the image stem."""
        if self.ucsf_document_id is not None and self.ucsf_document_page_no is not None:
            return f"{self.ucsf_document_id}_{self.ucsf_document_page_no}"
        return Path(self.image).stem

    def to_json(self) -> dict[str, Any]:
        """The official JSON record (optional keys only when set)."""
        out: dict[str, Any] = {"questionId": self.question_id, "question": self.question}
        if self.question_types:
            out["question_types"] = list(self.question_types)
        out[self.image_key] = self.image
        for key, value in (("docId", self.doc_id), ("ucsf_document_id", self.ucsf_document_id),
                           ("ucsf_document_page_no", self.ucsf_document_page_no)):
            if value is not None:
                out[key] = value
        if self.answers or self.data_split != "test":
            out["answers"] = list(self.answers)
        if self.data_split is not None:
            out["data_split"] = self.data_split
        out.update(self.extra)
        return out


@dataclass
class VqaSplit:
    """A whole DocVQA file: header fields plus the questions."""

    questions: list[VqaQuestion]
    dataset_name: str = "docvqa"
    dataset_version: str = "1.0"
    dataset_split: str = "val"

    def to_json(self) -> dict[str, Any]:
        return {"dataset_name": self.dataset_name, "dataset_version": self.dataset_version,
                "dataset_split": self.dataset_split, "data": [q.to_json() for q in self.questions]}


def _question_from_json(path: Path, index: int, rec: Any, split: str) -> VqaQuestion:
    where = f"{path}: data[{index}]"
    if not isinstance(rec, dict):
        raise ValueError(f"{where} is a {type(rec).__name__}, expected an object")
    if "questionId" in rec:
        where += f" (questionId {rec['questionId']})"
    image_key = "image" if "image" in rec else "image_local_name" if "image_local_name" in rec else None
    missing = [k for k in ("questionId", "question") if k not in rec]
    if image_key is None:
        missing.append("image")
    rec_split = rec.get("data_split", split)
    if "answers" not in rec and rec_split != "test":
        missing.append("answers")
    if missing:
        raise ValueError(f"{where} is missing key(s) {', '.join(repr(k) for k in missing)}")
    answers = rec.get("answers", [])
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise ValueError(f"{where}: key 'answers' must be a list of strings, got {answers!r}")
    types = rec.get("question_types", [])
    if not isinstance(types, list):
        raise ValueError(f"{where}: key 'question_types' must be a list, got {types!r}")
    page_no = rec.get("ucsf_document_page_no")
    return VqaQuestion(
        question_id=rec["questionId"],
        question=str(rec["question"]),
        image=str(rec[image_key]),
        answers=list(answers),
        question_types=list(types),
        doc_id=rec.get("docId"),
        ucsf_document_id=rec.get("ucsf_document_id"),
        ucsf_document_page_no=None if page_no is None else str(page_no),
        data_split=rec.get("data_split"),
        extra={k: v for k, v in rec.items() if k not in _KNOWN and k != image_key},
        image_key=image_key,
    )


def read_docvqa_split(path: str | os.PathLike) -> VqaSplit:
    """Read a DocVQA JSON file with its header; errors name the file, question index and key."""
    path = Path(path)
    obj = read_json(path)
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: top level is a {type(obj).__name__}, expected an object with 'data'")
    if "data" not in obj:
        raise ValueError(f"{path}: missing top-level key 'data'")
    if not isinstance(obj["data"], list):
        raise ValueError(f"{path}: top-level key 'data' must be a list")
    split = str(obj.get("dataset_split", ""))
    questions = [_question_from_json(path, i, rec, split) for i, rec in enumerate(obj["data"])]
    counts = Counter(q.question_id for q in questions)
    dup = sorted((i for i, n in counts.items() if n > 1), key=str)
    if dup:
        raise ValueError(f"{path}: repeated questionId(s) {dup[:10]}")
    log.info("read %d questions on %d pages from %s", len(questions), len({q.image for q in questions}), path)
    return VqaSplit(questions, str(obj.get("dataset_name", "docvqa")), str(obj.get("dataset_version", "1.0")), split)


def read_docvqa(path: str | os.PathLike) -> list[VqaQuestion]:
    """The questions of a DocVQA JSON file (see :func:`read_docvqa_split` for the header)."""
    return read_docvqa_split(path).questions


def write_docvqa(
    path: str | os.PathLike,
    questions: list[VqaQuestion],
    dataset_name: str = "docvqa",
    dataset_version: str = "1.0",
    dataset_split: str = "val",
) -> Path:
    """Write questions in the official DocVQA JSON layout (atomically)."""
    out = write_json(path, VqaSplit(questions, dataset_name, dataset_version, dataset_split).to_json())
    log.info("wrote %d questions to %s", len(questions), path)
    return out


def resolve_image(question: VqaQuestion, root: str | os.PathLike) -> Path:
    """The page image of a question: ``root / image`` if it exists, else ``root / basename(image)``.

    The official release keeps images in ``documents/``; extracted samples often sit flat next to the
    JSON. Raises FileNotFoundError naming both candidates when neither exists.
    """
    root = Path(root)
    for candidate in (root / question.image, root / Path(question.image).name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"question {question.question_id}: image {question.image!r} found neither at "
                            f"{root / question.image} nor at {root / Path(question.image).name}")
