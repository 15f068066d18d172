"""Typed, frozen settings of one preset, built once when the Snakefile loads.

The layers, each with one job::

    params.yaml ──distildoc.config──▶ the selected preset, resolved (defaults + deltas) and schema-validated (a dict)
                ──Settings.from_dict──▶ typed, frozen objects (this module: DicConfig, DlaConfig, DocvqaConfig, ...)
                ──distildoc.config_checks──▶ every semantic check (how values fit together), one ConfigError
                ──distildoc.workflow.plan──▶ the DAG's paths, job grids and cells

:func:`load_settings` runs the first three. The objects are frozen (their fields cannot be reassigned, their
mappings are read-only views and their lists tuples), so every rule of a run reads the same settings. The fields
the planning and the checks use are typed; recipes, method hyper-parameters and reader options stay read-only
mappings here, and are typed where they are used (``TrainConfig``, ``DetectionTrainConfig``, the readers).

What a job reads travels as plain dicts (``DicConfig.teacher_view``, ``student_view``, ``DocvqaConfig.run_view``,
``as_dict``): Snakemake compares a rule's params by their ``repr``, so these return the validated values exactly as
``params.yaml`` wrote them, lists included. Torch-free, so the Snakefile loads fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .config import DEFAULT_SCHEMA, read_params, validate_config

NO_TEACHER = "none"


def freeze(value: Any) -> Any:
    """`value` made read-only, recursively: mappings become ``MappingProxyType`` views, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The plain dict / list form of a :func:`freeze` d value (as YAML loaded it)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class Section:
    """A preset section: its typed fields plus the validated section itself (`raw`, read-only)."""

    raw: Mapping[str, Any] = field(repr=False, compare=True)

    def as_dict(self) -> dict[str, Any]:
        """The section as ``params.yaml`` wrote it (after resolution), for rule params and provenance."""
        return thaw(self.raw)

    def get(self, key: str, default: Any = None) -> Any:
        """A key's read-only value (or `default`)."""
        return self.raw.get(key, default)

    def param(self, key: str) -> Any:
        """A key's value as ``params.yaml`` wrote it (plain dicts / lists), for a rule's params: Snakemake tracks
        params by their ``repr`` and skips values it cannot represent, such as read-only mapping views."""
        return thaw(self.raw[key])


# ------------------------------------------------------------------------------------------------ classification


@dataclass(frozen=True)
class GridBlock:
    """One ``dic.grid`` entry: a teacher distilled into students with methods (at the block's own inits and
    seeds, if set)."""

    teacher: str
    students: tuple[str, ...]
    methods: tuple[str, ...]
    inits: tuple[str, ...] | None = None
    seeds: Any = None  # as `dic.seeds`: one list, or a list per dataset (read-only form)

    @classmethod
    def from_dict(cls, block: Mapping[str, Any]) -> GridBlock:
        inits = block.get("inits")
        return cls(block["teacher"], tuple(block["students"]), tuple(block.get("methods", ())),
                   tuple(inits) if inits is not None else None, freeze(block.get("seeds")))


#: the `dic` keys every teacher job reads (besides its own recipe, overrides, hub weights and first seed)
TEACHER_KEYS = ("archs", "img_size", "cache_dtype", "eval_batch_size", "tobacco_teacher_from_rvl")
#: the `dic` keys every student job reads (besides its recipe, overrides and its methods' hyper-parameters)
STUDENT_KEYS = ("archs", "img_size", "cache_dtype", "eval_batch_size")

#: a student job: (dataset, teacher or ``none``, student, init, seed)
JobKey = tuple[str, str, str, str, int]


def dataset_seeds(seeds: Any, dataset: str) -> list[int]:
    """`dic.seeds` for `dataset`: one list for every dataset, or a list per dataset (e.g. ``{rvl: [0, 1, 2],
    tobacco: [0]}``). The first seed also seeds the dataset's teacher. Reads the plain and the frozen form alike."""
    return list(seeds if isinstance(seeds, (list, tuple)) else seeds[dataset])


