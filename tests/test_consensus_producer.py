"""The block producer reproduces CometBFT's MakeBlock on a real chain and signs commits that verify."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from cometsync.consensus.producer import CommitSigners, make_block, vote_time
from cometsync.crypto import PrivKey
from cometsync.state.state import State
from cometsync.types import (
    Block,
    BlockID,
    BlockIDFlag,
    Commit,
    ConsensusParams,
    Genesis,
    InsufficientVotingPower,
    Timestamp,
    Validator,
    ValidatorSet,
)

LOCALNET = Path(__file__).parent / "data" / "cometbft-v0.38.25-localnet"
EMPTY_RESULTS_HASH = hashlib.sha256(b"").digest()


def after_init_chain(state: State, app_hash: bytes, app_version: int) -> State:
    """What the handshake does to a genesis state with CometBFT's kvstore (app version, InitChain hash)."""
    return dataclasses.replace(
        state, app_hash=app_hash, app_version=app_version, last_results_hash=EMPTY_RESULTS_HASH
    )


def test_first_block_of_a_real_chain_is_reproduced_byte_exact() -> None:
    genesis = Genesis.load(LOCALNET / "genesis.json")
    state = after_init_chain(State.from_genesis(genesis), app_hash=bytes(8), app_version=1)
    real = Block.from_proto_bytes((LOCALNET / "blocks" / "1.pb").read_bytes())
    produced = make_block(state, [], Commit.empty())
    assert produced.header == real.header
    assert produced.to_proto_bytes() == real.to_proto_bytes()
    assert produced.block_id() == real.block_id()


def devnet(powers: list[int]) -> tuple[State, list[PrivKey]]:
    keys = [PrivKey(hashlib.sha256(f"validator-{i}".encode()).digest()) for i in range(len(powers))]
    validators = ValidatorSet.new(
        Validator.from_pub_key(key.pub_key.key, power) for key, power in zip(keys, powers, strict=True)
    )
    state = State(
        chain_id="producer-test",
        initial_height=1,
        last_block_height=0,
        last_block_id=BlockID(),
        last_block_time=Timestamp.parse("2026-11-21T00:00:00.123456789Z"),
        next_validators=validators.copy_increment_proposer_priority(1),
        validators=validators,
        last_validators=ValidatorSet([]),
        last_height_validators_changed=1,
        consensus_params=ConsensusParams(),
        last_height_consensus_params_changed=1,
        last_results_hash=EMPTY_RESULTS_HASH,
        app_hash=bytes(8),
    )
    return state, keys


def test_signed_commit_verifies_fully_and_with_extensions() -> None:
    state, keys = devnet([10, 10, 10, 10])
    block = make_block(state, [b"k=v"], Commit.empty())
    block.validate_basic()
    block_id = block.block_id()
    now = Timestamp.parse("2026-11-21T00:00:01Z")
    signers = CommitSigners.of(keys)
    ext = signers.sign_commit(
        state.chain_id, state.validators, block, block_id, now, extensions=lambda a, h: a[:4] + bytes([h])
    )
    state.validators.verify_commit(state.chain_id, block_id, block.height, ext.to_commit())
    state.validators.verify_commit_extended(state.chain_id, block_id, block.height, ext)
    assert all(sig.commit_sig.timestamp == now for sig in ext.extended_signatures)


def test_absent_signers_and_the_two_thirds_rule() -> None:
    state, keys = devnet([10, 10, 10, 10])
    block = make_block(state, [], Commit.empty())
    block_id = block.block_id()
    signers = CommitSigners.of(keys)
    now = Timestamp.parse("2026-11-21T00:00:01Z")
    one_absent = signers.sign_commit(
        state.chain_id, state.validators, block, block_id, now, absent={keys[0].pub_key.address()}
    ).to_commit()
    flags = [sig.block_id_flag for sig in one_absent.signatures]
    assert flags.count(BlockIDFlag.ABSENT) == 1
    state.validators.verify_commit(state.chain_id, block_id, block.height, one_absent)
    two_absent = signers.sign_commit(
        state.chain_id,
        state.validators,
        block,
        block_id,
        now,
        absent={keys[0].pub_key.address(), keys[1].pub_key.address()},
    ).to_commit()
    with pytest.raises(InsufficientVotingPower):
        state.validators.verify_commit(state.chain_id, block_id, block.height, two_absent)


def test_vote_time_never_precedes_the_block() -> None:
    state, _ = devnet([1])
    block = make_block(state, [], Commit.empty())
    early = Timestamp(block.header.time.seconds - 5)
    assert vote_time(block, early).unix_nanos() == block.header.time.unix_nanos() + 1_000_000
    later = Timestamp(block.header.time.seconds + 5)
    assert vote_time(block, later) == later


def test_next_block_time_is_the_weighted_median_of_the_last_commit() -> None:
    state, keys = devnet([40, 30, 20, 10])
    first = make_block(state, [], Commit.empty())
    block_id = first.block_id()
    base = state.last_block_time.unix_nanos()
    times = {
        key.pub_key.address(): Timestamp.from_unix_nanos(base + (i + 1) * 1_000_000_000)
        for i, key in enumerate(keys)
    }
    commit = CommitSigners.of(keys).sign_commit(state.chain_id, state.validators, first, block_id, times)
    next_state = dataclasses.replace(
        state,
        last_block_height=1,
        last_block_id=block_id,
        last_block_time=first.header.time,
        last_validators=state.validators,
        validators=state.next_validators,
        next_validators=state.next_validators.copy_increment_proposer_priority(1),
    )
    second = make_block(next_state, [], commit.to_commit())
    # Powers 40/30/20/10 voting at +1s/+2s/+3s/+4s: half of 100 is reached by the 40 and 30 → +2 s.
    assert second.header.time == times[keys[1].pub_key.address()]
    assert second.header.proposer_address == next_state.validators.proposer.address
