"""`solo`: a devnet producer holding > 2/3 of the voting power commits a block every `timeout_commit`.

Each height goes through the same `BlockStep` as the chain builder (PrepareProposal, header, signed
commit, ExtendVote, save, FinalizeBlock, Commit), so the stored chain is what CometBFT would store and our
blocksync reactor serves it to any CometBFT v0.38 node.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from twisted.internet import defer
from twisted.python.failure import Failure

from cometsync.clock import DelayedCall, cancel_call
from cometsync.consensus.block_step import BlockStep, CommittedBlock, GuardedKey
from cometsync.consensus.engine import EngineError, NodeContext
from cometsync.consensus.producer import CommitSigners, max_data_bytes
from cometsync.crypto import KeyFileError, PrivKey
from cometsync.crypto.sign_state import SignStateFile
from cometsync.state import State
from cometsync.types import Block, Timestamp

log = logging.getLogger(__name__)

NANOS_PER_SECOND = 1_000_000_000
WAIT_FOR_TXS_POLL_SECONDS = 0.1
"""With `create_empty_blocks = false`, how often an idle producer looks at the mempool again."""


class InsufficientSigningPower(EngineError):
    """The held keys cannot commit a block alone."""


def require_signing_power(state: State, signers: CommitSigners) -> None:
    """Refuse unless the held keys have more than 2/3 of the current validators' power."""
    total = state.validators.total_voting_power()
    held = sum(v.voting_power for v in state.validators.validators if v.address in signers.keys)
    if held * 3 <= total * 2:
        raise InsufficientSigningPower(
            f"solo: the held validator keys have {held} of {total} voting power at height "
            f"{state.next_height()}; producing blocks alone needs more than 2/3"
        )