@dataclass(frozen=True)
class DicConfig(Section):
    """`dic`: classification teachers and students (Tables 1-2, 5-12, 18-19)."""

    archs: str = ""
    img_size: int = 0
    datasets: tuple[str, ...] = ()
    tobacco_teacher_from_rvl: bool = False
    grid: tuple[GridBlock, ...] = ()
    methods: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_dict(cls, dic: Mapping[str, Any]) -> DicConfig:
        raw = freeze(dic)
        return cls(raw, dic.get("archs", ""), int(dic.get("img_size", 0)), tuple(dic.get("datasets", ())),
                   bool(dic.get("tobacco_teacher_from_rvl", False)),
                   tuple(GridBlock.from_dict(b) for b in dic.get("grid", ())), raw.get("methods", MappingProxyType({})))

    def seeds(self, dataset: str, block: GridBlock | None = None) -> list[int]:
        """The seeds of `dataset`'s student cells (:func:`dataset_seeds`). A grid block's own ``seeds`` (e.g.
        ``{teacher: ViT-B, students: [R50], methods: [ce_kd_ls], seeds: [0, 1, 2, 3, 4]}``: more seeds where a gain
        is small against the seed-to-seed spread) win for that block's cells; a per-dataset block mapping without
        `dataset` falls back to ``dic.seeds``."""
        if block is not None and block.seeds is not None:
            if isinstance(block.seeds, (list, tuple)) or dataset in block.seeds:
                return dataset_seeds(block.seeds, dataset)
        return dataset_seeds(self.raw["seeds"], dataset)

    def inits(self, student: str, block: GridBlock | None = None) -> list[str]:
        """`dic.inits`: one list for every student role, or a list per student role. A grid block's own ``inits``
        (e.g. ``{teacher: R101, students: [R50], inits: [random], methods: [ce_kd, mse]}``) wins for that block's
        students, so a cell can run fewer methods at one init than at another."""
        if block is not None and block.inits is not None:
            return list(block.inits)
        inits = self.raw["inits"]
        return list(inits if isinstance(inits, tuple) else inits[student])

    def student_pages(self, student: str, init: str) -> str | int:
        """`dic.student_pages`: ``subset`` (the student subset, the paper's RVL-CDIP_1k protocol; the default), ``full``
        (the teacher's train / val splits) or N (N pages per class of the teacher's train split, chosen as the student
        subset is: :func:`distildoc.data.tensors.per_class_rows`; the teacher's val split) for `student` at `init`;
        ``<student>/<init>`` wins over ``<student>``."""
        pages = self.raw.get("student_pages", {})
        value = pages.get(f"{student}/{init}", pages.get(student, "subset"))
        return value if isinstance(value, int) else str(value)

    def jobs(self) -> dict[JobKey, list[str]]:
        """The student jobs: (dataset, teacher or ``'none'``, student, init, seed) -> the methods that job trains, in
        grid order. ``'none'`` is the supervised ``ce`` student, one per (dataset, student, init, seed) that any grid
        block distils into (so the baseline has every seed of every block that compares against it)."""
        jobs: dict[JobKey, list[str]] = {}
        for ds in self.datasets:
            for block in self.grid:
                for st in block.students:
                    for init in self.inits(st, block):
                        for seed in self.seeds(ds, block):
                            methods = jobs.setdefault((ds, block.teacher, st, init, seed), [])
                            methods.extend(m for m in block.methods if m not in methods)
                            jobs[(ds, NO_TEACHER, st, init, seed)] = ["ce"]
        return jobs

    def teachers(self) -> list[tuple[str, str]]:
        """(dataset, teacher) of every teacher job, once each however many grid blocks name it."""
        return list(dict.fromkeys((ds, b.teacher) for ds in self.datasets for b in self.grid))

    def teacher_view(self, dataset: str, role: str) -> dict[str, Any]:
        """The part of `dic` one teacher job (`dataset`, `role`) reads: :data:`TEACHER_KEYS`, the ``teacher`` and
        ``teacher_finetune`` recipes, this role's ``teacher_overrides`` and published ``teacher_weights``, and the
        dataset's first seed. The teacher rule takes this as its params, so Snakemake re-trains a teacher only when
        its own settings change, not when a student recipe, another teacher or the grid does."""
        dic = self.raw  # read-only; each value taken is thawed (one job's part, not the whole section)
        view: dict[str, Any] = {k: thaw(dic[k]) for k in TEACHER_KEYS if k in dic}
        view["teacher"] = thaw(dic["teacher"])
        view["teacher_finetune"] = thaw(dic["teacher_finetune"])
        override = dic.get("teacher_overrides", {}).get(role)
        if override:
            view["teacher_overrides"] = {role: thaw(override)}
        hub = dic.get("teacher_weights", {}).get(dataset, {})
        if role in hub:
            view["teacher_weights"] = {dataset: {role: thaw(hub[role])}}
        view["seeds"] = {dataset: self.seeds(dataset)[:1]}
        return view

    def student_view(self, student: str, init: str, methods: list[str]) -> dict[str, Any]:
        """The part of `dic` one student job reads (:data:`STUDENT_KEYS`, the ``student`` recipe, this role's and
        role/init's ``student_overrides``, the ``batch_size_overrides`` of this role and its methods, and the
        hyper-parameters of the job's `methods`), as :meth:`teacher_view` for teachers: a teacher recipe, another
        student's recipe or method, or a new grid cell re-runs no finished student job."""
        dic = self.raw  # read-only; each value taken is thawed
        view: dict[str, Any] = {k: thaw(dic[k]) for k in STUDENT_KEYS if k in dic}
        view["student"] = thaw(dic["student"])
        over = dic.get("student_overrides", {})
        view["student_overrides"] = {k: thaw(over[k]) for k in (student, f"{student}/{init}") if k in over}
        bs = dic.get("batch_size_overrides", {})
        view["batch_size_overrides"] = {k: thaw(bs[k]) for k in (student, *(f"{student}/{m}" for m in methods))
                                        if k in bs}
        view["methods"] = {m: thaw(dic["methods"].get(m, {})) for m in methods}
        return view

    def classifier_runs(self) -> set[str]:
        """Every classifier this stage trains, relative to ``results/<preset>/dic`` (what `dla.vit_init` may name)."""
        return ({f"teachers/{ds}/{t}" for ds, t in self.teachers()}
                | {f"runs/{ds}/{t}__{st}__{init}__s{seed}/{m}"
                   for (ds, t, st, init, seed), methods in self.jobs().items() for m in methods})


