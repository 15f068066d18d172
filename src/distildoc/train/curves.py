"""Training curves as DVCLive files (``dvclive`` 3, the DVC ecosystem's logger).

A training run given a ``live_dir`` (`classification.fit`, `detection.train_detector`; the jobs pass
``<run folder>/dvclive``) writes there, as plain files only:

* ``plots/metrics/<name>.tsv`` -- one row per logged step, columns ``step`` and the metric's last name part
  (``train/loss`` -> ``plots/metrics/train/loss.tsv`` with columns ``step  loss``), appended as it goes;
* ``metrics.json`` -- the last value of every metric (nested by the ``/`` parts), ``step``, and the final
  evaluation numbers the jobs add with :func:`write_summary` (``eval.mAP``, ``test.accuracy``...).

``dvc plots show`` renders the ``plots/metrics`` folders the top-level ``plots:`` of ``dvc.yaml`` names;
``pandas.read_csv(path, sep="\\t")`` reads any of them (docs/training_curves.md).

Plain files only: :class:`dvclive.Live` (created with ``save_dvc_exp=False, dvcyaml=None, report=None``) still
opens the DVC repository around the working directory in its constructor -- and runs ``dvc init`` (staging
``.dvc/`` in git) when that is a git repository without DVC -- and posts to DVC Studio when a Studio token is
configured. :class:`PlainLive` switches both off, so logging never touches git / DVC state or the network.

Resuming: the curves are *replayed* from the training checkpoint (its per-epoch / per-``log_every`` records)
into a cleaned ``live_dir``, then training appends. The files are then always those of the checkpoint's
trajectory: nothing logged before the checkpoint is lost, and the steps a killed run logged after its last
checkpoint (which the resumed run recomputes) are not written twice.

Cost: one small file append per metric and record (an epoch; ``log_every`` detector iterations) and one
``metrics.json`` rewrite per epoch / checkpoint; ``import dvclive`` (~0.4 s) only when a ``live_dir`` is given.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: the folder, inside a run folder, the training jobs log into
LIVE_DIRNAME = "dvclive"


@functools.cache
def _plain_live_class() -> type:
    from dvclive import Live

    class PlainLive(Live):
        """:class:`dvclive.Live` writing plain files only: no DVC repository (no ``dvc init``, no experiment,
        no dvc.yaml), no DVC Studio."""

        def _init_dvc(self) -> None:  # Live.__init__: finds (or creates!) the DVC repo, names an experiment
            self._dvc_file = "dvc.yaml"  # never written: dvcyaml=None
            self._save_dvc_exp = False

        def _init_studio(self) -> None:  # Live.__init__: posts a "start" event when a Studio token is set
            self._studio_events_to_skip.update({"start", "data", "done"})

    return PlainLive


def open_live(live_dir: str | Path, resume: bool = False):
    """A :class:`PlainLive` on `live_dir` (``resume=False`` empties its plots and metrics.json first)."""
    return _plain_live_class()(str(live_dir), resume=resume, save_dvc_exp=False, dvcyaml=None, report=None,
                               monitor_system=False)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class TrainingCurves:
    """The metrics of one training run, logged with DVCLive into `live_dir` (see the module docstring).

    `replay`: the records the run already has (from its checkpoint), each ``{step_key: step, name: value...}``;
    they are written first, into the emptied folder."""

    def __init__(self, live_dir: str | Path, replay: Iterable[Mapping[str, Any]] = (), step_key: str = "step") -> None:
        self.dir = Path(live_dir)
        self.live = open_live(self.dir, resume=False)
        n = 0
        for rec in replay:
            self.log(rec[step_key], {k: v for k, v in rec.items() if k != step_key})
            n += 1
        if n:
            log.info("training curves: %d earlier record(s) replayed into %s", n, self.dir)
            self.flush()

    def log(self, step: int, values: Mapping[str, Any]) -> None:
        """Append one row per metric at `step` (values that are not numbers are left out; NaN / inf are
        written as DVCLive writes them, as text)."""
        self.live.step = int(step)
        for name, value in values.items():
            v = _number(value)
            if v is not None:
                self.live.log_metric(name, v)

    def flush(self) -> None:
        """Rewrite ``metrics.json`` (the last values and the step)."""
        self.live.make_summary()


def _nest(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        parts = str(key).split("/")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def _merge(base: dict, extra: Mapping) -> dict:
    for k, v in extra.items():
        if isinstance(v, Mapping) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v
    return base


def write_summary(live_dir: str | Path, values: Mapping[str, Any]) -> bool:
    """Add final numbers (``{"eval/mAP": 51.2}`` -> ``{"eval": {"mAP": 51.2}}``) to the ``metrics.json`` of a
    run's curves; None, NaN and inf values are left out. Does nothing (returns False) when the run logged no curves."""
    live_dir = Path(live_dir)
    if not (live_dir / "metrics.json").is_file():
        return False
    live = open_live(live_dir, resume=True)
    step = live.summary.get("step")
    keep = {k: v for k, v in values.items() if v is not None and (_number(v) is None or math.isfinite(_number(v)))}
    _merge(live.summary, _nest(keep))
    if step is not None:
        live.step = int(step)  # resume=True moved it one past the last logged step
    live.make_summary()
    return True
