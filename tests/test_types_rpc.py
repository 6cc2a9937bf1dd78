"""Recorded RPC responses of real nodes: tendermint-rs kvstore v0.38, Celestia, cometbft-ts."""

from __future__ import annotations

import base64
import hashlib

import pytest
from types_fixtures import load_json

from cometsync.types import (
    Block,
    BlockID,
    BlockIDFlag,
    Commit,
    DuplicateVoteEvidence,
    Genesis,
    Header,
    Proof,
    SignedHeader,
    ValidatorSet,
    tx_hash,
    txs_hash,
)

KV = "tendermint-rs/kvstore_v0_38/incoming"
KV_GENESIS = Genesis.from_json(load_json(f"{KV}/genesis.json"))
KV_VALIDATORS = KV_GENESIS.validator_set()


def _check_kvstore_block(result: dict[str, object], verify_last_commit: bool = True) -> Block:
    block = Block.from_rpc_json(result)
    block_id = BlockID.from_rpc_json(result)
    assert block.hash() == block_id.hash
    assert block.make_part_set().header() == block_id.part_set_header
    block.validate_basic()
    if verify_last_commit and block.header.height > 1:
        assert block.last_commit is not None
        KV_VALIDATORS.verify_commit(
            "dockerchain", block.header.last_block_id, block.header.height - 1, block.last_commit
        )
    return block


def test_kvstore_genesis_hashes() -> None:
    assert (
        KV_VALIDATORS.hash().hex().upper()
        == "33415EFFCEDA5BD0A3A443A727457D9F7B9E38389BF27A936FEDF749A7B7566E"
    )
    assert KV_GENESIS.consensus_params.hash().hex().upper() == (
        "048091BC7DDC283F77BFBF91D73C44DA58C3DF8A9CBC867405D8B7F3DAADA22F"
    )


@pytest.mark.parametrize("name", ["block_at_height_1", "block_at_height_10"])
def test_kvstore_blocks(name: str) -> None:
    block = _check_kvstore_block(load_json(f"{KV}/{name}.json")["result"])
    if block.header.height == 1:
        assert block.header.data_hash == hashlib.sha256(b"").digest()


def test_kvstore_block_by_hash_from_another_run() -> None:
    _check_kvstore_block(load_json(f"{KV}/block_by_hash.json")["result"], verify_last_commit=False)


def test_kvstore_block_search_chains_and_verifies() -> None:
    previous: BlockID | None = None
    for item in load_json(f"{KV}/block_search.json")["result"]["blocks"]:
        block = _check_kvstore_block(item)
        if previous is not None:
            assert block.header.last_block_id == previous
        previous = BlockID.from_rpc_json(item)


def test_kvstore_new_block_events() -> None:
    for index in range(5):
        event = load_json(f"{KV}/subscribe_newblock_{index}.json")["result"]["data"]["value"]
        _check_kvstore_block(event)


def test_kvstore_block_with_duplicate_vote_evidence() -> None:
    block = _check_kvstore_block(
        load_json(f"{KV}/block_search_evidence.json")["result"]["blocks"][0], verify_last_commit=False
    )
    assert isinstance(block.evidence[0], DuplicateVoteEvidence)
    assert block.evidence_hash().hex().upper() == (
        "051CD844C65A51852281128722BC6BE700F2CC288F6C4AB808E06D9EF82170E5"
    )


def test_kvstore_commit_and_blockchain_metas() -> None:
    result = load_json(f"{KV}/commit_at_height_10.json")["result"]
    signed = SignedHeader.from_rpc_json(result)
    assert signed.header.hash() == signed.commit.block_id.hash
    KV_VALIDATORS.verify_commit("dockerchain", signed.commit.block_id, 10, signed.commit)
    for meta in load_json(f"{KV}/blockchain_from_1_to_10.json")["result"]["block_metas"]:
        assert Header.from_rpc_json(meta["header"]).hash() == BlockID.from_rpc_json(meta["block_id"]).hash


