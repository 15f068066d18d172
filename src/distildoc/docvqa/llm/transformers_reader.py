"""Hugging Face ``transformers`` causal-LM reader (the paper's Llama-2-7b-chat path, and the embedded
SmolLM2 default).

* Model: a hub id or a local folder, optionally a ``gguf_file`` inside it (transformers de-quantises
  GGUF weights to ``dtype``; needs the PyPI packages ``gguf`` and ``accelerate``), optionally loaded in
  4-bit NF4 through bitsandbytes (fp16 compute, no double quantisation: the released DistilDoc
  script's ``BitsAndBytesConfig``), which needs a CUDA GPU.
* Decoding: greedy (``do_sample=False``, one beam), ``max_new_tokens`` (default 100, as released),
  batched with *left* padding (the pad token is the EOS token when the tokenizer has none). The answer
  is the generated continuation only (special tokens skipped), post-processed (see
  :mod:`distildoc.docvqa.llm.base`). The released script generated one question at a time with the
  checkpoint's default generation config; greedy decoding makes the run deterministic.
* Extractive decoding (``decoding="extractive"``; default ``free``, the paper's setting): the answer may
  only spell a contiguous span of the page's OCR words (:mod:`distildoc.docvqa.llm.extractive`), through a
  logits processor over a trie of the spans' tokens.
* Beam search (``num_beams > 1``; default 1, greedy): transformers' beam search, hypotheses ranked by
  their summed log-probability divided by ``length ** length_penalty`` (default 1: the mean per token);
  under extractive decoding this ranks whole spans of the trie rather than committing to the first
  token. The stop rule is off under beam search (a hypothesis ends at end-of-sequence; extractive
  decoding ends every span with it).
* Finish reasons: ``stop`` (the stop rule, see ``stop_at_newline``), ``eos``, ``length``; a row stopped by
  the stop rule on its last step is ``stop``.
* Prompts: the raw prompt string (as the paper) or, with ``use_chat_template=True``, the tokenizer's
  chat template over :func:`distildoc.docvqa.prompts.to_chat_messages` with the generation prompt added.
* Context: see :func:`distildoc.docvqa.llm.base.fit_prompt`; ``max_context`` defaults to the model's
  ``max_position_embeddings``.
* Failures: an exception during a batch's generation is retried item by item; an item that fails alone
  becomes a failure record.
* GGUF conversion cache: parsing and de-quantising a GGUF file with transformers takes tens of seconds
  of pure Python; with ``convert_cache=<folder>`` the converted model and tokenizer are saved there once
  (safetensors, the float32 de-quantised weights unchanged, whatever ``dtype`` the run uses) under a key
  made of the GGUF file's SHA-256 and the transformers version, and later loads read that copy (and
  cast it to ``dtype``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import StoppingCriteria

from distildoc.docvqa.llm.base import (
    FittedPrompt,
    GenerationResult,
    Prompt,
    PromptTooLong,
    answer_line_complete,
    batches,
    check_postprocess,
    failure,
    fit_prompt,
    postprocess,
    question_of,
    span_words,
)
from distildoc.docvqa.llm.extractive import (
    DEFAULT_MAX_SPAN_WORDS,
    SpanConstraint,
    SpanTrieCache,
    anchor_of,
    check_decoding,
    newline_token_ids,
)
from distildoc.docvqa.prompts import to_chat_messages

log = logging.getLogger(__name__)

DEFAULT_MAX_NEW_TOKENS = 100
DEFAULT_BATCH_SIZE = 8


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def gguf_cache_dir(cache_root: str | os.PathLike, gguf_path: str | os.PathLike) -> Path:
    """Where the converted copy of `gguf_path` lives under `cache_root`."""
    import transformers

    gguf_path = Path(gguf_path)
    return Path(cache_root) / f"{gguf_path.stem}-{file_sha256(gguf_path)[:16]}-transformers{transformers.__version__}"


def _resolve_dtype(dtype: Any, device: str):
    import torch

    if dtype is None or dtype == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    if isinstance(dtype, str):
        if not hasattr(torch, dtype):
            raise ValueError(f"unknown dtype {dtype!r}")
        return getattr(torch, dtype)
    return dtype


class TransformersReader:
    """A causal LM from ``transformers`` answering prompts in batches (see the module docstring).

    Args:
        model: hub id or local folder.
        gguf_file: a GGUF file name inside `model` (or a path to one; its folder then becomes `model`).
        tokenizer: hub id / folder of the tokenizer when it differs from `model`.
        load_in_4bit: bitsandbytes NF4 4-bit weights, fp16 compute, no double quantisation; CUDA only.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:1``...
        dtype: weights / compute dtype; ``auto`` = float16 on CUDA, float32 on CPU.
        max_new_tokens: answer length limit (released: 100).
        batch_size: prompts per ``generate`` call.
        max_context: context length in tokens (prompt + answer); default: the model's
            ``max_position_embeddings``.
        postprocess: ``none`` (paper) or ``first_line``.
        stop_at_newline: stop a sequence once its continuation holds a complete line with answer text
            (a lead-in line such as "The answer is:" does not count; see
            :func:`~distildoc.docvqa.llm.base.answer_line_complete`): the rest cannot change a
            ``first_line`` answer, so this only saves time; default: on exactly when
            ``postprocess="first_line"``.
        decoding: ``free`` (paper) or ``extractive``: answers restricted to a span of the page's OCR words
            (:attr:`PromptParts.words <distildoc.docvqa.llm.base.PromptParts.words>`; a prompt without
            them: the words of its document text, of the whole string for a plain str prompt).
        max_span_words: longest extractive answer, in words.
        exclude_question_spans: under extractive decoding, refuse an answer that only repeats a
            contiguous run of the question's words (:func:`~distildoc.docvqa.llm.extractive.repeats_question`;
            needs the prompt's :attr:`~distildoc.docvqa.llm.base.PromptParts.question`); no effect on free
            decoding. Default on: measured on SmolLM2 greedy, real fixture best prompt ANLS 0.083 -> 0.131,
            synthetic set unchanged (``docs/docvqa.md``).
        num_beams: beams of the search (1: greedy, the paper's setting).
        length_penalty: beam search's length normalisation exponent (score = summed log-probability /
            length ** length_penalty).
        use_chat_template: wrap prompts in the tokenizer's chat template (default: raw text, as the paper).
        chat_template: a Jinja chat template for a tokenizer that has none (a GGUF file without
            ``tokenizer.chat_template``); the tokenizer's own template wins when it has one.
        extra_eos_tokens: token strings that also end an answer (e.g. Gemma's ``<end_of_turn>``), next
            to the model's end-of-sequence tokens; a string the vocabulary lacks is an error.
        system_prompt: optional system message for the chat template.
        num_threads: torch CPU threads used during :meth:`generate` (set for the call, restored after);
            None keeps torch's setting. On a CPU shared with other jobs, 1 thread can be several times
            faster than 2 (OpenMP threads wait for each other at every operator).
        sort_by_length: batch prompts of similar length together (less padding); results keep the
            input order.
        convert_cache: folder for the GGUF conversion cache (None: convert on every load).
        local_files_only, trust_remote_code, revision: passed to ``from_pretrained``.
    """

    name = "transformers"

    def __init__(
        self,
        model: str | os.PathLike,
        *,
        gguf_file: str | None = None,
        tokenizer: str | os.PathLike | None = None,
        load_in_4bit: bool = False,
        device: str = "auto",
        dtype: Any = "auto",
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_context: int | None = None,
        postprocess: str = "none",
        use_chat_template: bool = False,
        chat_template: str | None = None,
        extra_eos_tokens: Sequence[str] = (),
        system_prompt: str | None = None,
        stop_at_newline: bool | None = None,
        decoding: str = "free",
        max_span_words: int = DEFAULT_MAX_SPAN_WORDS,
        exclude_question_spans: bool = True,
        num_beams: int = 1,
        length_penalty: float = 1.0,
        num_threads: int | None = None,
        sort_by_length: bool = True,
        convert_cache: str | os.PathLike | None = None,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
        revision: str | None = None,
    ) -> None:
        import torch

        self.postprocess = check_postprocess(postprocess)
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        self.max_new_tokens = int(max_new_tokens)
        self.batch_size = max(1, int(batch_size))
        self.use_chat_template = bool(use_chat_template)
        self.system_prompt = system_prompt
        self.sort_by_length = sort_by_length
        self.stop_at_newline = (self.postprocess == "first_line") if stop_at_newline is None else bool(stop_at_newline)
        self.num_threads = int(num_threads) if num_threads else None
        self.decoding = check_decoding(decoding)
        if max_span_words < 1:
            raise ValueError(f"max_span_words must be >= 1, got {max_span_words}")
        self.max_span_words = int(max_span_words)
        self.exclude_question_spans = bool(exclude_question_spans)
        if num_beams < 1:
            raise ValueError(f"num_beams must be >= 1, got {num_beams}")
        self.num_beams = int(num_beams)
        self.length_penalty = float(length_penalty)

        if gguf_file is not None and Path(gguf_file).is_absolute():
            model, gguf_file = str(Path(gguf_file).parent), Path(gguf_file).name
        self.model_id = str(model)
        self.gguf_file = gguf_file
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.load_in_4bit = bool(load_in_4bit)
        if self.load_in_4bit:
            if gguf_file is not None:
                raise ValueError("load_in_4bit and gguf_file exclude each other (a GGUF file is already quantised)")
            if not (device.startswith("cuda") and torch.cuda.is_available()):
                raise RuntimeError(
                    "load_in_4bit=True (bitsandbytes NF4) needs a CUDA GPU, but "
                    + ("CUDA is not available" if not torch.cuda.is_available() else f"device is {device!r}")
                    + "; load the model without 4-bit quantisation (e.g. a GGUF file) on CPU")
        self.dtype = _resolve_dtype(dtype, device)

        t0 = time.perf_counter()
        self.tokenizer, self.model = self._load(tokenizer, convert_cache, local_files_only, trust_remote_code,
                                                revision)
        self.load_seconds = time.perf_counter() - t0
        tok = self.tokenizer
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        if chat_template is not None and not getattr(tok, "chat_template", None):
            tok.chat_template = chat_template
        if self.use_chat_template and not getattr(tok, "chat_template", None):
            raise ValueError(f"use_chat_template=True but the tokenizer of {self.model_id} has no chat template")
        self.model.eval()

        model_ctx = getattr(self.model.config, "max_position_embeddings", None)
        if max_context is None:
            if not model_ctx:
                raise ValueError(f"{self.model_id}: the config has no max_position_embeddings; pass max_context")
            max_context = int(model_ctx)
        self.max_context = int(max_context)
        if self.max_context <= self.max_new_tokens:
            raise ValueError(f"max_context ({self.max_context}) must exceed max_new_tokens ({self.max_new_tokens})")

        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = tok.eos_token_id
        self.eos_token_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        for t in extra_eos_tokens:
            tid = tok.convert_tokens_to_ids(t)
            if tid is None or tid == tok.unk_token_id:
                raise ValueError(f"extra_eos_tokens: {t!r} is not a token of the {self.model_id} tokenizer")
            self.eos_token_ids.add(int(tid))
        self.newline_token_ids = newline_token_ids(tok)
        self._tries = SpanTrieCache(tok)
        self.generation_kwargs = dict(
            do_sample=False, num_beams=1, max_new_tokens=self.max_new_tokens,
            pad_token_id=tok.pad_token_id, eos_token_id=sorted(self.eos_token_ids) or None,
            temperature=None, top_p=None, top_k=None,
        )
        log.info("transformers reader %s%s on %s (%s): loaded in %.1f s, context %d", self.model_id,
                 f" [{gguf_file}]" if gguf_file else "", self.device, self.dtype, self.load_seconds, self.max_context)

    # ---------------------------------------------------------------------------------------- loading

    def _load(self, tokenizer, convert_cache, local_files_only, trust_remote_code, revision):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        common = dict(local_files_only=local_files_only, trust_remote_code=trust_remote_code)
        if revision is not None:
            common["revision"] = revision
        if self.gguf_file is not None:
            gguf_path = Path(self.model_id) / self.gguf_file
            cached = None
            if convert_cache is not None and tokenizer is None and gguf_path.is_file():
                cached = gguf_cache_dir(convert_cache, gguf_path)
                if (cached / "config.json").is_file() and (cached / "tokenizer_config.json").is_file():
                    log.info("loading the converted GGUF model from %s", cached)
                    tok = AutoTokenizer.from_pretrained(cached, local_files_only=True)
                    model = AutoModelForCausalLM.from_pretrained(cached, dtype=self.dtype, local_files_only=True)
                    return tok, model.to(self.device)
            tok = AutoTokenizer.from_pretrained(tokenizer or self.model_id, gguf_file=None if tokenizer else self.gguf_file,
                                                **common)
            import torch

            # the cache always holds the float32 de-quantisation (exact), whatever dtype this run wants
            load_dtype = torch.float32 if cached is not None else self.dtype
            model = AutoModelForCausalLM.from_pretrained(self.model_id, gguf_file=self.gguf_file, dtype=load_dtype,
                                                         **common)
            if cached is not None:
                self._save_converted(tok, model, cached)
            return tok, model.to(device=self.device, dtype=self.dtype)

        tok = AutoTokenizer.from_pretrained(tokenizer or self.model_id, **common)
        if self.load_in_4bit:
            import torch
            from transformers import BitsAndBytesConfig

            try:
                import bitsandbytes  # noqa: F401
            except ImportError as err:
                raise ImportError("load_in_4bit=True needs the PyPI package 'bitsandbytes'") from err
            quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                       bnb_4bit_compute_dtype=torch.float16, bnb_4bit_use_double_quant=False)
            index = torch.device(self.device).index or 0
            model = AutoModelForCausalLM.from_pretrained(self.model_id, quantization_config=quant,
                                                         device_map={"": index}, **common)
            return tok, model
        model = AutoModelForCausalLM.from_pretrained(self.model_id, dtype=self.dtype, **common)
        return tok, model.to(self.device)

    @staticmethod
    def _save_converted(tok, model, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        os.chmod(tmp, 0o755)
        try:
            # the de-quantised weights are plain tensors; the GGUF quantizer only refuses to serialise
            # because it cannot write GGUF blocks back, so save without it (restored afterwards)
            quantizer = getattr(model, "hf_quantizer", None)
            had_qc = hasattr(model.config, "quantization_config")
            qc = getattr(model.config, "quantization_config", None)
            try:
                model.hf_quantizer = None
                if had_qc:
                    del model.config.quantization_config
                model.save_pretrained(tmp)
            finally:
                model.hf_quantizer = quantizer
                if had_qc:
                    model.config.quantization_config = qc
            tok.save_pretrained(tmp)
            try:
                os.replace(tmp, target)
                log.info("saved the converted GGUF model to %s", target)
            except OSError:  # another process got there first
                log.debug("conversion cache %s already exists", target)
        except Exception as err:  # a failed cache write must not fail the run
            log.warning("could not write the GGUF conversion cache %s: %s", target, err)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    # ------------------------------------------------------------------------------------------ tokens

    def render(self, prompt: str) -> str:
        """The string fed to the tokenizer: the prompt, or its chat-template rendering."""
        if not self.use_chat_template:
            return prompt
        return self.tokenizer.apply_chat_template(to_chat_messages(prompt, self.system_prompt), tokenize=False,
                                                  add_generation_prompt=True)

    def _encode(self, rendered: str) -> list[int]:
        # a chat template already holds the special tokens (BOS...) it needs
        return self.tokenizer(rendered, add_special_tokens=not self.use_chat_template)["input_ids"]

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` sent as a prompt (chat template included when enabled)."""
        return len(self._encode(self.render(text)))

    def fit(self, prompt: Prompt) -> FittedPrompt:
        return fit_prompt(prompt, self.max_context - self.max_new_tokens, self.count_tokens)

    # -------------------------------------------------------------------------------------- generation

    def generate(self, prompts: Sequence[Prompt]) -> list[GenerationResult]:
        import torch

        if self.num_threads is None or self.num_threads == torch.get_num_threads():
            return self._generate(prompts)
        old = torch.get_num_threads()
        torch.set_num_threads(self.num_threads)
        try:
            return self._generate(prompts)
        finally:
            torch.set_num_threads(old)

    def _generate(self, prompts: Sequence[Prompt]) -> list[GenerationResult]:
        results: list[GenerationResult | None] = [None] * len(prompts)
        fitted: dict[int, FittedPrompt] = {}
        for i, prompt in enumerate(prompts):
            try:
                fitted[i] = self.fit(prompt)
            except PromptTooLong as err:
                results[i] = failure(err)
                continue
            if self.decoding == "extractive":
                # spans of the whole page, also when its document text was cut to fit
                fitted[i] = dataclasses.replace(fitted[i], words=span_words(prompt), question=question_of(prompt))
        order = sorted(fitted, key=lambda i: -fitted[i].n_tokens) if self.sort_by_length else sorted(fitted)
        for batch in batches(order, self.batch_size):
            try:
                outs = self._generate_batch([fitted[i] for i in batch])
            except Exception as err:  # noqa: BLE001 - recorded, never dropped
                if len(batch) == 1:
                    log.warning("generation failed: %s: %s", type(err).__name__, err)
                    outs = [failure(err, fitted[batch[0]].n_tokens, fitted[batch[0]].truncated)]
                else:
                    log.warning("batch of %d failed (%s: %s); retrying one by one", len(batch), type(err).__name__, err)
                    outs = []
                    for i in batch:
                        try:
                            outs.extend(self._generate_batch([fitted[i]]))
                        except Exception as err1:  # noqa: BLE001
                            outs.append(failure(err1, fitted[i].n_tokens, fitted[i].truncated))
            for i, out in zip(batch, outs):
                results[i] = out
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def _generate_batch(self, items: list[FittedPrompt]) -> list[GenerationResult]:
        import torch

        rendered = [self.render(f.text) for f in items]
        enc = self.tokenizer(rendered, add_special_tokens=not self.use_chat_template, padding=True,
                             return_tensors="pt")
        enc = {k: v.to(self.model.device) for k, v in enc.items()}
        prompt_len = enc["input_ids"].shape[1]
        kwargs = dict(self.generation_kwargs)
        stopper = None
        if self.num_beams > 1:
            kwargs.update(num_beams=self.num_beams, length_penalty=self.length_penalty, early_stopping=True)
        elif self.stop_at_newline:
            from transformers import StoppingCriteriaList

            stopper = _LineComplete(self.tokenizer, prompt_len)
            kwargs["stopping_criteria"] = StoppingCriteriaList([stopper])
        if self.decoding == "extractive":
            from transformers import LogitsProcessorList

            tries = [self._tries.get(f.words if f.words is not None else span_words(f.text), anchor_of(r),
                                     self.max_span_words, f.question if self.exclude_question_spans else None)
                     for f, r in zip(items, rendered)]
            kwargs["logits_processor"] = LogitsProcessorList([
                SpanConstraint(tries, prompt_len, self.eos_token_ids, self.newline_token_ids)])
        with torch.inference_mode():
            out = self.model.generate(**enc, **kwargs)
        new = out[:, prompt_len:].tolist()
        results = []
        for row_index, (f, row) in enumerate(zip(items, new)):
            # what ended the row first: the stop rule (after the token at done_at - 1), end-of-sequence
            # (finished rows are padded with it), or max_new_tokens
            n_gen, finish = len(row), "length"
            eos_at = next((k + 1 for k, t in enumerate(row) if t in self.eos_token_ids), None)
            stop_at = stopper.done_at.get(row_index) if stopper is not None else None
            if stop_at is not None and stop_at <= n_gen and (eos_at is None or stop_at <= eos_at):
                n_gen, finish = stop_at, "stop"
            elif eos_at is not None:
                n_gen, finish = eos_at, "eos"
            raw = self.tokenizer.decode(row[:n_gen], skip_special_tokens=True, clean_up_tokenization_spaces=False)
            results.append(GenerationResult(text=postprocess(raw, self.postprocess), prompt_tokens=f.n_tokens,
                                            truncated=f.truncated, error=None, raw_text=raw,
                                            completion_tokens=n_gen, finish_reason=finish))
        return results

    def describe(self) -> dict[str, Any]:
        """Settings to record next to the predictions."""
        return {"backend": self.name, "model": self.model_id, "gguf_file": self.gguf_file, "device": self.device,
                "dtype": str(self.dtype).replace("torch.", ""), "load_in_4bit": self.load_in_4bit,
                "max_new_tokens": self.max_new_tokens, "max_context": self.max_context,
                "batch_size": self.batch_size, "num_threads": self.num_threads, "postprocess": self.postprocess,
                "use_chat_template": self.use_chat_template, "system_prompt": self.system_prompt,
                "stop_at_newline": self.stop_at_newline, "decoding": self.decoding,
                "search": "greedy" if self.num_beams == 1 else f"beam{self.num_beams}",
                "length_penalty": self.length_penalty if self.num_beams > 1 else None,
                "max_span_words": self.max_span_words if self.decoding == "extractive" else None,
                "exclude_question_spans": self.exclude_question_spans if self.decoding == "extractive" else None}


class _LineComplete(StoppingCriteria):
    """Stopping criterion: a row is done once its continuation holds a complete line with answer text
    (:func:`~distildoc.docvqa.llm.base.answer_line_complete`: not a lead-in line, not a blank one).

    Records, per batch row, how many tokens had been generated when it first became done (the
    instance is its own deep copy, so the record survives transformers copying its criteria).
    """

    def __deepcopy__(self, memo):
        return self

    def __init__(self, tokenizer, prompt_len: int) -> None:
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.done_at: dict[int, int] = {}

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        gen = input_ids[:, self.prompt_len:]
        flags = []
        for i, row in enumerate(gen.tolist()):
            if i in self.done_at:
                flags.append(True)
                continue
            text = self.tokenizer.decode(row, skip_special_tokens=True, clean_up_tokenization_spaces=False)
            done = answer_line_complete(text)
            if done:
                self.done_at[i] = len(row)
            flags.append(done)
        return torch.tensor(flags, dtype=torch.bool, device=input_ids.device)