class SoloEngine:
    """Produces, signs, stores and applies blocks on the injected clock after the hand-off."""

    name = "solo"

    def __init__(self, ctx: NodeContext, keys: Sequence[PrivKey] | None = None) -> None:
        """`keys` defaults to the node's `priv_validator_key.json`; a devnet may hold several validators."""
        if keys is None:
            keys = [ctx.priv_validator.priv_key] if ctx.priv_validator is not None else []
        self._ctx = ctx
        self._signers = CommitSigners.of(keys)
        self._step = BlockStep(self._signers, ctx.app, ctx.block_store, ctx.executor, _guarded_key(ctx))
        consensus = ctx.config.consensus
        self._interval = 0.0 if consensus.skip_timeout_commit else consensus.timeout_commit.seconds
        self._state: State | None = None
        self._call: DelayedCall | None = None
        self._producing: defer.Deferred[CommittedBlock] | None = None
        self._stopped = False
        self._last_block_at = 0.0
        self.blocks_produced = 0
        self.fatal_error: Failure | None = None
        self.on_block: Callable[[CommittedBlock], None] | None = None
        """Told of every committed block once the mempool was updated (node events, tests)."""

    # ------------------------------------------------------------------ ConsensusEngine

    @property
    def last_state(self) -> State | None:
        return self._state

    @property
    def height(self) -> int:
        return self._state.last_block_height if self._state is not None else self._ctx.block_store.height

    def start(self) -> None:
        if not self._signers.keys:
            raise InsufficientSigningPower(
                "solo: no validator key (priv_validator_key.json) to sign blocks with"
            )
        stored = self._ctx.state_store.load()
        require_signing_power(stored or State.from_genesis(self._ctx.genesis), self._signers)

    def switch_to_consensus(self, state: State, blocks_synced: int) -> None:
        require_signing_power(state, self._signers)
        log.info("solo: producing from height %d every %.3fs", state.next_height(), self._interval)
        self._state = state
        self._last_block_at = self._ctx.clock.seconds()
        self._schedule(self._interval)

    def stop(self) -> defer.Deferred[None]:
        self._stopped = True
        cancel_call(self._call)
        self._call = None
        if self._producing is None:
            return defer.succeed(None)
        done: defer.Deferred[None] = defer.Deferred()
        self._producing.addBoth(lambda _: done.callback(None))
        return done

    def status(self) -> dict[str, object]:
        mempool = self._ctx.mempool
        return {
            "engine": self.name,
            "height": self.height,
            "producing": self._state is not None and not self._stopped and self.fatal_error is None,
            "blocks_produced": self.blocks_produced,
            "timeout_commit_seconds": self._interval,
            "mempool_size": mempool.size() if mempool is not None else 0,
            "error": self.fatal_error.getErrorMessage() if self.fatal_error is not None else None,
        }

    # ------------------------------------------------------------------ the loop

    def _schedule(self, delay: float) -> None:
        if not self._stopped:
            self._call = self._ctx.clock.callLater(delay, self._next_height)

    def _next_height(self) -> None:
        self._call = None
        state = self._state
        assert state is not None
        if not self._should_produce(state):
            self._schedule(WAIT_FOR_TXS_POLL_SECONDS)
            return
        producing = defer.ensureDeferred(self._produce(state))
        self._producing = producing
        producing.addCallbacks(self._produced, self._failed)

    async def _produce(self, state: State) -> CommittedBlock:
        require_signing_power(state, self._signers)
        committed = await self._step.commit_next(state, self._reap(state), self._vote_time)
        self._state = committed.state
        self.blocks_produced += 1
        self._last_block_at = self._ctx.clock.seconds()
        await self._update_mempool(committed)
        return committed

    def _produced(self, committed: CommittedBlock) -> None:
        """The next height is scheduled before anyone hears of this one (listeners may advance time)."""
        self._producing = None
        self._schedule(self._interval)
        if self.on_block is not None:
            self.on_block(committed)

    def _reap(self, state: State) -> list[bytes]:
        mempool = self._ctx.mempool
        if mempool is None:
            return []
        params = state.consensus_params
        room = max_data_bytes(params, len(state.validators))
        return mempool.reap_max_bytes_max_gas(room, params.block_max_gas)

    def _update_mempool(self, committed: CommittedBlock) -> defer.Deferred[None]:
        mempool = self._ctx.mempool
        if mempool is None:
            return defer.succeed(None)
        response = self._ctx.state_store.load_finalize_block_response(committed.block.height)
        results = list(response.tx_results) if response is not None else None
        return mempool.update(committed.block.height, committed.block.txs, results)

    def _vote_time(self, block: Block, state: State) -> Timestamp:
        """Our validators vote now (`vote_time` keeps each vote at least 1 ms after the block)."""
        return Timestamp.from_unix_nanos(round(self._ctx.clock.seconds() * NANOS_PER_SECOND))

    def _should_produce(self, state: State) -> bool:
        """CometBFT's `create_empty_blocks`: without it, wait for txs unless a proof block is due."""
        consensus = self._ctx.config.consensus
        if consensus.create_empty_blocks:
            return True
        mempool = self._ctx.mempool
        if (mempool is not None and mempool.size() > 0) or self._needs_proof_block(state):
            return True
        interval = consensus.create_empty_blocks_interval.seconds
        return interval > 0 and self._ctx.clock.seconds() - self._last_block_at >= interval

    def _needs_proof_block(self, state: State) -> bool:
        """The first block, and any block after one that changed the app hash, must be committed."""
        if state.last_block_height == 0:
            return True
        meta = self._ctx.block_store.load_block_meta(state.last_block_height)
        return meta is None or meta.header.app_hash != state.app_hash

    def _failed(self, failure: Failure) -> None:
        self._producing = None
        self.fatal_error = failure
        log.error("solo: block production stopped: %s", failure.getErrorMessage())


def _guarded_key(ctx: NodeContext) -> GuardedKey | None:
    """The node's own key signs through `priv_validator_state.json`, as CometBFT's FilePV does."""
    if ctx.priv_validator is None:
        return None
    path = ctx.config.priv_validator_state_path
    try:
        return GuardedKey(ctx.priv_validator.address, SignStateFile.load(path))
    except KeyFileError as exc:
        raise EngineError(f"solo: {exc}") from None


def solo_engine(ctx: NodeContext) -> SoloEngine:
    """Entry point `solo` of the `cometsync.consensus` group."""
    return SoloEngine(ctx)
