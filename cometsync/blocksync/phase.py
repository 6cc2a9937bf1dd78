"""The blocksync reactor's lifecycle as data: its phases, the moves between them, and what each implies.

`BlocksyncReactor._enter` is the one place that moves the phase and applies these tables.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cometsync.blocksync.msg_filter import SyncState


class Phase(enum.Enum):
    """Where the blocksync reactor is in its life."""

    IDLE = "idle"
    """Built, serving peers; blocksync not started (or started with `blocksync=False`)."""
    SYNCING = "syncing"
    """The pool requests blocks and the loop applies them; the 1 s caught-up check runs."""
    SWITCHED = "switched"
    """Handed off to consensus: pool and loop stopped, late BlockResponses tolerated and dropped."""
    FOLLOWING = "following"
    """Handed off, but the pool and loop keep ingesting each new block (the `follow` engine)."""
    FAILED = "failed"
    """A block could not be stored or applied: the local state cannot follow the chain (CometBFT panics)."""
    STOPPED = "stopped"
    """Stopped by the node's shutdown."""

    @property
    def catching_up(self) -> bool:
        """CometBFT's `catching_up`: true until the hand-off; a failed or stopped reactor no longer is."""
        return self in (Phase.IDLE, Phase.SYNCING)

    @property
    def handed_off(self) -> bool:
        return self in (Phase.SWITCHED, Phase.FOLLOWING)


NEXT_PHASES: dict[Phase, frozenset[Phase]] = {
    Phase.IDLE: frozenset({Phase.SYNCING, Phase.SWITCHED, Phase.STOPPED}),
    Phase.SYNCING: frozenset({Phase.SWITCHED, Phase.FOLLOWING, Phase.FAILED, Phase.STOPPED}),
    Phase.SWITCHED: frozenset({Phase.STOPPED}),
    Phase.FOLLOWING: frozenset({Phase.FAILED, Phase.STOPPED}),
    Phase.FAILED: frozenset(),
    Phase.STOPPED: frozenset(),
}
FILTER_STATES: dict[Phase, SyncState] = {
    Phase.IDLE: SyncState.INACTIVE,
    Phase.SYNCING: SyncState.ACTIVE,
    Phase.FOLLOWING: SyncState.ACTIVE,
    Phase.SWITCHED: SyncState.STOPPED_AFTER_SWITCH,
    Phase.FAILED: SyncState.STOPPED_AFTER_SWITCH,
    Phase.STOPPED: SyncState.STOPPED_AFTER_SWITCH,
}
POOL_RUNS = frozenset({Phase.SYNCING, Phase.FOLLOWING})


@dataclass(frozen=True)
class SyncFailure:
    """Why blocksync failed: the height it could not store or apply, and the error's message."""

    height: int
    reason: str

    def __str__(self) -> str:
        return f"blocksync failed at height {self.height}: {self.reason}"
