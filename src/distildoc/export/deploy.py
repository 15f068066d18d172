"""The deployment table: images/s of every exported teacher and student as PyTorch fp32, ONNX fp32 and ONNX
int8, next to its accuracy (or mAP), the fraction of its teacher's it keeps and its speed-up over the teacher.

Used by the Snakemake job ``export_deploy`` (``snakemake --cores 2 export``; docs/deploy.md):

* :func:`measure_deploy` times the models **in rounds** (:func:`throughput_in_rounds`): in each round every model
  and variant in turn runs a block of ``iters`` batches after ``warmup`` untimed ones, the order rotated each
  round, and the **median** round is reported. All run with ``threads`` intra-op threads: 1 by default, the
  per-core throughput. Models taking turns call by call at 2 threads (the scheme until Dec 8 2026) slowed each
  other down: a session's worker threads keep spinning after its call on the cores the next model needs, which
  halved the small models' images/s (benchmarks/deploy_threads.py, docs/deploy.md "Timing threads"). To bound
  memory, the models are timed in groups, one teacher with the students compared against it (a group is loaded,
  timed at every batch size, and released before the next): speed-ups are always between models timed side by
  side.
* :func:`model_record` reads what an export folder says about a model's quality: per variant the test accuracy
  of ``parity.json`` (classifiers), or the PyTorch model's bbox mAP (detectors: the ONNX graph is not
  re-evaluated, see its parity.json).
* :func:`deploy_table` joins them into one row per model and variant (pure: the tests feed it hand-made
  records), :func:`deploy_caption` says how it was measured and where the issue's targets do *not* hold.

Targets (issue 16): a classification student **keeps_95pct_at_3x** when its accuracy is at least 0.95 × its
teacher's (PyTorch fp32) accuracy *and* its throughput at batch 32 (the largest batch timed) is at least 3 × the
teacher's ONNX-int8 throughput at that batch; a layout student is **faster_1p5x** when an exported form runs at
least 1.5 × as fast as the teacher's same form (batch 1). Both are per row (variant); a model meets a target
when one of its rows does.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..settings import DicConfig, DlaConfig
from ..utils.io import read_json

log = logging.getLogger(__name__)

#: the preset's ``export`` section, key by key, when absent (workflow/schemas/config.schema.yaml)
EXPORT_DEFAULTS: dict[str, Any] = {
    "int8": True,           # write model.int8.onnx (onnxruntime quantisation, "auto" mode) for classifiers
    "parity_pages": 2000,   # test pages the parity check and the per-variant accuracy run on (null: all)
    "batch_sizes": [1, 32],  # classifiers are timed at each; detectors take one page at a time (batch 1)
    "pages": 64,            # test / evaluation pages the timing cycles through
    "warmup": 1,            # untimed calls before each block of timed ones (a model and variant in a round)
    "iters": 5,             # timed calls (batches) in a row per model, variant and round
    "rounds": 3,            # the median round is reported
    # intra-op threads of torch and onnxruntime while timing: 1, the per-core throughput. With 2, the worker threads
    # of the model that just ran keep spinning (onnxruntime's pool, torch's OpenMP) on the cores the next one needs
    # (benchmarks/deploy_threads.py, docs/deploy.md "Timing threads")
    "threads": 1,
}
VARIANTS = ("torch_fp32", "onnx_fp32", "onnx_int8")
VARIANT_LABELS = {"torch_fp32": "PyTorch fp32", "onnx_fp32": "ONNX fp32", "onnx_int8": "ONNX int8"}
#: the issue's targets
KEEP_FRACTION, KEEP_SPEEDUP, LAYOUT_SPEEDUP = 0.95, 3.0, 1.5


def export_settings(section: Mapping[str, Any] | None) -> dict[str, Any]:
    """A preset's ``export`` section with the defaults filled in."""
    unknown = set(section or {}) - set(EXPORT_DEFAULTS)
    if unknown:
        raise ValueError(f"export: unknown key(s) {sorted(unknown)}; allowed: {sorted(EXPORT_DEFAULTS)}")
    cfg = {**EXPORT_DEFAULTS, **dict(section or {})}
    if not isinstance(cfg["threads"], int) or isinstance(cfg["threads"], bool) or cfg["threads"] < 1:
        raise ValueError(f"export.threads: a whole number >= 1 expected, got {cfg['threads']!r}")
    return cfg


