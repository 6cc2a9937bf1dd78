"""Plug-ins found through entry points: consensus engines (group `cometsync.consensus`), dependency-free.

Config validation imports this to check an engine name without loading the engines (or plyvel and gRPC
through them); `consensus.engine.load_engine` types what it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

ENTRY_POINT_GROUP = "cometsync.consensus"


class EngineError(RuntimeError):
    """An engine cannot be found, built or started; the message says what to change."""


def available_engines() -> list[str]:
    """Names registered in the `cometsync.consensus` entry-point group, sorted."""
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def load_factory(name: str) -> Callable[..., Any]:
    """The callable registered as `name`; EngineError lists the available names when there is none."""
    matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not matches:
        available = ", ".join(available_engines()) or "none"
        raise EngineError(
            f"unknown consensus engine {name!r}: no entry point {name!r} in group {ENTRY_POINT_GROUP!r} "
            f"(available: {available})"
        )
    try:
        factory = matches[0].load()
    except Exception as exc:
        raise EngineError(f"consensus engine {name!r} ({matches[0].value}) failed to load: {exc}") from exc
    if not callable(factory):
        raise EngineError(f"consensus engine {name!r} ({matches[0].value}) is not callable")
    return factory  # type: ignore[no-any-return]