# ------------------------------------------------------------------------------------------------ layout

#: the layout datasets a real-data preset may train on (`dla.datasets`, DocLayNet first): the table each one fills
DLA_DATASET_INFO: dict[str, dict[str, str]] = {
    "doclaynet": {"table": "table3", "label": "DocLayNet core"},
    "prima": {"table": "table13", "label": "PRImA (seeded 80/20 page split, held-out 20 %)"},
}


def dic_run_input(dic_run: str) -> tuple[str, str]:
    """Where a classification run named in `dla.vit_init` comes from, relative to ``results/<preset>/dic``:
    ``(the dic rule output a DLA job takes as input, the run folder train_dla loads)``.

    ``teachers/<dataset>/<role>`` → (``teachers/<dataset>/<role>/model.safetensors``, the folder itself);
    ``runs/<dataset>/<teacher>__<student>__<init>__s<seed>/<method>`` → (the pair folder ``runs/<dataset>/<pair>``,
    a directory output of dic_train_students, the run folder). Anything else raises ValueError naming it."""
    parts = [p for p in str(dic_run).strip("/").split("/") if p]
    if len(parts) == 3 and parts[0] == "teachers":
        return "/".join(parts + ["model.safetensors"]), "/".join(parts)
    if len(parts) == 4 and parts[0] == "runs" and parts[2].count("__") == 3:
        return "/".join(parts[:3]), "/".join(parts)
    raise ValueError(f"dla.vit_init: {dic_run!r} is no classification run; expected teachers/<dataset>/<role> or "
                     "runs/<dataset>/<teacher>__<student>__<init>__s<seed>/<method> (relative to results/<preset>/dic)")



@dataclass(frozen=True)
class DistillBlock:
    """One ``dla.distill`` entry: a layout teacher distilled into a student role with methods."""

    teacher: str
    student: str
    methods: tuple[str, ...]


