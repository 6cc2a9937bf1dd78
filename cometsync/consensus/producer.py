"""Block production as a CometBFT proposer and its validators would do it (pure, no I/O).

Shared by the test/benchmark chain builder and the `solo` devnet engine: one place that knows how
CometBFT's `State.MakeBlock` fills a header and how precommits (with vote extensions) are signed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from cometsync.crypto import PrivKey
from cometsync.state.state import State
from cometsync.state.validation import median_time
from cometsync.types import (
    Block,
    BlockID,
    BlockIDFlag,
    Commit,
    CommitSig,
    ConsensusParams,
    ExtendedCommit,
    ExtendedCommitSig,
    Header,
    SignedMsgType,
    Timestamp,
    ValidatorSet,
    txs_hash,
    vote_extension_sign_bytes,
    vote_sign_bytes,
)
from cometsync.types.evidence import Evidence, evidence_list_hash
from cometsync.types.header import Version

ExtensionSource = Callable[[bytes, int], bytes]
"""(validator address, height) -> the vote extension that validator's app returned."""

MIN_VOTE_TIME_STEP_NANOS = 1_000_000
"""CometBFT's `voteTime`: a vote is at least 1 ms after the block it votes for."""

MAX_BLOCK_SIZE_BYTES = 104_857_600
MAX_HEADER_BYTES = 626
MAX_OVERHEAD_FOR_BLOCK = 11
MAX_COMMIT_OVERHEAD_BYTES = 94
MAX_COMMIT_SIG_BYTES = 109 + 2  # a CommitSig plus its repeated-field tag and length


def max_data_bytes(params: ConsensusParams, validator_count: int, evidence_bytes: int = 0) -> int:
    """`types.MaxDataBytes`: room left for txs once header, last commit and evidence are accounted for."""
    max_bytes = MAX_BLOCK_SIZE_BYTES if params.block_max_bytes == -1 else params.block_max_bytes
    room = (
        max_bytes
        - MAX_OVERHEAD_FOR_BLOCK
        - MAX_HEADER_BYTES
        - (MAX_COMMIT_OVERHEAD_BYTES + MAX_COMMIT_SIG_BYTES * validator_count)
        - evidence_bytes
    )
    if room < 0:
        raise ValueError(f"block max_bytes {max_bytes} cannot hold a header, a commit and the evidence")
    return room


def make_block(
    state: State,
    txs: Sequence[bytes],
    last_commit: Commit,
    evidence: Sequence[Evidence] = (),
) -> Block:
    """`State.MakeBlock`: a block at the state's next height, proposed by the state's current proposer."""
    height = state.next_height()
    if height == state.initial_height:
        time = state.last_block_time
    else:
        time = median_time(last_commit, state.last_validators)
    evidence_tuple = tuple(evidence)
    header = Header(
        version=Version(block=state.block_version, app=state.app_version),
        chain_id=state.chain_id,
        height=height,
        time=time,
        last_block_id=state.last_block_id,
        last_commit_hash=last_commit.hash(),
        data_hash=txs_hash(txs),
        validators_hash=state.validators.hash(),
        next_validators_hash=state.next_validators.hash(),
        consensus_hash=state.consensus_params.hash(),
        app_hash=state.app_hash,
        last_results_hash=state.last_results_hash,
        evidence_hash=evidence_list_hash(evidence_tuple),
        proposer_address=state.validators.proposer.address,
    )
    return Block(header=header, txs=tuple(txs), evidence=evidence_tuple, last_commit=last_commit)


def vote_time(block: Block, now: Timestamp) -> Timestamp:
    """A precommit's timestamp: the local clock, but never before block time + 1 ms (CometBFT `voteTime`)."""
    floor = block.header.time.unix_nanos() + MIN_VOTE_TIME_STEP_NANOS
    return Timestamp.from_unix_nanos(max(now.unix_nanos(), floor))


@dataclass(frozen=True)
class CommitSigners:
    """The validator keys a producer holds, by address; validators without a key stay absent."""

    keys: Mapping[bytes, PrivKey]

    @classmethod
    def of(cls, keys: Sequence[PrivKey]) -> CommitSigners:
        return cls({key.pub_key.address(): key for key in keys})

    def sign_commit(
        self,
        chain_id: str,
        validators: ValidatorSet,
        block: Block,
        block_id: BlockID,
        times: Mapping[bytes, Timestamp] | Timestamp,
        extensions: ExtensionSource | None = None,
        absent: Collection[bytes] = (),
        round_: int = 0,
    ) -> ExtendedCommit:
        """Precommits for `block_id` from every held key (minus `absent`), in validator-set order.

        With `extensions`, each signer attaches its app's vote extension and signs it, as validators do
        once vote extensions are enabled; without, the extension fields stay empty.
        """
        height = block.height
        sigs: list[ExtendedCommitSig] = []
        for validator in validators.validators:
            key = self.keys.get(validator.address)
            if key is None or validator.address in absent:
                sigs.append(ExtendedCommitSig(CommitSig.absent()))
                continue
            when = times if isinstance(times, Timestamp) else times[validator.address]
            when = vote_time(block, when)
            signature = key.sign(
                vote_sign_bytes(chain_id, SignedMsgType.PRECOMMIT, height, round_, block_id, when)
            )
            commit_sig = CommitSig(BlockIDFlag.COMMIT, validator.address, when, signature)
            if extensions is None:
                sigs.append(ExtendedCommitSig(commit_sig))
                continue
            extension = extensions(validator.address, height)
            ext_signature = key.sign(vote_extension_sign_bytes(chain_id, height, round_, extension))
            sigs.append(ExtendedCommitSig(commit_sig, extension, ext_signature))
        return ExtendedCommit(height=height, round=round_, block_id=block_id, extended_signatures=tuple(sigs))
