"""A chain builder: produce, sign, store and execute blocks exactly as a CometBFT network would.

Blocks are proposed with the real proposer rotation, executed through a real ABCI app (so app hashes,
results hashes and validator changes are the app's own), signed by > 2/3 of the power, and stored in a
real BlockStore; the result is what a CometBFT node would serve over blocksync.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from twisted.internet import defer

from cometsync.consensus.producer import CommitSigners, make_block, max_data_bytes
from cometsync.crypto import PrivKey
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.state import BlockExecutor, Handshaker, State, StateStore
from cometsync.state.app_conn import ConsensusApp
from cometsync.state.transition import decided_last_commit
from cometsync.store import BlockStore
from cometsync.types import (
    Block,
    BlockIDFlag,
    Commit,
    ConsensusParams,
    ExtendedCommit,
    Genesis,
    Timestamp,
    Validator,
)

NANOS_PER_SECOND = 1_000_000_000


class BuilderApp(ConsensusApp, Protocol):
    """What the builder asks of the app besides execution: tx selection and vote extensions."""

    def prepare_proposal(
        self, request: abci_pb2.RequestPrepareProposal
    ) -> defer.Deferred[abci_pb2.ResponsePrepareProposal]: ...

    def extend_vote(
        self, request: abci_pb2.RequestExtendVote
    ) -> defer.Deferred[abci_pb2.ResponseExtendVote]: ...


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
        app: BuilderApp,
        block_store: BlockStore,
        state_store: StateStore,
        block_interval_ns: int = NANOS_PER_SECOND,
    ) -> None:
        self._genesis = genesis
        self._signers = CommitSigners.of(keys)
        self._app = app
        self._block_store = block_store
        self._state_store = state_store
        self._executor = BlockExecutor(state_store, block_store, app)
        self._interval = block_interval_ns

    def build(
        self, upto: int, plan: Callable[[int], BlockPlan] = lambda _h: BlockPlan()
    ) -> defer.Deferred[State]:
        """Handshake with the app, then add blocks until the store holds `upto`; resolves to the state."""
        return defer.ensureDeferred(self._build(upto, plan))

    async def _build(self, upto: int, plan: Callable[[int], BlockPlan]) -> State:
        state = await Handshaker(self._state_store, self._block_store, self._genesis, self._app).handshake()
        while state.last_block_height < upto:
            state = await self._next_block(state, plan(state.next_height()))
        return state

    def _last_commit(self, state: State) -> tuple[Commit, ExtendedCommit | None]:
        """The commit the next block carries, and its extended form when extensions were on."""
        if state.last_block_height == 0:
            return Commit.empty(), None
        height = state.last_block_height
        ext = self._block_store.load_extended_commit(height)
        if ext is not None:
            return ext.to_commit(), ext
        seen = self._block_store.load_seen_commit(height)
        if seen is None:
            raise RuntimeError(f"the store has no commit for height {height}: cannot extend the chain")
        return seen, None

    async def _next_block(self, state: State, height_plan: BlockPlan) -> State:
        last_commit, last_ext = self._last_commit(state)
        draft = make_block(state, height_plan.txs, last_commit)
        txs = await self._prepare(state, draft, last_ext)
        block = make_block(state, txs, last_commit)
        part_set = block.make_part_set()
        block_id = block.block_id()
        extensions_on = state.consensus_params.vote_extensions_enabled(block.height)
        extension = await self._extension(state, block) if extensions_on else None
        start = block.header.time.unix_nanos() + self._interval
        times = {
            val.address: Timestamp.from_unix_nanos(start + i * 1_000_000)
            for i, val in enumerate(state.validators.validators)
        }
        ext_commit = self._signers.sign_commit(
            state.chain_id,
            state.validators,
            block,
            block_id,
            times,
            extensions=None if extension is None else (lambda _addr, _h: extension),
            absent=height_plan.absent,
        )
        _require_quorum(state, ext_commit)
        self._block_store.save_block(
            block, part_set, ext_commit.to_commit(), ext_commit if extensions_on else None
        )
        return await self._executor.apply_block(state, block_id, block)

    async def _prepare(self, state: State, draft: Block, last_ext: ExtendedCommit | None) -> list[bytes]:
        request = abci_pb2.RequestPrepareProposal(
            max_tx_bytes=max_data_bytes(state.consensus_params, len(state.validators)),
            txs=list(draft.txs),
            height=draft.height,
            next_validators_hash=draft.header.next_validators_hash,
            proposer_address=draft.header.proposer_address,
        )
        draft.header.time.fill_proto(request.time)
        request.local_last_commit.CopyFrom(local_last_commit(draft, state, last_ext))
        response = await self._app.prepare_proposal(request)
        return list(response.txs)

    async def _extension(self, state: State, block: Block) -> bytes:
        request = abci_pb2.RequestExtendVote(
            hash=block.hash(),
            height=block.height,
            txs=list(block.txs),
            next_validators_hash=block.header.next_validators_hash,
            proposer_address=block.header.proposer_address,
        )
        block.header.time.fill_proto(request.time)
        request.proposed_last_commit.CopyFrom(
            decided_last_commit(block, state.last_validators, state.initial_height)
        )
        response = await self._app.extend_vote(request)
        return bytes(response.vote_extension)


def _require_quorum(state: State, commit: ExtendedCommit) -> None:
    """A plan may leave validators out, but never so many that the commit would be invalid."""
    signed = sum(
        val.voting_power
        for val, sig in zip(state.validators.validators, commit.extended_signatures, strict=True)
        if sig.commit_sig.block_id_flag == BlockIDFlag.COMMIT
    )
    total = state.validators.total_voting_power()
    if signed * 3 <= total * 2:
        raise ValueError(
            f"height {commit.height}: the plan leaves {signed} of {total} voting power signing; "
            "a commit needs more than 2/3"
        )


def local_last_commit(
    draft: Block, state: State, last_ext: ExtendedCommit | None
) -> abci_pb2.ExtendedCommitInfo:
    """`buildExtendedCommitInfo`: the last commit's votes, with each vote extension when they were on."""
    info = abci_pb2.ExtendedCommitInfo()
    if draft.height == state.initial_height or draft.last_commit is None:
        return info
    info.round = draft.last_commit.round
    extensions = last_ext.extended_signatures if last_ext is not None else None
    for i, (val, sig) in enumerate(
        zip(state.last_validators.validators, draft.last_commit.signatures, strict=True)
    ):
        vote = info.votes.add(block_id_flag=int(sig.block_id_flag))
        vote.validator.address = val.address
        vote.validator.power = val.voting_power
        if extensions is not None:
            vote.vote_extension = extensions[i].extension
            vote.extension_signature = extensions[i].extension_signature
    return info