# ------------------------------------------------------------------------------------------------ what is exported


def export_files(folder: str, int8: bool) -> dict[str, str]:
    """The named files of one export folder (the export rules' outputs)."""
    out = {"model": f"{folder}/model.onnx", "parity": f"{folder}/parity.json", "config": f"{folder}/config.json",
           "card": f"{folder}/README.md"}
    if int8:
        out["int8"] = f"{folder}/model.int8.onnx"
    return out


def dic_export_runs(dic: DicConfig) -> list[dict[str, Any]]:
    """The classification runs a preset exports: every teacher (``teachers/<dataset>/<teacher>``) and every
    student method run of the dataset's first seed (``runs/<dataset>/<teacher>__<student>__<init>__s<seed>/
    <method>``: run ids are paths under ``results/<preset>/dic``), each with ``dataset``, ``role``, ``method``
    and ``teacher`` (the run id of the teacher it is compared with: its own for a distilled student; for a
    supervised student the one teacher distilling into the same student, init and seed, if exactly one)."""
    jobs = dic.jobs()
    out = [{"id": f"teachers/{ds}/{t}", "dataset": ds, "role": "teacher", "method": "supervised", "teacher": None}
           for ds, t in dic.teachers()]
    for (ds, t, st, init, seed), methods in jobs.items():
        if seed != dic.seeds(ds)[0]:
            continue
        refs = {tt for (d, tt, s, i, sd) in jobs if (d, s, i, sd) == (ds, st, init, seed) and tt != "none"}
        teacher = t if t != "none" else (next(iter(refs)) if len(refs) == 1 else None)
        out += [{"id": f"runs/{ds}/{t}__{st}__{init}__s{seed}/{m}", "dataset": ds, "role": "student", "method": m,
                 "teacher": f"teachers/{ds}/{teacher}" if teacher else None, "pair": (ds, t, st, init, seed)}
                for m in methods]
    return out


def dla_export_models(dla: DlaConfig) -> list[dict[str, Any]]:
    """The layout models a preset exports (``<teacher or none>__<role>__<method>``, Table 3's), each with
    ``role`` and ``teacher`` (the teacher model it is compared with; a supervised student's is the one teacher
    distilling into its role, if exactly one)."""
    out = []
    for name in dla.model_names():
        teacher, role, method = name.split("__")
        if teacher == "none" and role in dla.teachers:
            out.append({"id": name, "dataset": None, "role": "teacher", "method": method, "teacher": None})
            continue
        if teacher == "none":
            refs = {b.teacher for b in dla.distill if b.student == role}
            teacher = next(iter(refs)) if len(refs) == 1 else None
        out.append({"id": name, "dataset": None, "role": "student", "method": method,
                    "teacher": f"none__{teacher}__supervised" if teacher else None})
    return out


# ------------------------------------------------------------------------------------------------ timing


