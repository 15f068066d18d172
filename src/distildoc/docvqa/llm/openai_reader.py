"""OpenAI-compatible HTTP reader (vLLM, llama.cpp's ``llama-server``, text-generation-inference, OpenAI...).

Requests (standard library ``urllib``; no extra dependency):

* ``api="completions"``: ``POST {base_url}/completions`` with
  ``{"model", "prompt", "max_tokens", "temperature": 0, "n": 1, "stream": false}`` (+ ``stop`` and
  ``extra_body`` entries when given); the answer is ``choices[0].text``. This is the raw-text mode of
  the paper.
* ``api="chat"``: ``POST {base_url}/chat/completions`` with ``{"model", "messages", ...}`` built by
  :func:`distildoc.docvqa.prompts.to_chat_messages`; the answer is ``choices[0].message.content``.

``base_url`` is the API root, e.g. ``http://127.0.0.1:8000/v1``. Prompts are sent concurrently
(``concurrency`` threads); each request has a timeout and is retried (exponential backoff) on
connection errors, timeouts, HTTP 408/409/429 and 5xx. Other HTTP errors, malformed responses and
exhausted retries become failure records (``error`` holds the status and the server's message).

Token counts: ``count_tokens`` uses a local Hugging Face tokenizer when ``tokenizer=`` names one, else
an estimate of ``ceil(len(text) / chars_per_token)``; with ``max_context`` set, prompts are fitted
(see :mod:`distildoc.docvqa.llm.base`) with that count. ``prompt_tokens`` of a result is the server's
``usage.prompt_tokens`` when reported.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from distildoc.docvqa.llm.base import (
    FittedPrompt,
    GenerationResult,
    Prompt,
    PromptTooLong,
    as_parts,
    check_postprocess,
    failure,
    fit_prompt,
    postprocess,
)
from distildoc.docvqa.prompts import to_chat_messages

log = logging.getLogger(__name__)

APIS: tuple[str, ...] = ("completions", "chat")
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class RequestFailed(RuntimeError):
    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class OpenAIReader:
    """Answers prompts through an OpenAI-compatible endpoint (see the module docstring).

    Args:
        base_url: API root (``http://host:port/v1``).
        model: the ``model`` field of the requests.
        api: ``completions`` (raw prompt) or ``chat``.
        api_key: bearer token; default ``$OPENAI_API_KEY`` (none sent when unset).
        max_new_tokens: ``max_tokens`` of the requests (released: 100).
        temperature: 0 = greedy.
        timeout: seconds per request.
        retries: extra attempts after a retryable failure; backoff: first wait in seconds (doubles).
        concurrency: requests in flight.
        max_context: context length for fitting prompts; None = no local fitting (the server decides).
        tokenizer: a Hugging Face tokenizer (hub id / folder) for exact local token counts.
        chars_per_token: the estimate used without a tokenizer.
        postprocess: ``none`` / ``first_line``.
        system_prompt: optional system message (``chat`` only).
        stop: stop strings sent to the server.
        extra_body: more JSON fields merged into every request (e.g. ``{"seed": 0}``).
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api: str = "completions",
        api_key: str | None = None,
        max_new_tokens: int = 100,
        temperature: float = 0.0,
        timeout: float = 60.0,
        retries: int = 2,
        backoff: float = 1.0,
        concurrency: int = 8,
        max_context: int | None = None,
        tokenizer: str | os.PathLike | None = None,
        chars_per_token: float = 4.0,
        postprocess: str = "none",
        system_prompt: str | None = None,
        stop: Sequence[str] | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        if api not in APIS:
            raise ValueError(f"unknown api {api!r}; allowed: {', '.join(APIS)}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api = api
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.max_new_tokens = int(max_new_tokens)
        self.temperature = float(temperature)
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.backoff = float(backoff)
        self.concurrency = max(1, int(concurrency))
        self.postprocess = check_postprocess(postprocess)
        self.system_prompt = system_prompt
        self.stop = list(stop) if stop else None
        self.extra_body = dict(extra_body or {})
        self.chars_per_token = float(chars_per_token)
        self._tokenizer = None
        if tokenizer is not None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(tokenizer)
        if max_context is not None and max_context <= self.max_new_tokens:
            raise ValueError(f"max_context ({max_context}) must exceed max_new_tokens ({self.max_new_tokens})")
        self._max_context = max_context

    @property
    def max_context(self) -> int:
        """The fitting context (0 when prompts are not fitted locally)."""
        return int(self._max_context or 0)

    @property
    def url(self) -> str:
        return f"{self.base_url}/{'chat/completions' if self.api == 'chat' else 'completions'}"

    # ------------------------------------------------------------------------------------------ tokens

    def count_tokens(self, text: str) -> int:
        if self.api == "chat":
            text = "".join(m["content"] for m in to_chat_messages(text, self.system_prompt))
        if self._tokenizer is not None:
            return len(self._tokenizer(text)["input_ids"])
        return math.ceil(len(text) / self.chars_per_token)

    def fit(self, prompt: Prompt) -> FittedPrompt:
        if self._max_context is None:
            text = as_parts(prompt).text
            return FittedPrompt(text, self.count_tokens(text), False, len(as_parts(prompt).document))
        return fit_prompt(prompt, self._max_context - self.max_new_tokens, self.count_tokens)

    # -------------------------------------------------------------------------------------- requests

    def request_body(self, prompt: str) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "max_tokens": self.max_new_tokens,
                                "temperature": self.temperature, "n": 1, "stream": False}
        if self.api == "chat":
            body["messages"] = to_chat_messages(prompt, self.system_prompt)
        else:
            body["prompt"] = prompt
        if self.stop:
            body["stop"] = self.stop
        body.update(self.extra_body)
        return body

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                payload = resp.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", errors="replace")[:500]
            raise RequestFailed(f"HTTP {err.code} from {self.url}: {detail}", err.code in RETRY_STATUS) from err
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise RequestFailed(f"request to {self.url} failed: {type(reason).__name__}: {reason}", True) from err
        try:
            obj = json.loads(payload)
        except json.JSONDecodeError as err:
            raise RequestFailed(f"non-JSON response from {self.url}: {payload[:200]!r}", False) from err
        if not isinstance(obj, dict):
            raise RequestFailed(f"unexpected response from {self.url}: {str(obj)[:200]}", False)
        return obj

    def _parse(self, obj: dict[str, Any]) -> tuple[str, int | None, int, str | None]:
        if "error" in obj and "choices" not in obj:
            raise RequestFailed(f"server error: {json.dumps(obj['error'])[:500]}", False)
        try:
            choice = obj["choices"][0]
            text = choice["message"]["content"] if self.api == "chat" else choice["text"]
        except (KeyError, IndexError, TypeError) as err:
            raise RequestFailed(f"malformed response (no choices[0].{'message.content' if self.api == 'chat' else 'text'}):"
                                f" {json.dumps(obj)[:300]}", False) from err
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise RequestFailed(f"malformed response: answer is a {type(text).__name__}", False)
        usage = obj.get("usage") or {}
        return text, usage.get("prompt_tokens"), int(usage.get("completion_tokens") or 0), choice.get("finish_reason")

    def _one(self, fitted: FittedPrompt) -> GenerationResult:
        body = self.request_body(fitted.text)
        wait = self.backoff
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                text, prompt_tokens, completion_tokens, finish = self._parse(self._post(body))
                return GenerationResult(text=postprocess(text, self.postprocess),
                                        prompt_tokens=int(prompt_tokens) if prompt_tokens is not None else fitted.n_tokens,
                                        truncated=fitted.truncated, error=None, raw_text=text,
                                        completion_tokens=completion_tokens, finish_reason=finish)
            except RequestFailed as err:
                last = err
                if not err.retryable or attempt == self.retries:
                    break
                log.debug("attempt %d failed (%s); retrying in %.1f s", attempt + 1, err, wait)
                time.sleep(wait * (1 + 0.1 * random.random()))
                wait *= 2
            except Exception as err:  # noqa: BLE001 - recorded, never dropped
                last = err
                break
        attempts = f" after {attempt + 1} attempt(s)" if attempt else ""
        return failure(f"{type(last).__name__}: {last}{attempts}", fitted.n_tokens, fitted.truncated)

    def generate(self, prompts: Sequence[Prompt]) -> list[GenerationResult]:
        results: list[GenerationResult | None] = [None] * len(prompts)
        todo: list[tuple[int, FittedPrompt]] = []
        for i, p in enumerate(prompts):
            try:
                todo.append((i, self.fit(p)))
            except PromptTooLong as err:
                results[i] = failure(err)
        if todo:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(todo))) as pool:
                for (i, _), res in zip(todo, pool.map(lambda item: self._one(item[1]), todo)):
                    results[i] = res
        return results  # type: ignore[return-value]

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "base_url": self.base_url, "model": self.model, "api": self.api,
                "max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
                "max_context": self._max_context, "postprocess": self.postprocess, "stop": self.stop,
                "system_prompt": self.system_prompt, "extra_body": self.extra_body}
