"""Chains made by real CometBFT v0.38.25 nodes (localnet-4v, voteext-4v), read from their block stores."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from types_fixtures import DATA, load_bytes, load_json

from cometsync.types import (
    Block,
    BlockMeta,
    Commit,
    DeterministicTxResult,
    ExtendedCommit,
    Genesis,
    Validator,
    ValidatorSet,
    results_hash,
)

LOCALNET = "cometbft-v0.38.25-localnet"
VOTEEXT = "cometbft-v0.38.25-voteext"
CHAINS = {LOCALNET: ("localnet-4v", 310), VOTEEXT: ("voteext-4v", 45)}


def _block(folder: str, height: int) -> Block:
    return Block.from_proto_bytes(load_bytes(f"{folder}/blocks/{height}.pb"))


def _validators(folder: str, height: int) -> ValidatorSet:
    return ValidatorSet.from_rpc_json(load_json(f"{folder}/validators/{height}.json"))


def _updates(folder: str, height: int) -> list[Validator]:
    path = DATA / folder / "block_results" / f"{height}.json"
    if not path.exists():
        return []
    updates: list[dict[str, Any]] = json.loads(path.read_text()).get("validator_updates") or []
    return [
        Validator.from_pub_key(base64.b64decode(upd["pub_key"]["Sum"]["value"]["ed25519"]), int(upd["power"]))
        for upd in updates
    ]


@pytest.mark.parametrize("folder", [LOCALNET, VOTEEXT])
def test_every_block_round_trips_hashes_and_verifies(folder: str) -> None:
    chain_id, tip = CHAINS[folder]
    previous: BlockMeta | None = None
    for height in range(1, tip + 1):
        raw = load_bytes(f"{folder}/blocks/{height}.pb")
        block = Block.from_proto_bytes(raw)
        assert block.to_proto_bytes() == raw
        block.validate_basic()
        meta = BlockMeta.from_proto_bytes(load_bytes(f"{folder}/blockmetas/{height}.pb"))
        assert meta.to_proto_bytes() == load_bytes(f"{folder}/blockmetas/{height}.pb")
        part_set = block.make_part_set()
        assert block.hash() == meta.block_id.hash
        assert part_set.header() == meta.block_id.part_set_header
        assert part_set.byte_size() == meta.block_size == len(raw)
        assert BlockMeta.from_block(block, part_set) == meta
        validators = _validators(folder, height)
        assert validators.hash() == block.header.validators_hash
        if height < tip:
            assert _validators(folder, height + 1).hash() == block.header.next_validators_hash
        if previous is not None:
            assert block.header.last_block_id == previous.block_id
            assert block.last_commit is not None
            commit_raw = load_bytes(f"{folder}/commits/{height - 1}.pb")
            assert block.last_commit.to_proto_bytes() == commit_raw
            assert Commit.from_proto_bytes(commit_raw).hash() == block.header.last_commit_hash
            _validators(folder, height - 1).verify_commit(
                chain_id, previous.block_id, height - 1, block.last_commit
            )
        previous = meta


@pytest.mark.parametrize(("folder", "tip"), [(LOCALNET, 310), (VOTEEXT, 45)])
def test_seen_commit_of_tip_verifies(folder: str, tip: int) -> None:
    chain_id, _ = CHAINS[folder]
    commit = Commit.from_proto_bytes(load_bytes(f"{folder}/seen_commit_{tip}.pb"))
    _validators(folder, tip).verify_commit(chain_id, _block(folder, tip).block_id(), tip, commit)


@pytest.mark.parametrize("folder", [LOCALNET, VOTEEXT])
def test_proposer_sequence_and_priorities_follow_cometbft(folder: str) -> None:
    """Replay CometBFT's state updates from genesis: proposer and every priority must match the RPC."""
    _, tip = CHAINS[folder]
    genesis = Genesis.load(DATA / folder / "genesis.json")
    current = genesis.validator_set()
    following = current.copy_increment_proposer_priority(1)
    for height in range(1, tip + 1):
        expected = _validators(folder, height)
        assert _block(folder, height).header.proposer_address == current.proposer.address, height
        assert [(v.address, v.voting_power, v.proposer_priority) for v in current.validators] == [
            (v.address, v.voting_power, v.proposer_priority) for v in expected.validators
        ], height
        upcoming = following.copy()
        upcoming.update_with_change_set(_updates(folder, height))
        upcoming.increment_proposer_priority(1)
        current, following = following, upcoming
    if folder == LOCALNET:
        assert _validators(folder, 153).hash() != _validators(folder, 154).hash()


@pytest.mark.parametrize("folder", [LOCALNET, VOTEEXT])
def test_genesis_and_results_hashes(folder: str) -> None:
    chain_id, tip = CHAINS[folder]
    genesis = Genesis.load(DATA / folder / "genesis.json")
    assert genesis.chain_id == chain_id and genesis.initial_height == 1
    first = _block(folder, 1)
    assert genesis.consensus_params.hash() == first.header.consensus_hash
    assert genesis.validator_set().hash() == first.header.validators_hash
    assert first.header.time == genesis.genesis_time
    for height in range(1, tip):
        path = DATA / folder / "block_results" / f"{height}.json"
        txs = json.loads(path.read_text())["txs_results"] or [] if path.exists() else []
        results = [DeterministicTxResult.from_rpc_json(tx) for tx in txs]
        assert results_hash(results) == _block(folder, height + 1).header.last_results_hash, height


@pytest.mark.parametrize("height", [1, 2, 62, 127, 151, 152, 153, 154, 155, 202, 310])
def test_rpc_json_matches_protobuf(height: int) -> None:
    block = _block(LOCALNET, height)
    rpc_block = load_json(f"{LOCALNET}/rpc_block/{height}.json")
    from_json = Block.from_rpc_json(rpc_block)
    assert from_json == block
    assert from_json.to_proto_bytes() == block.to_proto_bytes()
    assert block.to_rpc_json() == rpc_block
    rpc_commit = load_json(f"{LOCALNET}/rpc_commit/{height}.json")
    commit = Commit.from_rpc_json(rpc_commit)
    assert commit.block_id == block.block_id()
    assert commit.to_rpc_json() == rpc_commit["signed_header"]["commit"]
    _validators(LOCALNET, height).verify_commit("localnet-4v", block.block_id(), height, commit)


def test_extended_commits_verify_with_extension_signatures() -> None:
    validators_by_height = {h: _validators(VOTEEXT, h) for h in range(5, 46)}
    for height in range(5, 46):
        raw = load_bytes(f"{VOTEEXT}/extcommits/{height}.pb")
        ext = ExtendedCommit.from_proto_bytes(raw)
        assert ext.to_proto_bytes() == raw
        ext.validate_basic()
        ext.ensure_extensions(True)
        block_id = _block(VOTEEXT, height).block_id()
        validators_by_height[height].verify_commit_extended("voteext-4v", block_id, height, ext)
        validators_by_height[height].verify_commit("voteext-4v", block_id, height, ext.to_commit())
        for sig in ext.extended_signatures:
            assert bool(sig.extension) == (sig.commit_sig.block_id_flag == 2)
    genesis = Genesis.load(DATA / VOTEEXT / "genesis.json")
    assert not genesis.consensus_params.vote_extensions_enabled(4)
    assert genesis.consensus_params.vote_extensions_enabled(5)
