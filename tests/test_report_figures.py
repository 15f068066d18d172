"""The paper's figures from hand-made run tables: non-empty, expected axes labels and legend entries."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from report_helpers import dic_runs, dla_runs, docvqa_runs  # noqa: E402

from distildoc.report import figures as F  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _legend_texts(fig) -> list[str]:
    texts = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    for ax in fig.axes:
        if ax.get_legend() is not None:
            texts += [t.get_text() for t in ax.get_legend().get_texts()]
    return texts


def test_id_vs_ood_scatter_has_three_panels_methods_and_the_teacher() -> None:
    fig = F.id_vs_ood_figure(dic_runs())
    assert [ax.get_title() for ax in fig.axes] == ["accuracy", "ECE", "AURC"]
    assert fig.axes[0].get_xlabel() == "accuracy (RVL-CDIP test, in-distribution)"
    assert fig.axes[2].get_ylabel() == "AURC (RVL-CDIP-N, covariate shift)"
    legend = _legend_texts(fig)
    assert legend[0] == "CE" and "SimKD [CNN]" in legend and legend[-1] == "teacher"
    # 3 teachers as stars, one point per student run (5 pairs x 7 methods + 3 ce)
    offsets = [len(c.get_offsets()) for c in fig.axes[0].collections]
    assert offsets[-1] == 3 and sum(offsets[:-1]) == 5 * 7 + 3


@pytest.mark.parametrize("by,groups", [("approach", ["response", "feature"]), ("teacher", ["DiT-B", "R101", "ViT-B"]),
                                       ("student", ["R50", "ViT-S", "ViT-T"])])
def test_ood_boxplots_group_runs(by: str, groups: list[str]) -> None:
    fig = F.ood_boxplot_figure(dic_runs(), by)
    assert [ax.get_title() for ax in fig.axes] == ["accuracy", "ECE", "AURC", "runtime / supervised CE"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == groups
    assert fig.axes[1].get_ylabel() == "ECE (RVL-CDIP-N)"


def test_relative_runtime_is_over_the_supervised_student() -> None:
    runs = pd.DataFrame({"student": ["R50", "R50", "ViT-T"], "method": ["ce", "mse", "mse"],
                         "train_seconds": [10.0, 25.0, 5.0]})
    rel = F.relative_runtime(runs)
    assert rel.iloc[:2].tolist() == [1.0, 2.5] and np.isnan(rel.iloc[2])


def test_reliability_diagrams_from_logits(tmp_path: Path) -> None:
    runs = dic_runs()
    runs = runs[(runs["teacher"].isin(["R101", None]) | runs["teacher"].isna())]
    rng = np.random.default_rng(0)
    for path in runs["path"].unique():
        labels = rng.integers(0, 4, 40)
        logits = rng.normal(size=(40, 4))
        logits[np.arange(40), labels] += 2.0
        f = tmp_path / Path(path).parent / "logits_test.npz"
        f.parent.mkdir(parents=True, exist_ok=True)
        np.savez(f, logits=logits, labels=labels, ids=np.arange(40))
    # a second seed and random-init copies of every student run (their logits files absent: reading one would
    # fail): still one diagram per method, seed 0 of the pretrained students (the main tables' init)
    studs = runs[runs["role"] == "student"]
    seed1 = studs.assign(seed=1, path=studs["path"].str.replace("__s0/", "__s1/"))
    rand = studs.assign(init="random", path=studs["path"].str.replace("__pretrained__", "__random__"))
    runs = pd.concat([seed1, runs, rand], ignore_index=True)
    fig = F.reliability_figure(runs, "R101", root=tmp_path, n_bins=5)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    titles = [ax.get_title().split("\n")[0] for ax in visible]
    assert titles == ["R101 (teacher)", "R50 CE", "R50 CE [DistilDoc code]", "R50 Vanilla KD", "R50 NKD", "R50 MSE",
                      "R50 FitNet", "R50 SimKD [CNN]", "R50 SimKD [∅]"]
    assert all("ECE" in ax.get_title() for ax in visible)
    assert visible[0].get_xlabel() == "confidence" and visible[0].get_ylabel() == "accuracy"
    assert "perfect calibration" in _legend_texts(fig)
    assert len(visible[0].patches) == 5  # equal-mass bins: 40 samples, 5 non-empty bins
    with pytest.raises(FileNotFoundError, match="logits_test.npz"):
        F.reliability_figure(runs, "R101", root=tmp_path / "elsewhere")


def test_dla_efficiency_markers_per_method() -> None:
    fig = F.dla_efficiency_figure(dla_runs())
    assert [ax.get_xlabel() for ax in fig.axes] == ["GFLOPs per page", "images / s"]
    assert fig.axes[0].get_ylabel() == "bbox mAP (COCO, 0-100)"
    assert _legend_texts(fig) == ["supervised", "SimKD", "ReviewKD", "ViT-B", "R101", "ViT-T", "R50"]
    assert len(fig.axes[0].collections) == 8


def test_anls_vs_map_per_prompt_type() -> None:
    fig = F.anls_vs_map_figure(docvqa_runs(), dla_runs())
    ax = fig.axes[0]
    assert ax.get_xlabel() == "layout model bbox mAP (0-100)" and ax.get_ylabel() == "ANLS × 100"
    assert _legend_texts(fig) == ["task + DLA", "task, no DLA", "task+space + DLA", "task+space, no DLA"]
    series = [line for line in ax.get_lines() if line.get_label() == "task + DLA"][0]
    assert len(series.get_xdata()) == 3 and series.get_ydata()[0] == pytest.approx(51.0)


def test_save_figure_writes_png_and_pdf(tmp_path: Path) -> None:
    paths = F.save_figure(F.dla_efficiency_figure(dla_runs()), tmp_path / "dla")
    assert [p.name for p in paths] == ["dla.png", "dla.pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[0].stat().st_size > 10_000
    assert paths[1].read_bytes()[:4] == b"%PDF"
