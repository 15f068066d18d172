"""Registry of distillation methods by key (``ce``, ``ce_kd``, ``simkd_cnn``, ...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from torch import nn

    from .base import DistillMethod, ModelDims

__all__ = ["Registry", "register_method", "get_method", "available_methods", "build_method"]

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    """Classes by string key, filled by a class decorator (used for classification and detection methods)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, key: str) -> Callable[[T], T]:
        """Class decorator: register under ``key`` and set ``cls.key``; a different class under an existing
        key raises ValueError."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"method key must be a non-empty string, got {key!r}")

        def decorator(cls: T) -> T:
            existing = self._items.get(key)
            if existing is not None and existing is not cls:
                raise ValueError(f"{self.kind} key {key!r} is already registered to {existing.__qualname__}")
            cls.key = key
            self._items[key] = cls
            return cls

        return decorator

    def unregister(self, key: str) -> None:
        """Remove ``key`` if registered (e.g. a temporary method in a test or a notebook)."""
        self._items.pop(key, None)

    def keys(self) -> list[str]:
        """Sorted registered keys."""
        return sorted(self._items)

    def get(self, key: str) -> T:
        """The class registered under ``key``; unknown keys raise KeyError listing the allowed ones."""
        try:
            return self._items[key]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {key!r}; allowed: {', '.join(self.keys())}") from None


METHODS: Registry[type[DistillMethod]] = Registry("distillation method")
#: ``@register_method("key")`` registers a :class:`DistillMethod` subclass
register_method = METHODS.register
#: sorted registered keys
available_methods = METHODS.keys
#: the method class registered under a key
get_method = METHODS.get


def build_method(
    key: str,
    student: ModelDims | None = None,
    teacher: ModelDims | None = None,
    teacher_head: nn.Module | None = None,
    **hparams,
) -> DistillMethod:
    """Instantiate method ``key`` from model sizes (see :meth:`DistillMethod.from_dims`)."""
    return get_method(key).from_dims(student, teacher, teacher_head, **hparams)