def throughput_in_rounds(runners: Mapping[Any, Callable[[Any], Any]], batches: Sequence[Any], batch_size: int,
                         warmup: int = 1, iters: int = 5, rounds: int = 3) -> dict[Any, dict[str, Any]]:
    """Images/s of several callables, timed in rounds: in each round every runner in turn makes ``warmup``
    untimed calls and then ``iters`` timed ones in a row (a block), the runners' order rotated by one each round.

    Call ``k`` of a block feeds ``batches[k % len(batches)]`` (each ``batch_size`` images). A runner's round is
    ``iters × batch_size / the block's seconds``; ``images_per_second`` is the median round (all rounds in
    ``images_per_second_rounds``). Blocks keep a model's caches warm, as when it serves alone; the rounds spread
    slow machine spells over all runners (the order rotates, so none is always first after another)."""
    if not batches:
        raise ValueError("throughput_in_rounds: no input batches")
    names = list(runners)
    spent_rounds: dict[Any, list[float]] = {name: [] for name in names}
    for r in range(max(1, rounds)):
        for name in names[r % len(names):] + names[:r % len(names)]:
            fn = runners[name]
            for k in range(max(0, warmup)):
                fn(batches[k % len(batches)])
            t0 = time.perf_counter()
            for k in range(max(1, iters)):
                fn(batches[k % len(batches)])
            spent_rounds[name].append(max(1, iters) * batch_size / max(time.perf_counter() - t0, 1e-12))
    return {name: {"images_per_second": float(np.median(r)), "images_per_second_rounds": r}
            for name, r in spent_rounds.items()}


