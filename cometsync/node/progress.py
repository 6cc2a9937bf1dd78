"""What an operator sees while the node syncs: a live carriage-return line on a terminal, structured
`key=value` log lines otherwise. Formatting is pure; `ProgressReporter` only schedules it on a clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, TextIO

from cometsync.clock import Clock, Periodic, reactor_or_global
from cometsync.rpc.progress import SyncProgress

TTY_INTERVAL_SECONDS = 1.0
LOG_INTERVAL_SECONDS = 5.0


@dataclass(frozen=True)
class ProgressSnapshot:
    """One reading of the node: where the chain is, where peers say it ends, and who is connected."""

    phase: str
    height: int
    target: int
    blocks_per_second: float
    eta_seconds: float | None
    peers: int


def format_eta(seconds: float | None) -> str:
    if seconds is None or math.isinf(seconds):
        return "?"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def tty_line(snapshot: ProgressSnapshot) -> str:
    """`blocksync  height 120/310 (38.7%)  52.1 blocks/s  ETA 0m03s  peers 2`."""
    target = max(snapshot.target, snapshot.height)
    share = f" ({100.0 * snapshot.height / target:.1f}%)" if target else ""
    return (
        f"{snapshot.phase:<9}  height {snapshot.height}/{target}{share}  "
        f"{snapshot.blocks_per_second:.1f} blocks/s  ETA {format_eta(snapshot.eta_seconds)}  "
        f"peers {snapshot.peers}"
    )


def log_line(snapshot: ProgressSnapshot, event: str = "progress") -> str:
    """`event=progress phase=blocksync height=120 target=310 blocks_per_second=52.1 eta_seconds=3 peers=2`."""
    eta = "unknown" if snapshot.eta_seconds is None else f"{snapshot.eta_seconds:.0f}"
    return (
        f"event={event} phase={snapshot.phase} height={snapshot.height} target={snapshot.target} "
        f"blocks_per_second={snapshot.blocks_per_second:.1f} eta_seconds={eta} peers={snapshot.peers}"
    )


class ProgressSource(Protocol):
    """What the reporter reads from a running node."""

    def progress_snapshot(self) -> ProgressSnapshot: ...


def measure(
    progress: SyncProgress, now: float, phase: str, height: int, target: int, peers: int
) -> ProgressSnapshot:
    """Feed the rate meter with this reading and return the snapshot it yields."""
    progress.observe(now, height)
    return ProgressSnapshot(
        phase=phase,
        height=height,
        target=max(target, height),
        blocks_per_second=progress.blocks_per_second(),
        eta_seconds=progress.eta_seconds(height, target),
        peers=peers,
    )


class ProgressReporter:
    """Refreshes one terminal line ~1/s, or writes a log line every few seconds and on events."""

    def __init__(self, source: ProgressSource, out: TextIO, *, tty: bool, clock: Clock | None = None) -> None:
        self._source = source
        self._out = out
        self._tty = tty
        self._clock = clock
        self._loop: Periodic | None = None
        self._line_open = False

    def start(self) -> None:
        interval = TTY_INTERVAL_SECONDS if self._tty else LOG_INTERVAL_SECONDS
        self._loop = Periodic(reactor_or_global(self._clock), interval, self.report)
        self._loop.start()
        self.report()

    def report(self) -> None:
        snapshot = self._source.progress_snapshot()
        if self._tty:
            self._out.write("\r\x1b[K" + tty_line(snapshot))
            self._line_open = True
        else:
            self._out.write(log_line(snapshot) + "\n")
        self._out.flush()

    def event(self, name: str, **fields: object) -> None:
        """A one-off line (hand-off, shutdown) that also keeps the live line intact below it."""
        snapshot = self._source.progress_snapshot()
        extra = "".join(f" {key}={value}" for key, value in fields.items())
        self._end_line()
        self._out.write(log_line(snapshot, name) + extra + "\n")
        self._out.flush()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.stop()
        self._loop = None
        self._end_line()
        self._out.flush()

    def _end_line(self) -> None:
        if self._line_open:
            self._out.write("\n")
            self._line_open = False
