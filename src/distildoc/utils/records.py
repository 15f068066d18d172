"""Building config dataclasses from plain dicts (params.yaml sections, saved specs)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def strict_from_dict(cls: type[T], data: Mapping[str, Any], what: str) -> T:
    """`cls(**data)`; keys that are not fields of the dataclass raise ValueError naming them and the
    allowed keys (`what` names the record in the message, e.g. "ModelSpec")."""
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {what} key(s) {', '.join(unknown)}; allowed keys: {', '.join(sorted(known))}")
    return cls(**dict(data))


#: keys of the metrics JSON files that hold wall-clock measurements (they differ between identical runs;
#: everything else is deterministic on CPU). Classification runs keep theirs under `runtime`; detection runs
#: in `train.wall_time_s`, `train.seconds_per_iteration`, `train.history[].time_s` and `predict_seconds`.
TIMING_KEYS = frozenset({"runtime", "train_seconds", "examples_per_second", "wall_time_s", "run_wall_time_s",
                         "seconds_per_iteration", "predict_seconds", "time_s"})


def without_timing(obj: Any) -> Any:
    """`obj` (parsed JSON) with every :data:`TIMING_KEYS` entry removed, recursively."""
    if isinstance(obj, Mapping):
        return {k: without_timing(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [without_timing(v) for v in obj]
    return obj