def classifier_batches(pages: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Contiguous float32 batches of `batch_size` pages, cycling through `pages` (N×3×S×S) in order; as many
    batches as it takes to use every page once (at least one)."""
    n = len(pages)
    if n == 0:
        raise ValueError("no pages to time the classifiers on")
    count = max(1, math.ceil(n / batch_size))
    return [np.ascontiguousarray(pages[[(k * batch_size + j) % n for j in range(batch_size)]], dtype=np.float32)
            for k in range(count)]


def _classifier_runners(entry: Mapping[str, Any], threads: int) -> dict[str, Callable[[np.ndarray], Any]]:
    import torch

    from .classifier import INPUT_NAME, load_deployed
    from .common import ort_session

    model, _ = load_deployed(entry["source"])

    def torch_run(x: np.ndarray, model=model):
        with torch.inference_mode():
            return model(torch.from_numpy(x))

    runners: dict[str, Callable[[np.ndarray], Any]] = {"torch_fp32": torch_run}
    for variant, name in (("onnx_fp32", "model.onnx"), ("onnx_int8", "model.int8.onnx")):
        path = Path(entry["export"]) / name
        if path.is_file():
            session = ort_session(path, threads)
            runners[variant] = lambda x, s=session: s.run(None, {INPUT_NAME: x})
    return runners


def _detector_runners(entry: Mapping[str, Any], threads: int) -> dict[str, Callable[[Any], Any]]:
    import torch

    from ..train.dla import load_detector
    from .common import ort_session
    from .detector import INPUT_NAME, BoxDetector

    parity = read_json(Path(entry["export"]) / "parity.json")
    wrapper = BoxDetector(load_detector(entry["source"]).float(), tuple(parity["input_size"])).eval()

    def torch_run(page, wrapper=wrapper):
        with torch.inference_mode():
            return wrapper(page[0])

    session = ort_session(Path(entry["export"]) / "model.onnx", threads)
    return {"torch_fp32": torch_run, "onnx_fp32": lambda page, s=session: s.run(None, {INPUT_NAME: page[1]})}


def timing_groups(entries: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """The entries in groups timed side by side: each teacher with the students compared against it; students
    without a teacher per task and dataset. Order kept."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for e in entries:
        key = ("teacher", e["id"]) if e.get("role") == "teacher" else (
            ("teacher", e["teacher"]) if e.get("teacher") else ("none", e["task"], e.get("dataset")))
        groups.setdefault(key, []).append(e)
    return list(groups.values())


def measure_deploy(entries: Sequence[Mapping[str, Any]], settings: Mapping[str, Any], *,
                   classifier_pages: np.ndarray | None = None, detector_pages: Sequence[Any] | None = None,
                   ) -> list[dict[str, Any]]:
    """Images/s of every model (`entries`: ``id``, ``task`` ``dic``/``dla``, ``role``, ``teacher``, ``source``
    (run / model folder), ``export`` (export folder)) and variant, at every batch size of `settings`
    (classifiers; detectors at batch 1 only). `classifier_pages`: preprocessed test pages (N×3×S×S float32);
    `detector_pages`: evaluation pages (3×H×W float32 tensors in [0, 1]). One record per (model, variant,
    batch size). torch and onnxruntime run with ``settings["threads"]`` intra-op threads (torch's restored after)."""
    import torch

    cfg = export_settings(settings)
    saved = torch.get_num_threads()
    torch.set_num_threads(cfg["threads"])
    try:
        return _measure_groups(entries, cfg, classifier_pages, detector_pages)
    finally:
        torch.set_num_threads(saved)


def _measure_groups(entries: Sequence[Mapping[str, Any]], cfg: Mapping[str, Any],
                    classifier_pages: np.ndarray | None, detector_pages: Sequence[Any] | None) -> list[dict[str, Any]]:
    n, threads = int(cfg["pages"]), cfg["threads"]
    out: list[dict[str, Any]] = []
    for group in timing_groups(entries):
        names = ", ".join(e["id"] for e in group)
        runners: dict[tuple[str, str], Callable] = {}
        tasks = set()
        for e in group:
            load = _classifier_runners if e["task"] == "dic" else _detector_runners
            for variant, fn in load(e, threads).items():
                runners[e["id"], variant] = fn
            tasks.add(e["task"])
        for task in sorted(tasks):
            own = {k: fn for k, fn in runners.items() if next(e for e in group if e["id"] == k[0])["task"] == task}
            if task == "dic":
                if classifier_pages is None:
                    raise ValueError("measure_deploy: classifiers to time but no classifier_pages")
                pool = classifier_pages[:n]
                plans = [(b, classifier_batches(pool, int(b))) for b in cfg["batch_sizes"]]
            else:
                if not detector_pages:
                    raise ValueError("measure_deploy: detectors to time but no detector_pages")
                pool = list(detector_pages)[:n]
                plans = [(1, [(p[None].float(), np.ascontiguousarray(p[None].numpy(), dtype=np.float32))
                               for p in pool])]
            for batch, batches in plans:
                log.info("timing %d model variant(s) at batch %d, side by side: %s", len(own), batch, names)
                res = throughput_in_rounds(own, batches, int(batch), warmup=int(cfg["warmup"]),
                                           iters=int(cfg["iters"]), rounds=int(cfg["rounds"]))
                for (model_id, variant), rec in res.items():
                    out.append({"id": model_id, "variant": variant, "batch_size": int(batch), **rec})
                    log.info("%s %s batch %d: %.1f images/s (rounds %s)", model_id, variant, batch,
                             rec["images_per_second"], ", ".join(f"{v:.1f}" for v in rec["images_per_second_rounds"]))
        del runners
        gc.collect()
    return out


def timing_note(settings: Mapping[str, Any]) -> str:
    cfg = export_settings(settings)
    return (f"images/s on the CPU with {cfg['threads']} thread(s) (torch and onnxruntime intra-op), median of "
            f"{cfg['rounds']} rounds; in each round every model and variant of a teacher's group (the teacher and the "
            f"students compared with it) runs {cfg['iters']} batches in a row after {cfg['warmup']} warm-up batch(es), "
            f"in turns, on the first {cfg['pages']} test pages (classifiers, batch sizes "
            f"{', '.join(map(str, cfg['batch_sizes']))}) or evaluation pages (detectors, batch 1, each page at its own "
            "size)")


# ------------------------------------------------------------------------------------------------ quality


def model_record(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What the table needs of one model besides its timings: ``id``, ``task``, ``role``, ``teacher``,
    ``dataset``, ``method``, ``metric`` (``accuracy`` / ``mAP``) and per variant ``{value, n, source}``; a
    classifier's ``int8_recommended`` and file sizes."""
    export = Path(entry["export"])
    parity = read_json(export / "parity.json")
    rec: dict[str, Any] = {k: entry.get(k) for k in ("id", "task", "role", "teacher", "dataset", "method")}
    sizes = {v: (parity.get("files") or {}).get(f, {}).get("bytes")
             for v, f in (("onnx_fp32", "model.onnx"), ("onnx_int8", "model.int8.onnx"))}
    rec["onnx_bytes"] = {v: b for v, b in sizes.items() if b is not None}
    if entry["task"] == "dic":
        metrics = parity.get("metrics") or {}
        n = (parity.get("inputs") or {}).get("n")
        rec["metric"] = "accuracy"
        keys = [("torch_fp32", "torch"), ("onnx_fp32", "onnx_fp32")]
        if "onnx_int8" in metrics or (export / "model.int8.onnx").is_file():
            keys.append(("onnx_int8", "onnx_int8"))
        rec["variants"] = {v: {"value": (metrics.get(k) or {}).get("accuracy"),
                               "n": (metrics.get(k) or {}).get("n", n), "source": "parity.json"} for v, k in keys}
        rec["int8_recommended"] = parity.get("int8_recommended")
    else:
        metrics_path = Path(entry["source"]) / "metrics.json"
        metrics = read_json(metrics_path) if metrics_path.is_file() else {}
        value, n = metrics.get("mAP"), metrics.get("eval_pages")
        rec["metric"] = "mAP"
        rec["variants"] = {"torch_fp32": {"value": value, "n": n, "source": "metrics.json"},
                           "onnx_fp32": {"value": value, "n": n, "source": "metrics.json (PyTorch model)"}}
        rec["int8_recommended"] = None
    return rec


# ------------------------------------------------------------------------------------------------ the table


def _ratio(a, b) -> float:
    try:
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        return math.nan
    if math.isnan(a) or math.isnan(b) or b == 0:
        return math.nan
    return a / b


def _ge(value: float, threshold: float) -> bool | None:
    return None if value is None or math.isnan(value) else bool(value >= threshold)


def deploy_table(models: Sequence[Mapping[str, Any]], timings: Iterable[Mapping[str, Any]],
                 batch_sizes: Sequence[int] = (1, 32)):
    """One row per model and variant (teachers before their students, variants in :data:`VARIANTS` order).

    Columns: ``task``, ``dataset``, ``model``, ``role``, ``teacher`` (the one compared with; empty on a
    teacher's rows, which are compared with the teacher itself), ``group`` (that teacher, or the model itself),
    ``method``, ``variant``, ``metric``, ``value`` (accuracy / mAP), ``n`` (pages it was measured on),
    ``retained`` (value / the teacher's PyTorch fp32 value), ``images_per_s_b<B>`` per batch size, ``speedup_b<B>_vs_teacher``
    (÷ the teacher's same variant at that batch) and ``speedup_b<B>_vs_teacher_torch`` (÷ the teacher's
    PyTorch fp32), ``keeps_95pct_at_3x`` (classification students), ``faster_1p5x`` (layout students),
    ``int8_recommended``, ``onnx_MB``. A model without a teacher has empty comparisons."""
    import pandas as pd

    batch_sizes = [int(b) for b in batch_sizes]
    target_b = max(batch_sizes)
    ips: dict[tuple[str, str, int], float] = {(t["id"], t["variant"], int(t["batch_size"])): float(t["images_per_second"])
                                               for t in timings}
    by_id = {m["id"]: m for m in models}
    rows = []
    for m in models:
        teacher = by_id.get(m["id"] if m.get("role") == "teacher" else m.get("teacher"))
        t_ref = teacher["variants"].get("torch_fp32", {}).get("value") if teacher else None
        for variant in VARIANTS:
            if variant not in m["variants"]:
                continue
            q = m["variants"][variant]
            row: dict[str, Any] = {
                "task": m["task"], "dataset": m.get("dataset"), "model": m["id"], "role": m.get("role"),
                "teacher": teacher["id"] if teacher and teacher is not m else None,
                "group": teacher["id"] if teacher else m["id"], "method": m.get("method"), "variant": variant,
                "metric": m.get("metric"), "value": q.get("value"), "n": q.get("n"),
                "retained": _ratio(q.get("value"), t_ref) if teacher else math.nan,
            }
            for b in batch_sizes:
                mine = ips.get((m["id"], variant, b), math.nan)
                row[f"images_per_s_b{b}"] = mine
                row[f"speedup_b{b}_vs_teacher"] = _ratio(mine, ips.get((teacher["id"], variant, b))) if teacher else math.nan
                row[f"speedup_b{b}_vs_teacher_torch"] = (_ratio(mine, ips.get((teacher["id"], "torch_fp32", b)))
                                                        if teacher else math.nan)
            student = teacher is not None and m.get("role") != "teacher"
            keeps = None
            if student and m["task"] == "dic":
                speed = _ratio(ips.get((m["id"], variant, target_b)), ips.get((teacher["id"], "onnx_int8", target_b)))
                acc_ok, speed_ok = _ge(row["retained"], KEEP_FRACTION), _ge(speed, KEEP_SPEEDUP)
                keeps = None if acc_ok is None or speed_ok is None else (acc_ok and speed_ok)
            faster = _ge(row.get("speedup_b1_vs_teacher", math.nan), LAYOUT_SPEEDUP) if student and m["task"] == "dla" else None
            row["keeps_95pct_at_3x"] = keeps
            row["faster_1p5x"] = faster
            row["int8_recommended"] = m.get("int8_recommended") if variant == "onnx_int8" else None
            size = (m.get("onnx_bytes") or {}).get(variant)
            row["onnx_MB"] = size / 1e6 if size else math.nan
            rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    for col in ("keeps_95pct_at_3x", "faster_1p5x", "int8_recommended"):
        df[col] = df[col].astype(object)
    return df


def target_summary(df) -> dict[str, list[str]]:
    """Per target (``keeps_95pct_at_3x``, ``faster_1p5x``): ``met`` (students with a row meeting it, and which
    variants), ``not_met`` (students none of whose rows does), ``undecided`` (missing numbers)."""
    out: dict[str, dict[str, list[str]]] = {}
    for col, task in (("keeps_95pct_at_3x", "dic"), ("faster_1p5x", "dla")):
        if not len(df):
            out[col] = {"met": [], "not_met": [], "undecided": []}
            continue
        sub = df[(df["task"] == task) & (df["role"] != "teacher") & df["teacher"].notna()]
        met, not_met, undecided = [], [], []
        for model, rows in sub.groupby("model", sort=False):
            vals = [v for v in rows[col] if isinstance(v, (bool, np.bool_))]
            ok = [VARIANT_LABELS[v] for v, flag in zip(rows["variant"], rows[col])
                  if isinstance(flag, (bool, np.bool_)) and bool(flag)]
            if ok:
                met.append(f"{model} ({', '.join(ok)})")
            elif vals:
                not_met.append(model)
            else:
                undecided.append(model)
        out[col] = {"met": met, "not_met": not_met, "undecided": undecided}
    return out


def deploy_caption(df, note: str, batch_sizes: Sequence[int] = (1, 32)) -> str:
    """The table's caption: what was measured, how, and plainly where the targets do not hold."""
    target_b = max(int(b) for b in batch_sizes)
    summary = target_summary(df)
    parts = [
        "Deployment: every exported teacher and student as PyTorch fp32, ONNX fp32 and ONNX int8 (onnxruntime, CPU). "
        "Classifiers: test accuracy of each variant from the export's parity.json (n test pages). Detectors: bbox mAP "
        "of the PyTorch model (metrics.json) for both forms, the ONNX graph is not re-evaluated (its parity.json "
        "compares its boxes with PyTorch's); the PyTorch fp32 detector timed is the exported box-only graph (no mask "
        "branch, pages resized to the export's fixed size), no int8 detector. retained = value / the teacher's "
        "PyTorch fp32 value; speed-ups divide by the teacher's same variant (vs teacher) or by its PyTorch fp32 (vs "
        "teacher torch) at the same batch size. A supervised student is compared with the teacher that distils into "
        "the same student in this preset when there is exactly one, else not at all.",
        f"Timing: {note}.",
    ]
    keep, fast = summary["keeps_95pct_at_3x"], summary["faster_1p5x"]
    n_keep = len(keep["met"]) + len(keep["not_met"]) + len(keep["undecided"])
    if n_keep:
        text = (f"Target keeps_95pct_at_3x (a classification student with accuracy >= {KEEP_FRACTION:g} x its teacher's "
                f"and images/s at batch {target_b} >= {KEEP_SPEEDUP:g} x the teacher's ONNX int8): ")
        if keep["met"]:
            text += f"holds for {len(keep['met'])} of {n_keep} students: {'; '.join(keep['met'])}. "
        else:
            text += f"does NOT hold for any of the {n_keep} students. "
        if keep["met"] and keep["not_met"]:
            text += f"It does NOT hold for the other {len(keep['not_met'])}. "
        if keep["undecided"]:
            text += f"Undecided (missing numbers) for {len(keep['undecided'])}: {', '.join(keep['undecided'])}. "
        parts.append(text.strip())
    n_fast = len(fast["met"]) + len(fast["not_met"]) + len(fast["undecided"])
    if n_fast:
        text = (f"Target faster_1p5x (a layout student with some exported form >= {LAYOUT_SPEEDUP:g} x its teacher's "
                "same form, batch 1): ")
        if fast["met"]:
            text += f"holds for {len(fast['met'])} of {n_fast}: {'; '.join(fast['met'])}. "
        else:
            text += f"does NOT hold for any of the {n_fast} layout students. "
        if fast["not_met"] and fast["met"]:
            text += f"It does NOT hold for: {', '.join(fast['not_met'])}. "
        if fast["undecided"]:
            text += f"Undecided (missing numbers) for: {', '.join(fast['undecided'])}. "
        parts.append(text.strip())
    return " ".join(parts)


def table_labels(batch_sizes: Sequence[int] = (1, 32)) -> dict[str, str]:
    """Markdown / LaTeX headers of the table's columns (the CSV keeps the column names)."""
    labels = {"value": "accuracy / mAP", "onnx_MB": "ONNX MB", "keeps_95pct_at_3x": "keeps 95 % at 3×",
              "faster_1p5x": "1.5× faster", "int8_recommended": "int8 ok"}
    for b in batch_sizes:
        labels.update({f"images_per_s_b{b}": f"im/s b{b}", f"speedup_b{b}_vs_teacher": f"× teacher b{b}",
                       f"speedup_b{b}_vs_teacher_torch": f"× teacher torch b{b}"})
    return labels


def write_deploy_table(df, out_stem: str | os.PathLike, note: str, batch_sizes: Sequence[int] = (1, 32)) -> dict:
    """``<stem>.csv`` / ``.md`` / ``.tex`` (distildoc.report.tables.write_table) with :func:`deploy_caption`;
    Markdown and LaTeX show the variants by name (PyTorch fp32 ...)."""
    from ..report.tables import render_csv, render_latex, render_markdown
    from ..utils.io import write_text

    out_stem = Path(out_stem)
    display = df.copy()
    if len(display):
        display["variant"] = display["variant"].map(VARIANT_LABELS)
    caption, labels, hidden = deploy_caption(df, note, batch_sizes), table_labels(batch_sizes), ("metric", "group")
    return {
        "csv": write_text(out_stem.with_name(out_stem.name + ".csv"), render_csv(df)),
        "md": write_text(out_stem.with_name(out_stem.name + ".md"),
                         render_markdown(display, caption, hidden=hidden, labels=labels)),
        "tex": write_text(out_stem.with_name(out_stem.name + ".tex"),
                          render_latex(display, caption, "tab:deploy", hidden=hidden,
                                       midrule_on="group" if len(display) else None, labels=labels)),
    }
