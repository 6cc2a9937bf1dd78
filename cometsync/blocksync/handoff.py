"""The seam between blocksync and whatever runs after it (CometBFT's `SwitchToConsensus`).

Blocksync calls `switch_to_consensus` exactly once, with the state after the last applied block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from twisted.internet import defer

StateT = TypeVar("StateT")
StateT_contra = TypeVar("StateT_contra", contravariant=True)


class ConsensusHandoff(Protocol[StateT_contra]):
    """Receives the chain state when blocksync stops; `blocks_synced > 0` means no WAL replay is needed."""

    def switch_to_consensus(self, state: StateT_contra, blocks_synced: int) -> None: ...


@dataclass(frozen=True)
class Switched(Generic[StateT]):
    """What blocksync handed over."""

    state: StateT
    blocks_synced: int


class DeferredHandoff(Generic[StateT]):
    """A hand-off for nodes without a consensus engine (sync-only nodes, tests): fires `switched` once."""

    def __init__(self) -> None:
        self.switched: defer.Deferred[Switched[StateT]] = defer.Deferred()

    def switch_to_consensus(self, state: StateT, blocks_synced: int) -> None:
        if self.switched.called:
            raise RuntimeError("switch_to_consensus called twice")
        self.switched.callback(Switched(state, blocks_synced))
