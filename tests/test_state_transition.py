"""Pure state transition and validation on the real localnet chain, with CometBFT's recorded responses.

No app here: each block's ResponseFinalizeBlock is rebuilt from the node's `/block_results` (empty for
blocks without txs), so validate_block + next_state alone must reproduce every next header's hashes.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path

import pytest
from state_fixtures import LOCALNET, LOCALNET_CHAIN

from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.state import InvalidABCIResponse, InvalidBlockForState, State, StateStore, median_time
from cometsync.state.transition import decided_last_commit, next_state, validator_updates
from cometsync.state.validation import validate_block
from cometsync.types import BlockID, PartSet, Timestamp, ValidatorSet, hash_from_byte_slices

TIP = LOCALNET_CHAIN.tip


def _recorded_response(height: int, app_hash: bytes) -> abci_pb2.ResponseFinalizeBlock:
    response = abci_pb2.ResponseFinalizeBlock(app_hash=app_hash)
    path = LOCALNET / "block_results" / f"{height}.json"
    if not path.exists():
        return response
    recorded = json.loads(path.read_text())
    for tx in recorded["txs_results"]:
        response.tx_results.add(
            code=tx["code"],
            data=base64.b64decode(tx["data"] or ""),
            gas_wanted=int(tx["gas_wanted"]),
            gas_used=int(tx["gas_used"]),
        )
    for update in recorded["validator_updates"] or ():
        key = base64.b64decode(update["pub_key"]["Sum"]["value"]["ed25519"])
        response.validator_updates.add(pub_key={"ed25519": key}, power=int(update["power"]))
    response.app_hash = base64.b64decode(recorded["app_hash"])
    return response


def _block_id(height: int) -> BlockID:
    block = LOCALNET_CHAIN.block(height)
    return BlockID(block.hash(), PartSet.from_data(block.to_proto_bytes()).header())


def _genesis_state() -> State:
    state = State.from_genesis(LOCALNET_CHAIN.genesis())
    # What the handshake sets from the kvstore's Info (app version 1) and InitChain (its empty-state hash).
    return replace(
        state,
        app_version=1,
        app_hash=LOCALNET_CHAIN.block(1).header.app_hash,
        last_results_hash=hash_from_byte_slices([]),
    )


def _states_through(upto: int, store: StateStore | None = None) -> list[State]:
    state = _genesis_state()
    states = [state]
    if store is not None:
        store.save(state)
    for height in range(1, upto + 1):
        block = LOCALNET_CHAIN.block(height)
        validate_block(state, block)
        next_app_hash = LOCALNET_CHAIN.block(height + 1).header.app_hash if height < TIP else b""
        state = next_state(state, _block_id(height), block.header, _recorded_response(height, next_app_hash))
        if store is not None:
            store.save(state)
        states.append(state)
    return states


def test_recorded_responses_reproduce_every_header(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.db")
    states = _states_through(TIP - 1, store)
    for height in range(2, TIP):
        header = LOCALNET_CHAIN.block(height + 1).header
        assert states[height].last_results_hash == header.last_results_hash
        assert states[height].next_validators.hash() == header.next_validators_hash
    assert states[153].validators.hash() != states[152].validators.hash()
    # Validator sets come back from the Go key layout, full copies only at change heights.
    for height in (2, 100, 153, 154, 155, 300):
        assert store.load_validators(height).to_proto() == states[height - 1].validators.to_proto()
    loaded = store.load()
    assert loaded is not None and loaded.to_bytes() == states[-1].to_bytes()
    store.close()


def test_validate_block_rejects_state_mismatches() -> None:
    state = _states_through(40)[-1]
    block = LOCALNET_CHAIN.block(41)
    validate_block(state, block)
    cases = {
        "wrong Block.Header.AppHash": replace(state, app_hash=b"\x01" * 8),
        "wrong Block.Header.LastResultsHash": replace(state, last_results_hash=b"\x02" * 32),
        "wrong chain id": replace(state, chain_id="other"),
        "wrong height": replace(state, last_block_height=39),
        "wrong Block.Header.Version": replace(state, app_version=7),
        "wrong Block.Header.ValidatorsHash": replace(
            state, validators=ValidatorSet(state.validators.validators[:3])
        ),
        "not greater than last block time": replace(state, last_block_time=block.header.time),
    }
    for message, bad_state in cases.items():
        with pytest.raises(InvalidBlockForState, match=message):
            validate_block(bad_state, block)
    expected = median_time(block.last_commit, state.last_validators)  # type: ignore[arg-type]
    assert expected == block.header.time
    late = replace(block, header=replace(block.header, time=Timestamp(expected.seconds + 1, expected.nanos)))
    with pytest.raises(InvalidBlockForState):
        validate_block(state, late)


def test_decided_last_commit_and_bad_updates() -> None:
    state = _states_through(160)[-1]
    block = LOCALNET_CHAIN.block(161)
    info = decided_last_commit(block, state.last_validators, state.initial_height)
    assert [vote.validator.power for vote in info.votes] == [20, 10, 10, 10]
    # Commit 160 (block 161's LastCommit) has one ABSENT signature on the real chain.
    assert sorted(vote.block_id_flag for vote in info.votes) == [1, 2, 2, 2]
    with pytest.raises(InvalidABCIResponse, match="negative"):
        validator_updates(
            [abci_pb2.ValidatorUpdate(pub_key={"ed25519": b"\x01" * 32}, power=-1)], state.consensus_params
        )
    with pytest.raises(InvalidABCIResponse, match="unsupported public key"):
        validator_updates(
            [abci_pb2.ValidatorUpdate(pub_key={"secp256k1": b"\x02" * 33}, power=1)], state.consensus_params
        )
    removal = [
        abci_pb2.ValidatorUpdate(pub_key={"ed25519": val.pub_key}, power=0)
        for val in state.next_validators.validators
    ]
    with pytest.raises(InvalidABCIResponse, match="empty set"):
        next_state(
            state, _block_id(161), block.header, abci_pb2.ResponseFinalizeBlock(validator_updates=removal)
        )
