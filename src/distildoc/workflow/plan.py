"""The plan of a preset's DAG: every path, job grid and cell, computed from its validated configuration.

The Snakemake files (``workflow/rules/*.smk``) hold rules; what they ask for (which splits are decoded, which
teacher and student jobs run, which layout models train, which DocVQA cells are answered) and where each file
lives come from here. :func:`build_plan` is a pure function of the preset (plus two existence checks of the
real-page fixtures it names, which decide whether their rules join ``all``), so the plan is tested without
Snakemake (``tests/test_plan.py``) and a semantic error of the configuration is a :class:`ConfigError` naming
its key before any job runs.

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

from ..config import ConfigError, dic_jobs
from ..config_checks import dla_model_names

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

#: the layout datasets a real-data preset may train on (`dla.datasets`): the table each one fills
DLA_DATASET_INFO: dict[str, dict[str, str]] = {
    "doclaynet": {"table": "table3", "label": "DocLayNet core"},
    "prima": {"table": "table13", "label": "PRImA (seeded 80/20 page split, held-out 20 %)"},
}

NO_TEACHER = "none"


def _exists(root: Path, path: str | None, name: str = "") -> bool:
    return bool(path) and (root / path / name).exists()


# ------------------------------------------------------------------------------------------------ classification


@dataclass(frozen=True)
class DicPlan:
    """Classification: decoded splits, teacher jobs, student jobs (one per dataset, teacher or ``none``,
    student, init, seed, training that job's methods) and their folders."""

    cfg: dict[str, Any]
    res: str
    splits: dict[str, tuple[str, str, str]]  # split -> (label file, image root of its paths, images it needs)
    jobs: dict[tuple[str, str, str, str, int], list[str]]

    @classmethod
    def build(cls, cfg: dict[str, Any], data: str, res: str, synthetic: bool) -> DicPlan:
        dic = cfg["dic"]
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
        return cls(dic, f"{res}/dic", splits, dic_jobs(dic))

    @property
    def size(self) -> int:
        return self.cfg["img_size"]

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
        if dataset == "tobacco" and self.cfg["tobacco_teacher_from_rvl"]:
            inp["init_from"] = f"{self.teacher_dir('rvl', teacher)}/metrics.json"
        return inp

    def student_split_paths(self, dataset: str) -> list[str]:
        """The student splits a teacher caches its outputs on."""
        return [self.tensor_path(n) for n in DIC_DATA[dataset]["student"]]

    def student_inputs(self, dataset: str, teacher: str) -> dict[str, str]:
        """A student job's splits and, when distilled, its teacher and the teacher's cached outputs."""
        inp = self._split_inputs(dataset, "student")
        if teacher != NO_TEACHER:
            inp["teacher"] = f"{self.teacher_dir(dataset, teacher)}/metrics.json"
            inp["cache_train"] = f"{self.res}/cache/{dataset}/{teacher}_train.safetensors"
            inp["cache_val"] = f"{self.res}/cache/{dataset}/{teacher}_val.safetensors"
        return inp

    def student_methods(self, dataset: str, teacher: str, student: str, init: str, seed: int | str) -> list[str]:
        return self.jobs[(dataset, teacher, student, init, int(seed))]

    def pair_dir(self, dataset: str, teacher: str, student: str, init: str, seed: int) -> str:
        return f"{self.res}/runs/{dataset}/{teacher}__{student}__{init}__s{seed}"

    def pair_dirs(self) -> list[str]:
        return [self.pair_dir(*key) for key in self.jobs]

    def teachers(self) -> list[tuple[str, str]]:
        """(dataset, teacher) of every teacher job, once each however many grid blocks name it."""
        return list(dict.fromkeys((ds, b["teacher"]) for ds in self.cfg["datasets"] for b in self.cfg["grid"]))

    def teacher_metrics(self) -> list[str]:
        return [f"{self.teacher_dir(ds, t)}/metrics.json" for ds, t in self.teachers()]

    def classifier_runs(self) -> set[str]:
        """Every classifier this stage trains, relative to :attr:`res` (what `dla.vit_init` may name)."""
        return ({f"teachers/{ds}/{t}" for ds, t in self.teachers()}
                | {f"runs/{ds}/{t}__{st}__{init}__s{seed}/{m}"
                   for (ds, t, st, init, seed), methods in self.jobs.items() for m in methods})


# ------------------------------------------------------------------------------------------------ layout


@dataclass(frozen=True)
class DlaPlan:
    """Layout: Table 3's models (and Table 13's on further datasets), their inputs, the real-page evaluation."""

    cfg: dict[str, Any]
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
    def build(cls, cfg: dict[str, Any], data: str, res: str, synthetic: bool, dic: DicPlan, root: Path) -> DlaPlan:
        from ..train.dla import check_vit_init  # imports torch (the detector registry)

        dla = cfg["dla"]
        datasets = tuple(dla.get("datasets", ["doclaynet"]))
        if "datasets" in dla and (synthetic or datasets[0] != "doclaynet" or len(set(datasets)) != len(datasets)):
            raise ConfigError(f"dla.datasets: {list(datasets)} -- only for real data, starting with doclaynet "
                              "(Table 3), each dataset once")
        unknown = [d for d in datasets if d not in DLA_DATASET_INFO]
        if unknown:
            raise ConfigError(f"dla.datasets: unknown {unknown}; known: {', '.join(DLA_DATASET_INFO)}")
        # ViT-FPN backbones initialised from a trained classifier of the dic stage: the DAG edge dic -> dla
        vit_init = {r: v for r, v in (dla.get("vit_init") or {}).items() if v}
        try:
            check_vit_init(vit_init, dic.classifier_runs())
        except ValueError as err:
            raise ConfigError(str(err)) from None
        publaynet = (dla.get("real_eval") or {}).get("publaynet")
        publaynet_on = _exists(root, publaynet, "samples.json")
        warnings = ()
        if publaynet and not publaynet_on:
            warnings = (f"dla.real_eval.publaynet: no {publaynet}/samples.json; the layout models are not scored "
                        "on real PubLayNet pages (dla_runs.csv has no mAP_publaynet)",)
        # the COCO files and page images the detectors train / evaluate on
        data_root = f"{data}/synthetic/rvl" if synthetic else "data/raw/doclaynet"
        return cls(dla, f"{res}/dla", dic.res, synthetic, data_root, datasets, tuple(dla_model_names(dla)), vit_init,
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

        return job_config(self.cfg, role, method, dataset, dic_res=self.dic_res)

    def train_inputs(self, teacher: str, role: str, dataset: str | None = None) -> dict[str, str]:
        """A layout job's COCO files, its teacher's checkpoint when distilled, the classifier its ViT backbone
        starts from (`dla.vit_init`)."""
        from ..train.dla import dic_run_input

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

#: the `docvqa` keys a grid / real-fixture job reads (the reader and how prompts are built and scored): a change
#: of the question count, the datasets or the tables' choices re-runs no reader
DOCVQA_RUN_KEYS = ("prompts", "dla_prompts", "reader", "max_new_tokens", "batch_size", "use_chat_template",
                   "max_context", "truncation", "reuse_identical_prompts", "anls_threshold", "skip_failed",
                   "dla_score_threshold", "dla_ignore_labels", "explain_tags")


@dataclass(frozen=True)
class DocvqaPlan:
    """DocVQA: question sets, the layout models whose tags are tried, the grid's cells and their files."""

    cfg: dict[str, Any]
    res: str
    qa_root: str
    datasets: dict[str, dict[str, Any]]
    dla_models: tuple[str, ...]
    cells: tuple[tuple[str, str], ...]  # (prompt, dla model or "none"), in distildoc.docvqa.run.grid_cells order
    dla_res: str
    syn: str
    realfixture_on: bool = False

    @classmethod
    def build(cls, cfg: dict[str, Any], res: str, data: str, synthetic: bool, dla: DlaPlan,
              root: Path) -> DocvqaPlan:
        dv = cfg["docvqa"]
        datasets = {d["name"]: d for d in dv["datasets"]}
        # `all` = Table 3's models; a name the layout stage does not train is stopped by config_checks
        models = (dla.models if dv["dla_models"] == "all" else tuple(dv["dla_models"])) if dv["dla_prompts"] else ()
        if models and dv["table4_dla_model"] not in models:
            raise ConfigError(f"docvqa.table4_dla_model: {dv['table4_dla_model']!r} is not among docvqa.dla_models "
                              f"({', '.join(models)})")
        cells = tuple((p, NO_TEACHER) for p in dv["prompts"]) + tuple((p, m) for m in models for p in dv["dla_prompts"])
        return cls(dv, f"{res}/docvqa", f"{data}/synthetic/rvl" if synthetic else "data/raw/docvqa", datasets,
                   models, cells, dla.res, f"{data}/synthetic",
                   _exists(root, dv["realfixture"]["path"]))

    @property
    def primary(self) -> str:
        """The first dataset: its questions come from docvqa_select, its layout predictions from the dla stage."""
        return next(iter(self.datasets))

    @property
    def extra(self) -> list[str]:
        return [n for n in self.datasets if n != self.primary]

    @property
    def realfixture(self) -> dict[str, Any]:
        return self.cfg["realfixture"]

    def run_view(self) -> dict[str, Any]:
        """The `docvqa` keys a grid / real-fixture job reads (:data:`DOCVQA_RUN_KEYS`)."""
        return {k: self.cfg[k] for k in DOCVQA_RUN_KEYS}

    def questions(self, dataset: str) -> str:
        return f"{self.res}/questions.json" if dataset == self.primary else f"{self.res}/{dataset}/questions.json"

    def dla_predictions(self, dataset: str, model: str) -> str:
        if dataset == self.primary:
            return f"{self.dla_res}/predictions/{model}.json"
        return f"{self.res}/{dataset}/dla/{model}.json"

    def ocr_input(self, dataset: str) -> str | list:
        """The OCR file a dataset's grid reads (synthetic ground truth or DUE jsonl); none for Tesseract."""
        ocr = self.datasets[dataset]["ocr"]
        if ocr["source"] == "synthetic":
            return ocr.get("path") or f"{self.syn}/rvl/ocr/{self.cfg['qa_split']}.jsonl"
        if ocr["source"] == "due":
            if not ocr.get("path"):
                raise ConfigError(f"docvqa.datasets[{dataset}].ocr.path: a DUE source needs its jsonl path")
            return ocr["path"]
        return []  # tesseract: the page images named in the questions

    def cell_files(self, dataset: str, name: str) -> list[str]:
        return [f"{self.res}/{dataset}/runs/{m}/{p}/{name}" for p, m in self.cells]

    def all_cell_files(self, name: str) -> list[str]:
        return [f for ds in self.datasets for f in self.cell_files(ds, name)]

    def realfixture_inputs(self) -> dict[str, str]:
        """The real DocVQA fixture's questions and folder (and the layout model whose tags it gets); a ConfigError
        naming the key when the folder is missing."""
        folder = self.realfixture["path"]
        if not self.realfixture_on:
            raise ConfigError(f"docvqa_realfixture: the real DocVQA fixture folder {folder!r} (params.yaml "
                              "docvqa.realfixture.path, relative to the repository) does not exist; it holds "
                              "val_v1.0.json and the page images of ../shared/realdata/docvqa")
        inp = {"qa": f"{folder}/val_v1.0.json", "folder": folder}
        if self.realfixture["dla_model"]:
            inp["model"] = f"{self.dla_res}/models/{self.realfixture['dla_model']}/model.pt"
        return inp


# ------------------------------------------------------------------------------------------------ the whole plan


@dataclass(frozen=True)
class Plan:
    """Everything the rules of one preset ask for. Build it with :func:`build_plan`."""

    cfg: dict[str, Any]
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
        """(dataset, split) pairs the preset generates."""
        sizes = self.cfg["data"]["synthetic"]
        return [(ds, split) for ds in ("rvl", "rvl_n", "tobacco") for split in sizes[ds]]


def build_plan(cfg: dict[str, Any], root: str | Path = ".") -> Plan:
    """The plan of the validated preset `cfg` (`distildoc.config.validate_config` + `config_checks`), paths relative
    to the repository `root` (where the real-page fixture folders it names are looked up). Raises ConfigError
    naming the key of a setting the DAG cannot honour."""
    root = Path(root)
    preset = cfg["name"]
    data, res, logs = f"data/{preset}", f"results/{preset}", f"logs/{preset}"
    synthetic = cfg["data"]["source"] == "synthetic"
    dic = DicPlan.build(cfg, data, res, synthetic)
    dla = DlaPlan.build(cfg, data, res, synthetic, dic, root)
    docvqa = DocvqaPlan.build(cfg, res, data, synthetic, dla, root)
    return Plan(cfg, preset, data, res, logs, synthetic, dic, dla, docvqa)
