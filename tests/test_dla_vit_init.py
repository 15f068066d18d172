"""ViT-FPN backbones initialised from a trained ViT classifier of the dic stage (`distildoc.models.detection.vit_init`,
`dla.vit_init`): the loaded weights equal the classifier's, the position embedding is resampled, a missing /
extra / mis-shaped key errors, and the configuration resolves to the dic run the DLA job takes as input."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from distildoc.models.classification import build_model
from distildoc.models.detection import build_detector, detector_spec
from distildoc.models.detection.vit_init import init_vit_backbone
from distildoc.models.registry import get_spec
from distildoc.config_checks import vit_init_problems
from distildoc.settings import dic_run_input
from distildoc.train.dla import job_config


def _classifier_run(run_dir: Path, role: str = "ViT-T") -> dict[str, torch.Tensor]:
    """A classifier run folder as save_classifier writes it (artefact.json + model.safetensors), random weights."""
    torch.manual_seed(1)
    model = build_model(get_spec(role))
    run_dir.mkdir(parents=True, exist_ok=True)
    spec = model.export_weights(run_dir / "model.safetensors").to_dict()
    spec["checkpoint"] = "model.safetensors"
    (run_dir / "artefact.json").write_text(json.dumps({"model_spec": spec, "method": "ce"}))
    return {k: v.clone() for k, v in model.model.state_dict().items()}


def _vit_t_detector() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_detector(detector_spec("ViT-T-FPN", num_classes=12))


def test_loaded_backbone_equals_the_classifier(tmp_path: Path) -> None:
    ref = _classifier_run(tmp_path / "run")
    model = _vit_t_detector()
    before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("backbone.vit.")}
    record = init_vit_backbone(model, tmp_path / "run")
    vit = model.backbone.vit.state_dict()
    for k, v in vit.items():
        if k != "pos_embed":
            assert torch.equal(v, ref[k]), k
    # the classifier-only keys were dropped and named
    assert record["dropped_keys"] == ["head.bias", "head.weight", "norm.bias", "norm.weight"]
    # pos_embed: class-token position kept, the 6x6 patch grid resampled to the detector's 16x16 (bicubic,
    # antialiased: timm's resampling, recomputed here with torch alone)
    assert record["pos_embed_grid"] == [[6, 6], [16, 16]]
    assert torch.equal(vit["pos_embed"][:, :1], ref["pos_embed"][:, :1])
    grid = ref["pos_embed"][:, 1:].reshape(1, 6, 6, -1).permute(0, 3, 1, 2)
    expect = F.interpolate(grid, size=(16, 16), mode="bicubic", antialias=True, align_corners=False)
    assert torch.allclose(vit["pos_embed"][:, 1:], expect.permute(0, 2, 3, 1).reshape(1, 256, -1), atol=1e-6)
    # nothing outside the ViT changed (pyramid, FPN, heads keep their initialisation)
    after = model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())
    assert len(record["sha256"]) == 64 and record["classifier"]["name"] == "vit_tiny_patch16_224"
    model.eval()
    with torch.no_grad():
        out = model([torch.rand(3, 200, 150)])
    assert "boxes" in out[0]


@pytest.mark.parametrize("change", ["missing", "extra"])
def test_a_missing_or_extra_key_errors_naming_it(tmp_path: Path, change: str) -> None:
    _classifier_run(tmp_path / "run")
    path = tmp_path / "run" / "model.safetensors"
    state = load_file(str(path))
    if change == "missing":
        key = "blocks.1.attn.qkv.weight"
        del state[key]
    else:
        key = "blocks.7.attn.qkv.weight"
        state[key] = torch.zeros(3)
    save_file(state, str(path))
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        init_vit_backbone(_vit_t_detector(), tmp_path / "run")


def test_another_architecture_or_no_vit_errors(tmp_path: Path) -> None:
    _classifier_run(tmp_path / "vitb", role="ViT-B")  # embed 192, depth 6: extra blocks and other widths
    with pytest.raises(ValueError, match="blocks.4"):
        init_vit_backbone(_vit_t_detector(), tmp_path / "vitb")
    with pytest.raises(FileNotFoundError, match="artefact.json"):
        init_vit_backbone(_vit_t_detector(), tmp_path / "nothing")
    cnn = build_detector(detector_spec("R50-FPN", num_classes=12))
    with pytest.raises(ValueError, match="no ViT backbone"):
        init_vit_backbone(cnn, tmp_path / "vitb")


def test_config_resolves_to_the_dic_run_and_its_input() -> None:
    assert dic_run_input("teachers/rvl/ViT-B") == ("teachers/rvl/ViT-B/model.safetensors", "teachers/rvl/ViT-B")
    assert dic_run_input("runs/rvl/none__ViT-T__random__s0/ce") == ("runs/rvl/none__ViT-T__random__s0",
                                                                     "runs/rvl/none__ViT-T__random__s0/ce")
    with pytest.raises(ValueError, match="no classification run"):
        dic_run_input("ViT-B")
    dla = {"detectors": "embedded", "recipes": {"resnet": {}, "vit": {}}, "methods": {},
           "vit_init": {"ViT-B-FPN": "teachers/rvl/ViT-B"}}
    cfg = job_config(copy.deepcopy(dla), "ViT-B-FPN", "supervised", dic_res="results/x/dic")
    assert cfg["vit_init"] == {"ViT-B-FPN": "results/x/dic/teachers/rvl/ViT-B"}
    # other roles' jobs do not depend on it (Snakemake re-trains only the initialised role)
    assert "vit_init" not in job_config(copy.deepcopy(dla), "ViT-T-FPN", "supervised", dic_res="results/x/dic")
    assert "vit_init" not in job_config(copy.deepcopy(dla), "R50-FPN", "supervised", dic_res="results/x/dic")
    available = {"teachers/rvl/ViT-B", "runs/rvl/none__ViT-T__random__s0/ce"}
    assert vit_init_problems({"ViT-B-FPN": "teachers/rvl/ViT-B", "ViT-T-FPN": None}, available) == []
    [missing] = vit_init_problems({"ViT-T-FPN": "runs/rvl/none__ViT-T__imagenet__s0/ce"}, available)
    assert missing.startswith("dla.vit_init.ViT-T-FPN: 'runs/rvl/none__ViT-T__imagenet__s0/ce' is not produced by the "
                              "dic stage")
    assert vit_init_problems({"R50-FPN": "teachers/rvl/ViT-B"}, available) == [
        "dla.vit_init.R50-FPN: only ViT-FPN roles start from a classifier"]
    [shape] = vit_init_problems({"ViT-B-FPN": "ViT-B"}, available)
    assert shape.startswith("dla.vit_init: 'ViT-B' is no classification run")


def test_train_dla_records_the_init(synthetic_root: Path, tmp_path: Path) -> None:
    """A ViT-FPN job with `vit_init` starts from the classifier and says so in metrics.json."""
    from distildoc.config import load_preset
    from distildoc.data.coco import load_coco
    from distildoc.train.dla import subset_coco, train_dla
    from distildoc.utils.io import write_json

    ref = _classifier_run(tmp_path / "cls")
    coco = load_coco(synthetic_root / "rvl" / "layout" / "train.json")
    write_json(tmp_path / "train.json", subset_coco(coco, 2))
    write_json(tmp_path / "val.json", subset_coco(coco, 1))
    cfg = load_preset(Path(__file__).resolve().parents[1] / "params.yaml", "smoke")["dla"]
    cfg["recipes"]["vit"].update(iterations=1, checkpoint_every=0, warmup_iters=0, lr=0.0)
    cfg["vit_init"] = {"ViT-T-FPN": str(tmp_path / "cls")}  # as job_config resolves it
    metrics = train_dla(tmp_path / "out", "ViT-T-FPN", cfg, tmp_path / "train.json", tmp_path / "val.json",
                        synthetic_root / "rvl")
    assert metrics["backbone_init"]["run_dir"] == str(tmp_path / "cls")
    assert metrics["backbone_init"]["pos_embed_grid"][0] == [6, 6] and metrics["weights_provenance"] is None
    # lr 0: the saved detector's ViT blocks are exactly the classifier's
    saved = torch.load(tmp_path / "out" / "model.pt", weights_only=True)
    assert all(torch.equal(saved[f"backbone.vit.{k}"], v) for k, v in ref.items() if k.startswith("blocks."))
