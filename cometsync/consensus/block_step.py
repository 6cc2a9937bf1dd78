"""One committed height, as a CometBFT proposer and its validators produce it (the I/O half of `producer`).

PrepareProposal, `make_block`, ExtendVote, signed precommits, save (seen or extended commit) and apply
through the executor. Shared by the `solo` engine and the test/benchmark chain builder, which differ only
in where txs, vote times and absent validators come from.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from twisted.internet import defer

from cometsync.consensus.producer import CommitSigners, make_block, max_data_bytes
from cometsync.crypto.sign_state import STEP_PRECOMMIT, SignStateFile
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.state import BlockExecutor, State
from cometsync.state.app_conn import ConsensusApp
from cometsync.state.transition import decided_last_commit
from cometsync.store import BlockStore
from cometsync.types import (
    Block,
    BlockIDFlag,
    Commit,
    ExtendedCommit,
    SignedMsgType,
    Timestamp,
    vote_sign_bytes,
)

VoteTimes = Callable[[Block, State], Mapping[bytes, Timestamp] | Timestamp]
"""(block, state) -> every signer's precommit time, or one time for all (floored by `vote_time`)."""


class ProducerApp(ConsensusApp, Protocol):
    """What producing a block asks of the app besides execution: tx selection and vote extensions."""

    def prepare_proposal(
        self, request: abci_pb2.RequestPrepareProposal
    ) -> defer.Deferred[abci_pb2.ResponsePrepareProposal]: ...

    def extend_vote(
        self, request: abci_pb2.RequestExtendVote
    ) -> defer.Deferred[abci_pb2.ResponseExtendVote]: ...


@dataclass(frozen=True)
class GuardedKey:
    """A held key whose precommits go through its `priv_validator_state.json` (the node's own key)."""

    address: bytes
    state_file: SignStateFile


@dataclass(frozen=True)
class CommittedBlock:
    """A height that was produced, signed, stored and applied."""

    block: Block
    commit: ExtendedCommit
    state: State


class BlockStep:
    """Extends the chain in `block_store` by one block signed with `signers`, applied through `executor`."""

    def __init__(
        self,
        signers: CommitSigners,
        app: ProducerApp,
        block_store: BlockStore,
        executor: BlockExecutor,
        guarded: GuardedKey | None = None,
    ) -> None:
        self._signers = signers
        self._app = app
        self._block_store = block_store
        self._executor = executor
        self._guarded = guarded

    def commit_next(
        self,
        state: State,
        candidate_txs: Sequence[bytes],
        vote_times: VoteTimes,
        absent: Collection[bytes] = (),
    ) -> defer.Deferred[CommittedBlock]:
        """Produce height `state.next_height()` from `candidate_txs` (the app may reorder or drop them)."""
        return defer.ensureDeferred(self._commit_next(state, candidate_txs, vote_times, absent))

    async def _commit_next(
        self,
        state: State,
        candidate_txs: Sequence[bytes],
        vote_times: VoteTimes,
        absent: Collection[bytes],
    ) -> CommittedBlock:
        last_commit, last_ext = self.last_commit(state)
        draft = make_block(state, candidate_txs, last_commit)
        txs = await self._prepare(state, draft, last_ext)
        block = make_block(state, txs, last_commit)
        part_set = block.make_part_set()
        block_id = block.block_id(part_set)
        extensions_on = state.consensus_params.vote_extensions_enabled(block.height)
        extension = await self._extension(state, block) if extensions_on else None
        ext_commit = self._signers.sign_commit(
            state.chain_id,
            state.validators,
            block,
            block_id,
            vote_times(block, state),
            extensions=None if extension is None else (lambda _addr, _h: extension),
            absent=absent,
            round_=self._round(block.height),
        )
        require_quorum(state, ext_commit)
        self._record_guarded_signature(state.chain_id, ext_commit)
        self._block_store.save_block(
            block, part_set, ext_commit.to_commit(), ext_commit if extensions_on else None
        )
        new_state = await self._executor.apply_block(state, block_id, block)
        return CommittedBlock(block, ext_commit, new_state)

    def _round(self, height: int) -> int:
        """0, unless the guarded key already signed this height (a crash after signing): then a new round,
        as consensus would move to, so the key never signs a second block in a round it signed."""
        if self._guarded is None:
            return 0
        return self._guarded.state_file.next_free_round(height)

    def _record_guarded_signature(self, chain_id: str, commit: ExtendedCommit) -> None:
        if self._guarded is None:
            return
        for ext_sig in commit.extended_signatures:
            sig = ext_sig.commit_sig
            if sig.validator_address == self._guarded.address and sig.block_id_flag == BlockIDFlag.COMMIT:
                sign_bytes = vote_sign_bytes(
                    chain_id,
                    SignedMsgType.PRECOMMIT,
                    commit.height,
                    commit.round,
                    commit.block_id,
                    sig.timestamp,
                )
                self._guarded.state_file.record(
                    commit.height, commit.round, STEP_PRECOMMIT, sig.signature, sign_bytes
                )

    def last_commit(self, state: State) -> tuple[Commit, ExtendedCommit | None]:
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


def signed_power(state: State, commit: ExtendedCommit) -> int:
    """Voting power of the validators whose precommit for the block is in `commit`."""
    return sum(
        val.voting_power
        for val, sig in zip(state.validators.validators, commit.extended_signatures, strict=True)
        if sig.commit_sig.block_id_flag == BlockIDFlag.COMMIT
    )


def require_quorum(state: State, commit: ExtendedCommit) -> None:
    """Never store a commit that a CometBFT node would reject (it needs more than 2/3 of the power)."""
    signed = signed_power(state, commit)
    total = state.validators.total_voting_power()
    if signed * 3 <= total * 2:
        raise ValueError(
            f"height {commit.height}: only {signed} of {total} voting power signed; "
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