def test_kvstore_tx_proofs() -> None:
    for item in load_json(f"{KV}/tx_search_with_prove.json")["result"]["txs"]:
        tx = base64.b64decode(item["tx"])
        proof = Proof(1, 0, base64.b64decode(item["proof"]["proof"]["leaf_hash"]), ())
        assert tx_hash(tx).hex().upper() == item["hash"]
        assert proof.verify(bytes.fromhex(item["proof"]["root_hash"]), tx_hash(tx))
        assert txs_hash([tx]).hex().upper() == item["proof"]["root_hash"]


def _commit_case(path: str, validators_path: str, chain_id: str) -> tuple[Commit, ValidatorSet, int]:
    result = load_json(path)
    result = result.get("result", result)
    signed = SignedHeader.from_rpc_json(result)
    validators = ValidatorSet.from_rpc_json(load_json(validators_path))
    assert signed.header.hash() == signed.commit.block_id.hash
    assert validators.hash() == signed.header.validators_hash
    validators.verify_commit(chain_id, signed.commit.block_id, signed.header.height, signed.commit)
    signed_power = sum(
        validators.validators[i].voting_power
        for i, sig in enumerate(signed.commit.signatures)
        if sig.block_id_flag == BlockIDFlag.COMMIT
    )
    return signed.commit, validators, signed_power


def test_celestia_mainnet_100_validator_commit() -> None:
    base = "celestia-tendermintx/celestia-mainnet"
    commit, validators, power = _commit_case(
        f"{base}/3001/commit.json", f"{base}/3001/validators_1.json", "celestia"
    )
    assert (
        commit.block_id.hash.hex().upper()
        == "26B6BBC3F873B2C8B1DC838B31C8508C461BD4547147916D1AF60263607685FC"
    )
    assert validators.size() == 100 and power == validators.total_voting_power() == 235965599
    header_3000 = Header.from_rpc_json(load_json(f"{base}/3000/header.json")["result"]["header"])
    header_3001 = SignedHeader.from_rpc_json(load_json(f"{base}/3001/commit.json")["result"]).header
    assert header_3000.hash() == header_3001.last_block_id.hash
    assert header_3000.next_validators_hash == header_3001.validators_hash


@pytest.mark.parametrize(
    ("height", "expected_power", "total"), [(157001, 366764603, 367767574), (10501, 50100000, 75100000)]
)
def test_mocha_commits_with_nil_and_absent_votes(height: int, expected_power: int, total: int) -> None:
    base = f"celestia-tendermintx/mocha-4/{height}"
    commit, validators, power = _commit_case(f"{base}/commit.json", f"{base}/validators_1.json", "mocha-4")
    assert power == expected_power and validators.total_voting_power() == total
    assert any(sig.block_id_flag == BlockIDFlag.NIL for sig in commit.signatures)


@pytest.mark.parametrize("height", [157001, 157000, 50000, 10500, 10501])
def test_mocha_signed_blocks(height: int) -> None:
    result = load_json(f"celestia-tendermintx/mocha-4/{height}/signed_block.json")["result"]
    header = Header.from_rpc_json(result["header"])
    commit = Commit.from_rpc_json(result["commit"])
    validators = ValidatorSet.from_rpc_json(result["validator_set"])
    assert header.hash() == commit.block_id.hash
    validators.verify_commit("mocha-4", commit.block_id, height, commit)


def test_cometbft_ts_fixtures() -> None:
    webcat = load_json("cometbft-ts/webcat.json")
    signed = SignedHeader.from_rpc_json(webcat["signed_header"])
    validators = ValidatorSet.from_rpc_json(webcat["validator_set"])
    assert (
        signed.header.hash().hex().upper()
        == "1E1B52E922F1E20D8113D38A70675BFB0CF83609C00CD6CE637FC79B0C73A890"
    )
    validators.verify_commit("webcat-test-02", signed.commit.block_id, signed.header.height, signed.commit)
    _, validators, power = _commit_case(
        "cometbft-ts/commit-12.json", "cometbft-ts/validators-12.json", "chain-ORcSeX"
    )
    assert power == validators.total_voting_power()
