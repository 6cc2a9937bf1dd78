"""Signed commits, and the block carrying one, for any number of validators and without an app.

Tests and benchmarks of per-validator work (verification, encodings, proposer rotation) need the 100-200
validators of real chains; building a whole chain through an app for that would be slow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from cometsync.testing.chain import DevnetSpec
from cometsync.types import (
    Block,
    BlockID,
    BlockIDFlag,
    Commit,
    CommitSig,
    ConsensusParams,
    Header,
    PartSetHeader,
    SignedMsgType,
    Timestamp,
    ValidatorSet,
    Version,
    evidence_list_hash,
    txs_hash,
    vote_sign_bytes,
)

NANOS_PER_MILLI = 1_000_000
BLOCK_TIME = Timestamp.parse("2026-01-01T00:00:00Z")


@dataclass(frozen=True)
class CommitFixture:
    """`commit` signs `block_id` at `height`; `next_block` (height + 1) carries it as its LastCommit."""

    chain_id: str
    validators: ValidatorSet
    height: int
    block_id: BlockID
    commit: Commit
    next_block: Block


def _fake_hash(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def make_commit_fixture(
    validator_count: int,
    *,
    height: int = 7,
    round_: int = 0,
    absent: Collection[int] = (),
    nil: Collection[int] = (),
    txs: Sequence[bytes] = (),
    chain_id: str = "cometsync-validators",
) -> CommitFixture:
    """`validator_count` validators of power 10; the ones at `absent` / `nil` set indices miss or vote nil.

    Every vote gets its own timestamp (1 ms apart), as in real commits, so the sign bytes differ per vote.
    """
    spec = DevnetSpec(chain_id=chain_id, powers=(10,) * validator_count)
    priv_keys = spec.keys()
    keys = {key.pub_key.address(): key for key in priv_keys}
    validators = spec.genesis().validator_set()
    block_id = BlockID(_fake_hash(f"block {height}"), PartSetHeader(1, _fake_hash(f"parts {height}")))
    sigs = []
    for index, val in enumerate(validators.validators):
        if index in absent:
            sigs.append(CommitSig.absent())
            continue
        voted = BlockID() if index in nil else block_id
        when = Timestamp.from_unix_nanos(BLOCK_TIME.unix_nanos() + (index + 1) * NANOS_PER_MILLI)
        message = vote_sign_bytes(chain_id, SignedMsgType.PRECOMMIT, height, round_, voted, when)
        flag = BlockIDFlag.NIL if index in nil else BlockIDFlag.COMMIT
        sigs.append(CommitSig(flag, val.address, when, keys[val.address].sign(message)))
    commit = Commit(height, round_, block_id, tuple(sigs))
    header = Header(
        version=Version(),
        chain_id=chain_id,
        height=height + 1,
        time=Timestamp(BLOCK_TIME.seconds + 1, 0),
        last_block_id=block_id,
        last_commit_hash=commit.hash(),
        data_hash=txs_hash(txs),
        validators_hash=validators.hash(),
        next_validators_hash=validators.hash(),
        consensus_hash=ConsensusParams().hash(),
        app_hash=_fake_hash("app"),
        last_results_hash=_fake_hash("results"),
        evidence_hash=evidence_list_hash(()),
        proposer_address=validators.proposer.address,
    )
    next_block = Block(header, tuple(txs), (), commit)
    return CommitFixture(chain_id, validators, height, block_id, commit, next_block)
