"""A chain builder: produce, sign, store and execute blocks exactly as a CometBFT network would.

Blocks are proposed with the real proposer rotation, executed through a real ABCI app (so app hashes,
results hashes and validator changes are the app's own), signed by > 2/3 of the power, and stored in a
real BlockStore; the result is what a CometBFT node would serve over blocksync.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from twisted.internet import defer

from cometsync.consensus.block_step import BlockStep, ProducerApp
from cometsync.consensus.producer import CommitSigners
from cometsync.crypto import PrivKey
from cometsync.state import BlockExecutor, Handshaker, State, StateStore
from cometsync.store import BlockStore
from cometsync.types import Block, ConsensusParams, Genesis, Timestamp, Validator

NANOS_PER_SECOND = 1_000_000_000


@dataclass(frozen=True)
class BlockPlan:
    """What goes into one height: candidate txs and the validators that miss the commit."""

    txs: Sequence[bytes] = ()
    absent: Collection[bytes] = ()


@dataclass(frozen=True)
class DevnetSpec:
    """A deterministic devnet: validator keys derived from a seed, and its genesis."""

    chain_id: str = "cometsync-devnet"
    powers: Sequence[int] = (10, 10, 10, 10)
    seed: str = "cometsync"
    genesis_time: Timestamp = field(default_factory=lambda: Timestamp.parse("2026-01-01T00:00:00Z"))
    vote_extensions_enable_height: int = 0

    def keys(self) -> list[PrivKey]:
        return [
            PrivKey(hashlib.sha256(f"{self.seed}/validator/{i}".encode()).digest())
            for i in range(len(self.powers))
        ]

    def genesis(self) -> Genesis:
        validators = tuple(
            Validator.from_pub_key(key.pub_key.key, power)
            for key, power in zip(self.keys(), self.powers, strict=True)
        )
        params = ConsensusParams(vote_extensions_enable_height=self.vote_extensions_enable_height)
        return Genesis(
            chain_id=self.chain_id,
            genesis_time=self.genesis_time,
            initial_height=1,
            consensus_params=params,
            validators=validators,
        )


def kvstore_txs(height: int, count: int, size: int = 16) -> list[bytes]:
    """`count` distinct `key=value` txs for CometBFT's kvstore, padded to about `size` bytes each."""
    txs = []
    for i in range(count):
        key = f"h{height}-t{i}".encode()
        value = hashlib.sha256(key).hexdigest().encode()
        txs.append(key + b"=" + (value * (size // len(value) + 1))[: max(size - len(key) - 1, 1)])
    return txs


class ChainBuilder:
    """Extends the chain in `block_store`/`state_store` one real block at a time."""

    def __init__(
        self,
        genesis: Genesis,
        keys: Sequence[PrivKey],
        app: ProducerApp,
        block_store: BlockStore,
        state_store: StateStore,
        block_interval_ns: int = NANOS_PER_SECOND,
    ) -> None:
        self._genesis = genesis
        self._app = app
        self._block_store = block_store
        self._state_store = state_store
        executor = BlockExecutor(state_store, block_store, app)
        self._step = BlockStep(CommitSigners.of(keys), app, block_store, executor)
        self._interval = block_interval_ns

    def build(
        self, upto: int, plan: Callable[[int], BlockPlan] = lambda _h: BlockPlan()
    ) -> defer.Deferred[State]:
        """Handshake with the app, then add blocks until the store holds `upto`; resolves to the state."""
        return defer.ensureDeferred(self._build(upto, plan))

    async def _build(self, upto: int, plan: Callable[[int], BlockPlan]) -> State:
        state = await Handshaker(self._state_store, self._block_store, self._genesis, self._app).handshake()
        while state.last_block_height < upto:
            height_plan = plan(state.next_height())
            committed = await self._step.commit_next(
                state, height_plan.txs, self._vote_times, height_plan.absent
            )
            state = committed.state
        return state

    def _vote_times(self, block: Block, state: State) -> dict[bytes, Timestamp]:
        """Validators vote one interval after the block, 1 ms apart (so the median time moves on)."""
        start = block.header.time.unix_nanos() + self._interval
        return {
            val.address: Timestamp.from_unix_nanos(start + i * 1_000_000)
            for i, val in enumerate(state.validators.validators)
        }
