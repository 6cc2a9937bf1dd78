"""Building frozen slots dataclasses without their `__init__`, for the few per-validator hot loops.

A frozen dataclass's generated `__init__` stores each field through `object.__setattr__`; the slot's own
descriptor does the same store at about half the cost. Only for values the caller already has checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")
Setter = Callable[[Any, Any], None]

new_instance = object.__new__


def slot_setters(cls: type[Any], *names: str) -> tuple[Setter, ...]:
    """The slot setters of `cls`'s fields, which must be named all and in order (checked at import, so a
    new field cannot be left unset by a fast builder)."""
    declared = tuple(item.name for item in fields(cls))
    if declared != names:
        raise TypeError(f"{cls.__name__} has fields {declared}, a fast builder sets {names}")
    return tuple(vars(cls)[name].__set__ for name in names)
