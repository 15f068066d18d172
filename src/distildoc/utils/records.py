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
