"""What one layout training job depends on (`distildoc.train.dla.job_config`, the `dla_train` rules' params)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from distildoc.config import validate_config
from distildoc.train.dla import job_config

PARAMS = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())


def _dla(preset: str = "paper") -> dict:
    return validate_config({**copy.deepcopy(PARAMS), "preset": preset})["dla"]


def test_a_job_sees_only_its_family_role_and_method() -> None:
    dla = _dla()
    cfg = job_config(dla, "R101-FPN", "supervised")
    assert cfg["recipes"] == {"resnet": dla["recipes"]["resnet"]}
    assert cfg["recipe_overrides"] == {"R101-FPN": {"batch_size": 8}}  # the paper's R101 teacher batch
    assert cfg["methods"] == {}
    assert "efficiency" not in cfg and "distill" not in cfg
    vit = job_config(dla, "ViT-T-FPN", "reviewkd")
    assert vit["recipes"] == {"vit": dla["recipes"]["vit"]} and vit["methods"] == {"reviewkd": {"loss_weight": 0.8}}
    assert vit["recipe_overrides"] == {}
    # a ViT recipe change leaves a ResNet job's params as they were (Snakemake does not re-train it)
    changed = copy.deepcopy(dla)
    changed["recipes"]["vit"]["lr"] = 1e-3
    assert job_config(changed, "R50-FPN", "simkd_fpn") == job_config(dla, "R50-FPN", "simkd_fpn")


def test_dataset_recipe_applies_to_that_dataset_only() -> None:
    dla = _dla()
    dla["dataset_recipes"] = {"prima": {"resnet": {"iterations": 20000, "steps": [15000, 18000]}}}
    prima = job_config(dla, "R101-FPN", "supervised", dataset="prima")
    resnet = prima["recipes"]["resnet"]
    assert resnet["iterations"] == 20000 and resnet["steps"] == [15000, 18000]
    assert resnet["lr"] == dla["recipes"]["resnet"]["lr"]  # the other fields from dla.recipes
    assert prima["recipe_overrides"] == {"R101-FPN": {"batch_size": 8}}  # still applied on top by train_dla
    assert "dataset_recipes" not in prima
    # DocLayNet's jobs and PRImA's ViT jobs are untouched
    assert job_config(dla, "R101-FPN", "supervised")["recipes"]["resnet"]["iterations"] == 270000
    plain = _dla()
    assert job_config(dla, "ViT-B-FPN", "supervised", dataset="prima") == \
        job_config(plain, "ViT-B-FPN", "supervised", dataset="prima")
    assert job_config(plain, "R101-FPN", "supervised", dataset="prima") == job_config(plain, "R101-FPN", "supervised")