@dataclass(frozen=True)
class DlaConfig(Section):
    """`dla`: layout teachers, students and distillation pairs (Tables 3, 13)."""

    detectors: str = ""
    datasets: tuple[str, ...] = ("doclaynet",)
    teachers: tuple[str, ...] = ()
    students: tuple[str, ...] = ()
    distill: tuple[DistillBlock, ...] = ()
    vit_init: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    publaynet: str | None = None

    @classmethod
    def from_dict(cls, dla: Mapping[str, Any]) -> DlaConfig:
        raw = freeze(dla)
        return cls(raw, dla.get("detectors", ""), tuple(dla.get("datasets", ["doclaynet"])),
                   tuple(dla.get("teachers", ())), tuple(dla.get("students", ())),
                   tuple(DistillBlock(b["teacher"], b["student"], tuple(b.get("methods", ())))
                         for b in dla.get("distill", ())),
                   MappingProxyType({r: v for r, v in (dla.get("vit_init") or {}).items() if v}),
                   (dla.get("real_eval") or {}).get("publaynet"))

    @property
    def datasets_given(self) -> bool:
        """Whether the preset names `dla.datasets` (only real-data presets may)."""
        return "datasets" in self.raw

    def model_names(self) -> list[str]:
        """Model folder names ``<teacher or none>__<role>__<method>`` of the layout stage (Table 3's rows), in order:
        the supervised teachers and students, then each distillation pair's methods."""
        names = [f"{NO_TEACHER}__{r}__supervised" for r in self.teachers + self.students]
        for block in self.distill:
            names += [f"{block.teacher}__{block.student}__{m}" for m in block.methods]
        return names


# ------------------------------------------------------------------------------------------------ DocVQA


@dataclass(frozen=True)
class DocvqaDataset(Section):
    """One ``docvqa.datasets`` entry: a question set, the table it fills, its OCR source (and path); a real set
    may name its questions file and image folder inside its download (``qa_json``, ``images_root``)."""

    name: str = ""
    table: str = ""
    label: str = ""
    ocr_source: str = ""
    ocr_path: str | None = None
    qa_json: str | None = None
    images_root: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DocvqaDataset:
        return cls(freeze(d), d["name"], d.get("table", ""), d.get("label", ""), d["ocr"]["source"],
                   d["ocr"].get("path"), d.get("qa_json"), d.get("images_root"))


#: the `docvqa` keys a grid / real-fixture job reads (the reader and how prompts are built and scored): a change
#: of the question count, the datasets or the tables' choices re-runs no reader
DOCVQA_RUN_KEYS = ("prompts", "dla_prompts", "reader", "max_new_tokens", "batch_size", "use_chat_template",
                   "max_context", "truncation", "reuse_identical_prompts", "anls_threshold", "skip_failed",
                   "dla_score_threshold", "dla_ignore_labels", "explain_tags")


@dataclass(frozen=True)
class DocvqaConfig(Section):
    """`docvqa`: the zero-shot layout-aware DocVQA grid (Tables 4, 16, 17) and the real-page fixture."""

    qa_split: str = ""
    datasets: tuple[DocvqaDataset, ...] = ()
    prompts: tuple[str, ...] = ()
    dla_prompts: tuple[str, ...] = ()
    dla_models: str | tuple[str, ...] = "all"
    table4_dla_model: str | None = None
    realfixture_path: str | None = None
    realfixture_dla_model: str | None = None
    extra_readers: tuple[str, ...] = ()  # names of Table 16's further readers (`docvqa.extra_readers`)

    @classmethod
    def from_dict(cls, dv: Mapping[str, Any]) -> DocvqaConfig:
        models = dv.get("dla_models", "all")
        fixture = dv.get("realfixture") or {}
        return cls(freeze(dv), dv.get("qa_split", ""),
                   tuple(DocvqaDataset.from_dict(d) for d in dv.get("datasets", ())),
                   tuple(dv.get("prompts", ())), tuple(dv.get("dla_prompts", ())),
                   models if isinstance(models, str) else tuple(models), dv.get("table4_dla_model"),
                   fixture.get("path"), fixture.get("dla_model"),
                   tuple(r["name"] for r in dv.get("extra_readers", ())))

    def run_view(self) -> dict[str, Any]:
        """The `docvqa` keys a grid / real-fixture job reads (:data:`DOCVQA_RUN_KEYS`)."""
        return {k: thaw(self.raw[k]) for k in DOCVQA_RUN_KEYS}

    def reader_view(self, name: str) -> dict[str, Any]:
        """What the job of further reader `name` reads: :meth:`run_view` with that reader (its backend and options)
        and no layout prompts (Table 16's reader dimension compares readers on the no-layout prompts)."""
        entry = next((r for r in self.raw.get("extra_readers", ()) if r["name"] == name), None)
        if entry is None:
            raise KeyError(f"docvqa.extra_readers: no reader named {name!r}; have {', '.join(self.extra_readers)}")
        return {**self.run_view(), "reader": {"backend": entry["backend"], "options": thaw(entry["options"])},
                "dla_prompts": []}


