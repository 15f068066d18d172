"""The plan of a preset's DAG: every path, job grid and cell, computed from its validated configuration.

The Snakemake files (``workflow/rules/*.smk``) hold rules; what they ask for (which splits are decoded, which
teacher and student jobs run, which layout models train, which DocVQA cells are answered) and where each file
lives come from here. :func:`build_plan` is a pure function of the preset's checked settings
(:func:`distildoc.settings.load_settings`; plus the existence checks of the real-page fixtures it names, which decide
whether their rules join ``all``), so the plan is tested without Snakemake (``tests/test_plan.py``). The semantic
checks of the configuration are all in :mod:`distildoc.config_checks`; what the plan raises (a :class:`ConfigError`
naming the key) is about the file system: a fixture folder that a requested rule needs and that is missing.

Layout of the results (``results/<preset>/``)::

    dic/tensors/<split>_<size>.pt                      decoded splits
    dic/teachers/<dataset>/<teacher>/                   a teacher (+ its cached outputs in dic/cache/)
    dic/runs/<dataset>/<teacher|none>__<student>__<init>__s<seed>/<method>/   a student run
    dla/models/<teacher|none>__<role>__<method>/        a layout model (Table 3 row)
    docvqa/<dataset>/runs/<dla model|none>/<prompt>/    a DocVQA cell
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import ConfigError
from ..settings import (DLA_DATASET_INFO, NO_TEACHER, DicConfig, DlaConfig, DocvqaConfig, DocvqaDataset, JobKey,
                        Settings, dic_run_input)

#: splits decoded together (one process per group: importing torch costs more than decoding)
DECODE_GROUPS: dict[str, tuple[str, ...]] = {
    "rvl": ("rvl_train", "rvl_val", "rvl_test", "rvl_subtrain", "rvl_subval"),
    "rvl_n": ("rvl_n_test",),
    "tobacco": ("tobacco_train", "tobacco_val", "tobacco_test"),
}

#: per classification dataset: the teacher's train / val splits, the students' (the RVL-CDIP_1k subset on
#: RVL-CDIP), and the evaluation splits by the name the run's metrics use
DIC_DATA: dict[str, dict[str, Any]] = {
    "rvl": {"teacher": ("rvl_train", "rvl_val"), "student": ("rvl_subtrain", "rvl_subval"),
            "eval": {"test": "rvl_test", "rvl_n": "rvl_n_test"}},
    "tobacco": {"teacher": ("tobacco_train", "tobacco_val"), "student": ("tobacco_train", "tobacco_val"),
                "eval": {"test": "tobacco_test"}},
}


def _exists(root: Path, path: str | None, name: str = "") -> bool:
    return bool(path) and (root / path / name).exists()


# ------------------------------------------------------------------------------------------------ classification


@dataclass(frozen=True)
class DicPlan:
    """Classification: decoded splits, teacher jobs, student jobs (one per dataset, teacher or ``none``,
    student, init, seed, training that job's methods) and their folders."""

    cfg: DicConfig
    res: str
    splits: dict[str, tuple[str, str, str]]  # split -> (label file, image root of its paths, images it needs)
    jobs: dict[JobKey, list[str]]
    subset_seed: int  # data.student_subset.seed: `dic.student_pages` N draws its pages with the same shuffle

    @classmethod
    def build(cls, dic: DicConfig, data: str, res: str, synthetic: bool, subset_seed: int) -> DicPlan:
        syn = f"{data}/synthetic"
        if synthetic:
            splits = {
                **{f"rvl_{s}": (f"{syn}/rvl/labels/{s}.txt", f"{syn}/rvl", f"{syn}/rvl/images/{s}")
                   for s in ("train", "val", "test")},
                "rvl_subtrain": (f"{data}/subsets/rvl_train.txt", f"{syn}/rvl", f"{syn}/rvl/images/train"),
                "rvl_subval": (f"{data}/subsets/rvl_val.txt", f"{syn}/rvl", f"{syn}/rvl/images/val"),
                "rvl_n_test": (f"{syn}/rvl_n/labels/test.txt", f"{syn}/rvl_n", f"{syn}/rvl_n/images/test"),
                **{f"tobacco_{s}": (f"{syn}/tobacco/labels/{s}.txt", f"{syn}/tobacco", f"{syn}/tobacco/images/{s}")
                   for s in ("train", "val", "test")},
            }
        else:
            raw = "data/raw"
            rvl_done, tob_done = f"{raw}/rvl_cdip/.complete", f"{raw}/tobacco3482/.complete"
            splits = {
                **{f"rvl_{s}": (f"{raw}/rvl_cdip/labels/{s}.txt", f"{raw}/rvl_cdip/images", rvl_done)
                   for s in ("train", "val", "test")},
                "rvl_subtrain": (f"{data}/subsets/rvl_train.txt", f"{raw}/rvl_cdip/images", rvl_done),
                "rvl_subval": (f"{data}/subsets/rvl_val.txt", f"{raw}/rvl_cdip/images", rvl_done),
                # images unpacked from the download by rule rvl_cdip_n_labels (label paths relative to that folder)
                "rvl_n_test": (f"{data}/labels/rvl_n_test.txt", f"{data}/rvl_cdip_n", f"{data}/rvl_cdip_n"),
                **{f"tobacco_{s}": (f"{data}/labels/tobacco_{s}.txt", f"{raw}/tobacco3482", tob_done)
                   for s in ("train", "val", "test")},
            }
        return cls(dic, f"{res}/dic", splits, dic.jobs(), subset_seed)

    @property
    def size(self) -> int:
        return self.cfg.img_size

    def tensor_path(self, split: str) -> str:
        return f"{self.res}/tensors/{split}_{self.size}.pt"

    def decode_inputs(self, group: str) -> dict[str, list[str]]:
        names = DECODE_GROUPS[group]
        return {"labels": [self.splits[n][0] for n in names],
                "images": sorted({self.splits[n][2] for n in names})}

    def decode_outputs(self, group: str) -> list[str]:
        return [self.tensor_path(n) for n in DECODE_GROUPS[group]]

    def decode_roots(self, group: str) -> list[str]:
        return [self.splits[n][1] for n in DECODE_GROUPS[group]]

    def _split_inputs(self, dataset: str, who: str) -> dict[str, str]:
        """The decoded train / val splits of `who` (``teacher`` or ``student``) and the evaluation splits."""
        d = DIC_DATA[dataset]
        return {"train": self.tensor_path(d[who][0]), "val": self.tensor_path(d[who][1]),
                **{f"eval_{k}": self.tensor_path(v) for k, v in d["eval"].items()}}

    def teacher_dir(self, dataset: str, teacher: str) -> str:
        return f"{self.res}/teachers/{dataset}/{teacher}"

    def teacher_inputs(self, dataset: str, teacher: str) -> dict[str, str]:
        """The decoded splits a teacher trains and is evaluated on; a Tobacco-3482 teacher that fine-tunes the
        RVL-CDIP one (`dic.tobacco_teacher_from_rvl`) also waits for it."""
        inp = self._split_inputs(dataset, "teacher")
        if dataset == "tobacco" and self.cfg.tobacco_teacher_from_rvl:
            inp["init_from"] = f"{self.teacher_dir('rvl', teacher)}/metrics.json"
        return inp

    def student_split_paths(self, dataset: str) -> list[str]:
        """The student splits a teacher caches its outputs on."""
        return [self.tensor_path(n) for n in DIC_DATA[dataset]["student"]]

    def full_pages(self, dataset: str, student: str, init: str) -> bool:
        """Whether a student job reads the teacher's splits (`dic.student_pages` ``full``, or N pages per class of
        them) rather than the student subset; a dataset whose students already train on the teacher's splits
        (Tobacco-3482) is unaffected."""
        d = DIC_DATA[dataset]
        return self.cfg.student_pages(student, init) != "subset" and d["student"] != d["teacher"]

    def subset_cache_path(self, dataset: str, teacher: str, part: str) -> str:
        """A teacher's cached outputs on the student subset's train / val split (`part`; rule dic_train_teacher)."""
        return f"{self.res}/cache/{dataset}/{teacher}_{part}.safetensors"

    def full_cache_path(self, dataset: str, teacher: str, part: str) -> str:
        """A teacher's cached outputs on its own train / val split (`part`), for the students that train on them
        (rule dic_teacher_cache_full)."""
        return f"{self.res}/cache/{dataset}/{teacher}_full_{part}.safetensors"

    def full_cache_inputs(self, dataset: str, teacher: str) -> dict[str, str]:
        """What rule dic_teacher_cache_full reads: the trained teacher and the splits its outputs are cached on."""
        train, val = DIC_DATA[dataset]["teacher"]
        return {"teacher": f"{self.teacher_dir(dataset, teacher)}/metrics.json", "train": self.tensor_path(train),
                "val": self.tensor_path(val)}

    def student_inputs(self, dataset: str, teacher: str, student: str, init: str) -> dict[str, str]:
        """A student job's splits and, when distilled, its teacher and the teacher's cached outputs on them: the
        student subset, or the teacher's splits where `dic.student_pages` says ``full``."""
        full = self.full_pages(dataset, student, init)
        inp = self._split_inputs(dataset, "teacher" if full else "student")
        if teacher != NO_TEACHER:
            inp["teacher"] = f"{self.teacher_dir(dataset, teacher)}/metrics.json"
            cache_path = self.full_cache_path if full else self.subset_cache_path
            for part in ("train", "val"):
                inp[f"cache_{part}"] = cache_path(dataset, teacher, part)
        return inp

    def student_methods(self, dataset: str, teacher: str, student: str, init: str, seed: int | str) -> list[str]:
        return self.jobs[(dataset, teacher, student, init, int(seed))]

    def pair_dir(self, dataset: str, teacher: str, student: str, init: str, seed: int) -> str:
        return f"{self.res}/runs/{dataset}/{teacher}__{student}__{init}__s{seed}"

    def pair_dirs(self) -> list[str]:
        return [self.pair_dir(*key) for key in self.jobs]

    def teachers(self) -> list[tuple[str, str]]:
        """(dataset, teacher) of every teacher job, once each however many grid blocks name it."""
        return self.cfg.teachers()

    def teacher_view(self, dataset: str, teacher: str) -> dict[str, Any]:
        """A teacher job's params (:meth:`distildoc.settings.DicConfig.teacher_view`)."""
        return self.cfg.teacher_view(dataset, teacher)

    def student_view(self, dataset: str, teacher: str, student: str, init: str, seed: int | str) -> dict[str, Any]:
        """A student job's params: what it reads of `dic` for the methods it trains, and ``student_pages`` when it
        trains on the teacher's splits: ``full``, or ``{per_class: N, seed: S}`` (N pages per class of the teacher's
        train split, drawn as the student subset is). Only then: the subset jobs' params, so their finished runs, stay
        as they were."""
        view = self.cfg.student_view(student, init, self.student_methods(dataset, teacher, student, init, seed))
        if self.full_pages(dataset, student, init):
            pages = self.cfg.student_pages(student, init)
            view["student_pages"] = pages if pages == "full" else {"per_class": pages, "seed": self.subset_seed}
        return view

    def teacher_metrics(self) -> list[str]:
        return [f"{self.teacher_dir(ds, t)}/metrics.json" for ds, t in self.teachers()]

    def classifier_runs(self) -> set[str]:
        """Every classifier this stage trains, relative to :attr:`res` (what `dla.vit_init` may name)."""
        return self.cfg.classifier_runs()


# ------------------------------------------------------------------------------------------------ layout


@dataclass(frozen=True)
class DlaPlan:
    """Layout: Table 3's models (and Table 13's on further datasets), their inputs, the real-page evaluation."""

    cfg: DlaConfig
    res: str
    dic_res: str
    synthetic: bool
    data_root: str
    datasets: tuple[str, ...]
    models: tuple[str, ...]
    vit_init: dict[str, str]
    publaynet: str | None
    publaynet_on: bool
    warnings: tuple[str, ...] = ()

    @classmethod
    def build(cls, dla: DlaConfig, data: str, res: str, synthetic: bool, dic: DicPlan, root: Path) -> DlaPlan:
        # ViT-FPN backbones initialised from a trained classifier of the dic stage: the DAG edge dic -> dla
        vit_init = dict(dla.vit_init)
        publaynet = dla.publaynet
        publaynet_on = _exists(root, publaynet, "samples.json")
        warnings = ()
        if publaynet and not publaynet_on:
            warnings = (f"dla.real_eval.publaynet: no {publaynet}/samples.json; the layout models are not scored "
                        "on real PubLayNet pages (dla_runs.csv has no mAP_publaynet)",)
        # the COCO files and page images the detectors train / evaluate on
        data_root = f"{data}/synthetic/rvl" if synthetic else "data/raw/doclaynet"
        return cls(dla, f"{res}/dla", dic.res, synthetic, data_root, dla.datasets, tuple(dla.model_names()), vit_init,
                   publaynet, publaynet_on, warnings)

    @property
    def extra(self) -> tuple[str, ...]:
        """Further layout datasets (real data: PRImA, Table 13), each trained under ``dla/<dataset>/``."""
        return self.datasets[1:]

    @property
    def predict_folders(self) -> dict[str, str]:
        """Page-image folders every layout model can be run over (rule dla_predict_folder), by name."""
        return dict(self.cfg.get("predict_folders", {}))

    @property
    def table_params(self) -> dict[str, Any]:
        """Table 3's caption names the dataset under real data (the embedded presets pass nothing)."""
        if self.synthetic:
            return {}
        return {"dataset": DLA_DATASET_INFO["doclaynet"]["label"],
                "extra": {d: DLA_DATASET_INFO[d] for d in self.extra}}

    @property
    def metrics_dir(self) -> str:
        """``results/<preset>/metrics``, where the run tables go."""
        return f"{Path(self.res).parent.as_posix()}/metrics"

    def extra_res(self, dataset: str) -> str:
        return f"{self.res}/{dataset}"

    def model_dir(self, model: str, dataset: str | None = None) -> str:
        return f"{self.extra_res(dataset) if dataset else self.res}/models/{model}"

    def job_config(self, role: str, method: str, dataset: str | None = None) -> dict[str, Any]:
        """The part of `dla` one training job depends on (`distildoc.train.dla.job_config`)."""
        from ..train.dla import job_config

        return job_config(self.cfg.as_dict(), role, method, dataset, dic_res=self.dic_res)

    def train_inputs(self, teacher: str, role: str, dataset: str | None = None) -> dict[str, str]:
        """A layout job's COCO files, its teacher's checkpoint when distilled, the classifier its ViT backbone
        starts from (`dla.vit_init`)."""
        res = self.extra_res(dataset) if dataset else self.res
        inp = {"train": f"{res}/data/train.json", "val": f"{res}/data/val.json"}
        if teacher != NO_TEACHER:
            inp["teacher"] = f"{res}/models/{NO_TEACHER}__{teacher}__supervised/model.pt"
        if role in self.vit_init:  # the classifier's weights (teacher) or its pair folder (student runs)
            inp["vit_init"] = f"{self.dic_res}/{dic_run_input(self.vit_init[role])[0]}"
        return inp

    def tables_extra(self, kind: str) -> dict[str, Any]:
        """Inputs (`metrics`, `efficiency`) or outputs (`outputs`) of dla_tables for the further layout datasets,
        keyed ``<name>_<dataset>``; empty in the embedded presets."""
        out: dict[str, Any] = {}
        for ds in self.extra:
            res = self.extra_res(ds)
            if kind == "metrics":
                out[f"metrics_{ds}"] = [f"{res}/models/{m}/metrics.json" for m in self.models]
            elif kind == "efficiency":
                out[f"efficiency_{ds}"] = f"{res}/efficiency.json"
            elif kind == "outputs":  # the table itself goes into dla_tables' tables/dla folder
                out[f"runs_csv_{ds}"] = f"{self.metrics_dir}/dla_{ds}_runs.csv"
                out[f"summary_{ds}"] = f"{self.metrics_dir}/dla_{ds}.json"
            else:
                raise ValueError(f"tables_extra: kind must be metrics, efficiency or outputs, got {kind!r}")
        return out

    @property
    def publaynet_res(self) -> str:
        return f"{self.res}/real_eval/publaynet"

    def publaynet_inputs(self, teacher: str, role: str, method: str) -> dict[str, str]:
        """One model's checkpoint and the PubLayNet folder with its ground truth; a ConfigError naming the key
        when the real-page evaluation is off."""
        if not self.publaynet_on:
            why = f"has no {self.publaynet}/samples.json" if self.publaynet else "is off (null)"
            raise ConfigError(f"dla_eval_publaynet: params.yaml dla.real_eval.publaynet ({self.publaynet!r}) {why}; "
                              "it must name a folder (relative to the repository) holding the PubLayNet page images "
                              "and samples.json, e.g. ../shared/realdata/publaynet")
        return {"model": f"{self.model_dir(f'{teacher}__{role}__{method}')}/model.pt",
                "gt": f"{self.publaynet}/samples.json", "folder": str(self.publaynet)}

    def publaynet_outputs(self) -> dict[str, list[str]]:
        """The per-model PubLayNet evaluations dla_tables reads, or none when the evaluation is off."""
        return {"publaynet": [f"{self.publaynet_res}/{m}.json" for m in self.models]} if self.publaynet_on else {}


# ------------------------------------------------------------------------------------------------ DocVQA

@dataclass(frozen=True)
class DocvqaPlan:
    """DocVQA: question sets, the layout models whose tags are tried, the grid's cells and their files."""

    cfg: DocvqaConfig
    res: str
    qa_root: str
    datasets: dict[str, DocvqaDataset]
    dla_models: tuple[str, ...]
    cells: tuple[tuple[str, str], ...]  # (prompt, dla model or "none"), in distildoc.docvqa.run.grid_cells order
    dla_res: str
    syn: str
    realfixture_on: bool = False

    @classmethod
    def build(cls, dv: DocvqaConfig, res: str, data: str, synthetic: bool, dla: DlaPlan,
              root: Path) -> DocvqaPlan:
        datasets = {d.name: d for d in dv.datasets}
        # `all` = Table 3's models (config_checks stops a name the layout stage does not train)
        models = (dla.models if dv.dla_models == "all" else tuple(dv.dla_models)) if dv.dla_prompts else ()
        cells = tuple((p, NO_TEACHER) for p in dv.prompts) + tuple((p, m) for m in models for p in dv.dla_prompts)
        return cls(dv, f"{res}/docvqa", f"{data}/synthetic/rvl" if synthetic else "data/raw/docvqa", datasets,
                   models, cells, dla.res, f"{data}/synthetic", _exists(root, dv.realfixture_path))

    @property
    def primary(self) -> str:
        """The first dataset: its questions come from docvqa_select, its layout predictions from the dla stage."""
        return next(iter(self.datasets))

    @property
    def extra(self) -> list[str]:
        return [n for n in self.datasets if n != self.primary]

    def run_view(self) -> dict[str, Any]:
        """The `docvqa` keys a grid / real-fixture job reads (:data:`distildoc.settings.DOCVQA_RUN_KEYS`)."""
        return self.cfg.run_view()

    def questions(self, dataset: str) -> str:
        return f"{self.res}/questions.json" if dataset == self.primary else f"{self.res}/{dataset}/questions.json"

    def dla_predictions(self, dataset: str, model: str) -> str:
        if dataset == self.primary:
            return f"{self.dla_res}/predictions/{model}.json"
        return f"{self.res}/{dataset}/dla/{model}.json"

    def ocr_input(self, dataset: str) -> str | list:
        """The OCR file a dataset's grid reads (synthetic ground truth or DUE jsonl); none for Tesseract."""
        d = self.datasets[dataset]
        if d.ocr_source == "synthetic":
            return d.ocr_path or f"{self.syn}/rvl/ocr/{self.cfg.qa_split}.jsonl"
        if d.ocr_source == "due":
            return d.ocr_path  # required (config_checks)
        return []  # tesseract: the page images named in the questions

    def cell_files(self, dataset: str, name: str) -> list[str]:
        return [f"{self.res}/{dataset}/runs/{m}/{p}/{name}" for p, m in self.cells]

    def all_cell_files(self, name: str) -> list[str]:
        return [f for ds in self.datasets for f in self.cell_files(ds, name)]

    @property
    def readers(self) -> tuple[str, ...]:
        """Table 16's further readers (`docvqa.extra_readers`), each one job on the first dataset."""
        return self.cfg.extra_readers

    def reader_dir(self, reader: str) -> str:
        return f"{self.res}/{self.primary}/readers/{reader}"

    def reader_files(self, reader: str, name: str) -> list[str]:
        """A further reader's cells: the no-layout prompts on the first dataset (``runs/none/<prompt>/<name>``)."""
        return [f"{self.reader_dir(reader)}/runs/{NO_TEACHER}/{p}/{name}" for p in self.cfg.prompts]

    def all_reader_files(self, name: str) -> list[str]:
        return [f for r in self.readers for f in self.reader_files(r, name)]

    def realfixture_inputs(self) -> dict[str, str]:
        """The real DocVQA fixture's questions and folder (and the layout model whose tags it gets); a ConfigError
        naming the key when the folder is missing."""
        folder = self.cfg.realfixture_path
        if not self.realfixture_on:
            raise ConfigError(f"docvqa_realfixture: the real DocVQA fixture folder {folder!r} (params.yaml "
                              "docvqa.realfixture.path, relative to the repository) does not exist; it holds "
                              "val_v1.0.json and the page images of ../shared/realdata/docvqa")
        inp = {"qa": f"{folder}/val_v1.0.json", "folder": folder}
        if self.cfg.realfixture_dla_model:
            inp["model"] = f"{self.dla_res}/models/{self.cfg.realfixture_dla_model}/model.pt"
        return inp


# ------------------------------------------------------------------------------------------------ the whole plan


@dataclass(frozen=True)
class Plan:
    """Everything the rules of one preset ask for. Build it with :func:`build_plan`."""

    cfg: Settings
    preset: str
    data: str
    res: str
    logs: str
    synthetic: bool
    dic: DicPlan
    dla: DlaPlan
    docvqa: DocvqaPlan

    @property
    def syn(self) -> str:
        return f"{self.data}/synthetic"

    def synthetic_splits(self) -> list[tuple[str, str]]:
        """(dataset, split) pairs the preset generates: RVL-CDIP-like pages always (the layout and DocVQA stages read
        them), RVL-CDIP-N-like and Tobacco-like pages only when `dic.datasets` classifies them."""
        sizes = self.cfg.data.raw["synthetic"]
        used = {"rvl": True, "rvl_n": "rvl" in self.cfg.dic.datasets, "tobacco": "tobacco" in self.cfg.dic.datasets}
        return [(ds, split) for ds in ("rvl", "rvl_n", "tobacco") if used[ds] for split in sizes[ds]]


def build_plan(settings: Settings, root: str | Path = ".") -> Plan:
    """The plan of a preset's checked `settings` (:func:`distildoc.settings.load_settings`), paths relative to the
    repository `root` (where the real-page fixture folders it names are looked up)."""
    root = Path(root)
    preset = settings.name
    data, res, logs = f"data/{preset}", f"results/{preset}", f"logs/{preset}"
    synthetic = settings.data.synthetic
    dic = DicPlan.build(settings.dic, data, res, synthetic, settings.data.raw["student_subset"]["seed"])
    dla = DlaPlan.build(settings.dla, data, res, synthetic, dic, root)
    if settings.real_teacher is not None and not dla.publaynet_on:
        raise ConfigError(f"real_teacher: dla.real_eval.publaynet ({dla.publaynet!r}) has no samples.json; it must "
                          "name a folder (relative to the repository) holding the PubLayNet page images and "
                          "samples.json, e.g. ../shared/realdata/publaynet")
    docvqa = DocvqaPlan.build(settings.docvqa, res, data, synthetic, dla, root)
    return Plan(settings, preset, data, res, logs, synthetic, dic, dla, docvqa)
