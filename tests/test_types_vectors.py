"""CometBFT's own Go test vectors: header hash, vote sign bytes, merkle, wire encodings."""

from __future__ import annotations

import hashlib

import pytest
from types_fixtures import load_json

from cometsync.proto.tendermint.blocksync import types_pb2 as bs_pb2
from cometsync.proto.tendermint.types import evidence_pb2
from cometsync.types import (
    Block,
    BlockID,
    Header,
    PartSet,
    SignedMsgType,
    Timestamp,
    Vote,
    hash_from_byte_slices,
    inner_hash,
    leaf_hash,
    vote_sign_bytes,
)
from cometsync.types.evidence import evidence_from_rpc_json, evidence_to_proto
from cometsync.types.merkle import proofs_from_byte_slices

WIRE = load_json("cometbft-v0.38/proto_wire_vectors.json")


def test_header_hash_vectors() -> None:
    full, no_validators = load_json("cometbft-v0.38/header_hash.json")["cases"]
    header = Header.from_rpc_json(full["header"])
    assert [leaf.hex() for leaf in header.hash_leaves()] == full["leaf_bytes_hex"]
    assert header.hash().hex().upper() == full["expected_hash"]
    assert Header.from_rpc_json(no_validators["header"]).hash() is None


def test_header_with_known_hash_from_tendermint_rs() -> None:
    header = Header.from_rpc_json(load_json("tendermint-rs/serialization/header_with_known_hash.json"))
    assert header.hash().hex().upper() == "F30A71F2409FB15AACAEDB6CC122DFA2525BEE9CAE521721B06BFDCA291B8D56"


@pytest.mark.parametrize("case", load_json("cometbft-v0.38/vote_sign_bytes.json")["cases"])
def test_vote_sign_bytes_vectors(case: dict[str, object]) -> None:
    vote = Vote.from_rpc_json(case["vote"])  # type: ignore[arg-type]
    expected = case["expected_sign_bytes_hex"]
    assert vote.sign_bytes(str(case["chain_id"])).hex() == expected
    direct = vote_sign_bytes(
        str(case["chain_id"]), vote.type, vote.height, vote.round, vote.block_id, vote.timestamp
    )
    assert direct.hex() == expected


def test_merkle_vectors() -> None:
    vectors = load_json("cometbft-v0.38/merkle.json")
    for case in vectors["hash_from_byte_slices"]:
        items = [bytes.fromhex(item) for item in case["items_hex"] or []]
        assert hash_from_byte_slices(items).hex() == case["expected_root_hex"], case["name"]
    empty_tree, empty_leaf, leaf, node = vectors["rfc6962"]
    assert hash_from_byte_slices([]).hex() == empty_tree["expected_hex"]
    assert leaf_hash(b"").hex() == empty_leaf["expected_hex"]
    assert leaf_hash(bytes.fromhex(leaf["leaf_hex"])).hex() == leaf["expected_hex"]
    left, right = bytes.fromhex(node["left_hex"]), bytes.fromhex(node["right_hex"])
    assert inner_hash(left, right).hex() == node["expected_hex"]


@pytest.mark.parametrize("count", [1, 2, 3, 5, 7, 8, 9, 17])
def test_merkle_proofs_verify_and_reject_other_leaves(count: int) -> None:
    items = [bytes([i]) * (i + 1) for i in range(count)]
    root, proofs = proofs_from_byte_slices(items)
    assert root == hash_from_byte_slices(items)
    for index, proof in enumerate(proofs):
        assert proof.verify(root, items[index])
        assert not proof.verify(root, items[index] + b"x")
        assert not proof.verify(hashlib.sha256(root).digest(), items[index])


def test_blocksync_block_response_vector() -> None:
    vector = next(v for v in WIRE["blocksync"]["vectors"] if v["name"] == "BlockResponseMessage")
    block = Block.from_rpc_json(vector["message"]["BlockResponse"]["block"])
    assert block.last_commit is None and block.hash() is None
    assert block.data_hash().hex().upper() == block.header.data_hash.hex().upper()
    message = bs_pb2.Message(block_response=bs_pb2.BlockResponse(block=block.to_proto()))
    assert message.SerializeToString().hex() == vector["expected_hex"]
    wire = bs_pb2.Message.FromString(bytes.fromhex(vector["expected_hex"]))
    decoded = Block.from_proto_bytes(wire.block_response.block.SerializeToString())
    assert decoded == block


@pytest.mark.parametrize("name", ["Vote_without_ext", "Vote_with_ext"])
def test_vote_wire_vectors(name: str) -> None:
    vector = next(v for v in WIRE["consensus"]["vectors"] if v["name"] == name)
    vote = Vote.from_rpc_json(vector["message"]["Vote"])
    assert vote.type == SignedMsgType.PRECOMMIT
    encoded = vote.to_proto().SerializeToString().hex()
    # The consensus Message wrapper adds a 2-byte tag/length, the oneof field 1 wrapper another 2.
    assert vector["expected_hex"].endswith(encoded) and len(vector["expected_hex"]) == len(encoded) + 8


def test_evidence_list_wire_vector() -> None:
    vector = WIRE["evidence"]["vectors"][0]
    evidence = [evidence_from_rpc_json(item) for item in vector["evidence_list"]]
    pb = evidence_pb2.EvidenceList(evidence=[evidence_to_proto(item) for item in evidence])
    assert pb.SerializeToString().hex() == vector["expected_hex"]


def test_timestamp_rfc3339_round_trip_and_go_zero_time() -> None:
    zero = Timestamp.parse("0001-01-01T00:00:00Z")
    assert zero.is_zero() and zero.seconds == -62135596800
    assert zero.encode().hex() == "088092b8c398feffffff01"
    stamp = Timestamp.parse("2023-05-17T14:12:53.605374524Z")
    assert stamp.rfc3339() == "2023-05-17T14:12:53.605374524Z"
    assert Timestamp.parse("2017-12-25T03:00:01.234Z").rfc3339() == "2017-12-25T03:00:01.234Z"
    assert Timestamp.parse("2017-12-25T05:00:01.5+02:00") == Timestamp.parse("2017-12-25T03:00:01.5Z")
    with pytest.raises(ValueError):
        Timestamp.parse("yesterday")


def test_part_set_round_trip_and_rejects_bad_proofs() -> None:
    data = bytes(range(256)) * 700
    part_set = PartSet.from_data(data, part_size=65536)
    assert part_set.total == 3 and part_set.data() == data
    rebuilt = PartSet.from_parts(part_set.header(), part_set.parts)
    assert rebuilt.data() == data
    from cometsync.types import InvalidPartSet, Part

    forged = Part(1, part_set.parts[1].bytes[:-1] + b"\x00", part_set.parts[1].proof)
    with pytest.raises(InvalidPartSet, match="#1"):
        PartSet.from_parts(part_set.header(), [part_set.parts[0], forged, part_set.parts[2]])
    with pytest.raises(InvalidPartSet):
        PartSet.from_parts(part_set.header(), part_set.parts[:2])
    assert BlockID(b"\x01" * 32, part_set.header()).is_complete()
