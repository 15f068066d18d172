"""Registry of distillation methods by key (``ce``, ``ce_kd``, ``simkd_cnn``, ...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from torch import nn

    from .base import DistillMethod, ModelDims

__all__ = ["register_method", "get_method", "available_methods", "build_method"]

_METHODS: dict[str, type[DistillMethod]] = {}

M = TypeVar("M", bound="type[DistillMethod]")


def register_method(key: str) -> Callable[[M], M]:
    """Class decorator: register a :class:`DistillMethod` subclass under ``key`` (sets ``cls.key``).

    Registering a different class under an existing key raises ValueError."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"method key must be a non-empty string, got {key!r}")

    def decorator(cls: M) -> M:
        existing = _METHODS.get(key)
        if existing is not None and existing is not cls:
            raise ValueError(f"distillation method key {key!r} is already registered to {existing.__qualname__}")
        cls.key = key
        _METHODS[key] = cls
        return cls

    return decorator


def available_methods() -> list[str]:
    """Sorted registered keys."""
    return sorted(_METHODS)


def get_method(key: str) -> type[DistillMethod]:
    """The method class registered under ``key``; unknown keys raise KeyError listing the allowed ones."""
    try:
        return _METHODS[key]
    except KeyError:
        raise KeyError(
            f"unknown distillation method {key!r}; allowed: {', '.join(available_methods())}"
        ) from None


def build_method(
    key: str,
    student: ModelDims | None = None,
    teacher: ModelDims | None = None,
    teacher_head: nn.Module | None = None,
    **hparams,
) -> DistillMethod:
    """Instantiate method ``key`` from model sizes (see :meth:`DistillMethod.from_dims`)."""
    return get_method(key).from_dims(student, teacher, teacher_head, **hparams)
