"""Typed config settings: one declaration gives the default, the doc comment written to config.toml,
and the checks applied to values from the file or from command-line overrides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import Field, field, fields
from typing import Any, TypeVar, get_type_hints

from cometsync.config.duration import Duration

T = TypeVar("T")
Check = Callable[[Any], "str | None"]
"""Returns why a (well-typed) value is not acceptable, or None."""


class ConfigError(ValueError):
    """A config file or override that cometsync cannot use; the message names file, section and key."""


def setting(
    default: T,
    doc: str,
    *,
    choices: tuple[T, ...] = (),
    minimum: int | None = None,
    check: Check | None = None,
) -> T:
    """Declare a dataclass field that is a config.toml key (the field name is the TOML key)."""
    metadata = {"doc": doc, "choices": choices, "minimum": minimum, "check": check}
    result: T = field(default=default, metadata=metadata)
    return result


def settings_of(section_type: type) -> list[tuple[Field[Any], type]]:
    """The declared settings of a section dataclass, with their resolved Python types."""
    hints = get_type_hints(section_type)
    return [(item, hints[item.name]) for item in fields(section_type)]


def doc_of(item: Field[Any]) -> str:
    return str(item.metadata.get("doc", ""))


def coerce(value: Any, kind: type, item: Field[Any]) -> Any:
    """A TOML value as `kind`, checked against the setting's choices, minimum and check. ValueError if not."""
    typed = _as_kind(value, kind)
    choices = item.metadata.get("choices") or ()
    if choices and typed not in choices:
        raise ValueError(f"must be one of {', '.join(map(repr, choices))}, got {typed!r}")
    minimum = item.metadata.get("minimum")
    if minimum is not None:
        amount = typed.nanos if isinstance(typed, Duration) else typed
        if amount < minimum:
            raise ValueError(f"must be at least {minimum}, got {typed}")
    check: Check | None = item.metadata.get("check")
    problem = check(typed) if check is not None else None
    if problem:
        raise ValueError(problem)
    return typed


def from_text(text: str, kind: type) -> Any:
    """A command-line string turned into the TOML value it stands for (flags are always strings)."""
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if kind is int:
        try:
            return int(text.strip().replace("_", ""))
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None
    return text


def _as_kind(value: Any, kind: type) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {value!r}")
        return value
    if kind is Duration:
        if isinstance(value, Duration):
            return value
        if not isinstance(value, str):
            raise ValueError(f'expected a duration string such as "100ms", got {value!r}')
        return Duration.parse(value)
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported setting type {kind!r}")