# ------------------------------------------------------------------------------------------------ the rest


@dataclass(frozen=True)
class RealTeacherConfig(Section):
    """`real_teacher` (opt-in): a real DocLayNet detector pseudo-labels pages for a student role."""

    teacher: str = ""
    reference: str | None = None
    student: str = ""
    baseline: bool = True
    folders: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_dict(cls, rt: Mapping[str, Any]) -> RealTeacherConfig:
        raw = freeze(rt)
        return cls(raw, rt["teacher"], rt.get("reference"), rt["student"], bool(rt.get("baseline", True)),
                   raw.get("folders", MappingProxyType({})))

    @property
    def baseline_model(self) -> str:
        """The layout stage's supervised model of the student's role (synthetic ground truth), a comparison row."""
        return f"{NO_TEACHER}__{self.student}__supervised"


@dataclass(frozen=True)
class DataConfig(Section):
    """`data`: the synthetic benchmark's sizes or the real datasets to download, and the student subset."""

    source: str = "synthetic"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataConfig:
        return cls(freeze(data), data.get("source", "synthetic"))

    @property
    def synthetic(self) -> bool:
        return self.source == "synthetic"


@dataclass(frozen=True)
class Settings:
    """One preset, validated, typed and frozen: build it with :func:`load_settings` (or :meth:`from_dict` on a
    validated section, then :func:`distildoc.config_checks.check_settings`)."""

    name: str
    seed: int
    gpus: int
    data: DataConfig
    dic: DicConfig | None
    dla: DlaConfig | None
    docvqa: DocvqaConfig | None
    real_teacher: RealTeacherConfig | None
    export: Mapping[str, Any] | None
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> Settings:
        """Typed settings of a validated preset section (:func:`distildoc.config.validate_config`'s result)."""
        def section(key: str, kind: Any) -> Any:
            return kind.from_dict(cfg[key]) if cfg.get(key) is not None else None

        return cls(cfg.get("name", "?"), int(cfg.get("seed", 0)), int((cfg.get("device") or {}).get("gpus", 0)),
                   DataConfig.from_dict(cfg.get("data") or {}), section("dic", DicConfig), section("dla", DlaConfig),
                   section("docvqa", DocvqaConfig), section("real_teacher", RealTeacherConfig),
                   freeze(cfg["export"]) if cfg.get("export") is not None else None, freeze(cfg))

    def as_dict(self) -> dict[str, Any]:
        return thaw(self.raw)


def load_settings(config: Mapping[str, Any] | str | Path, preset: str | None = None,
                  schema_path: str | Path = DEFAULT_SCHEMA) -> Settings:
    """The checked settings of a preset: `config` is the ``params.yaml`` mapping (as Snakemake's ``config``) or its
    path; `preset` overrides its ``preset``. Schema, typed construction, then every semantic check
    (:mod:`distildoc.config_checks`); raises ConfigError naming each offending key."""
    from .config_checks import check_settings

    mapping = read_params(config) if isinstance(config, (str, Path)) else dict(config)
    if preset is not None:
        mapping["preset"] = preset
    return check_settings(Settings.from_dict(validate_config(mapping, schema_path)))
