"""What the blocksync reactor needs from the chain state, the block store and the block executor.

Structural types named for their role, so they cannot be mistaken for the concrete `state.State`,
`store.BlockStore` and `state.BlockExecutor`: the reactor depends on the few members it calls.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from twisted.internet import defer

from cometsync.store.db import PendingWrite
from cometsync.types import Block, BlockID, Commit, ConsensusParams, ExtendedCommit, PartSet, ValidatorSet


class ChainStateView(Protocol):
    """The parts of CometBFT's `sm.State` blocksync reads to verify the next block."""

    @property
    def chain_id(self) -> str: ...

    @property
    def initial_height(self) -> int: ...

    @property
    def last_block_height(self) -> int: ...

    @property
    def last_block_id(self) -> BlockID: ...

    @property
    def validators(self) -> ValidatorSet: ...

    @property
    def next_validators(self) -> ValidatorSet: ...

    @property
    def consensus_params(self) -> ConsensusParams: ...

    @property
    def app_hash(self) -> bytes: ...

    @property
    def last_results_hash(self) -> bytes: ...


StateT = TypeVar("StateT", bound=ChainStateView)


class BlockReader(Protocol):
    """Read side of the block store: what we serve to peers and report in StatusResponse."""

    @property
    def height(self) -> int: ...

    @property
    def base(self) -> int: ...

    def load_block_bytes(self, height: int) -> bytes | None: ...

    def load_extended_commit_bytes(self, height: int) -> bytes | None: ...


class BlockWriter(BlockReader, Protocol):
    """The block store as the sync loop uses it: serve, and persist each verified block."""

    def stage_block(
        self, block: Block, part_set: PartSet, seen_commit: Commit, ext_commit: ExtendedCommit | None = None
    ) -> PendingWrite:
        """The block's synced batch, encoded now; the executor queues its `write()` (on another thread)."""
        ...


class BlockApplier(Protocol[StateT]):
    """CometBFT's `BlockExecutor`: state-dependent validation, then FinalizeBlock/Commit through ABCI."""

    def validate_block(self, state: StateT, block: Block, skip_last_commit: bool = False) -> None: ...

    def execute_verified_block(
        self, state: StateT, block_id: BlockID, block: Block, block_write: PendingWrite | None = None
    ) -> defer.Deferred[StateT]:
        """Queues `block_write` at once and writes the state only after it; fires with the saved new
        state while the app's Commit may still run."""
        ...

    def settled(self) -> defer.Deferred[None]:
        """Fires once the last Commit returned (fails if it failed)."""
        ...
