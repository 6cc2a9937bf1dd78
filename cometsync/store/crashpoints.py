"""Test seam for crash-safety tests: SIGKILL this process at the N-th pass through a named point.

Set `COMETSYNC_CRASH_AT=<point>:<n>` (e.g. `executor.after_commit:3`) before the process starts; unset,
`crash_point` does nothing. The variable is read once: the hot path passes several points per block.
"""

from __future__ import annotations

import functools
import os
import signal
from collections import Counter

CRASH_ENV = "COMETSYNC_CRASH_AT"

_passes: Counter[str] = Counter()


@functools.cache
def _target() -> tuple[str, int] | None:
    spec = os.environ.get(CRASH_ENV, "")
    name, sep, count = spec.rpartition(":")
    if not sep or not name or not count.isdigit():
        return None
    return name, int(count)


def crash_point(name: str) -> None:
    """Kill the process with SIGKILL (no cleanup, no flush) when `name` is reached the configured time."""
    target = _target()
    if target is None or target[0] != name:
        return
    _passes[name] += 1
    if _passes[name] == target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
