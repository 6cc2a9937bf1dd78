"""The per-block fast paths of receiving and applying a block, each against the slow path it replaces.

Commits read straight off the wire (`commit_wire`) and the sub-slice canonical check of `Block.from_parsed`
against `Block.from_proto` + a full re-encode; the spliced `State.to_bytes` and hand-built validator-set
bytes against protobuf's encoder over a field-by-field message; FinalizeBlock votes and the median time
against plain transcriptions, including after the validator set changes. Inputs: CometBFT's real chains,
generated 100+ validator commits, and hypothesis-generated signatures and byte mutations.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

import plyvel
import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutations import mutated
from state_fixtures import LOCALNET, VOTEEXT

from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.proto.tendermint.state import types_pb2 as state_pb2
from cometsync.proto.tendermint.types import block_pb2, validator_pb2
from cometsync.proto.wire import message_field
from cometsync.state import State
from cometsync.state.store import StateStore, validators_key
from cometsync.state.transition import finalize_block_request, next_state
from cometsync.state.validation import median_time
from cometsync.testing import DevnetSpec
from cometsync.testing.commits import make_commit_fixture
from cometsync.types import (
    Block,
    BlockIDFlag,
    Commit,
    CommitSig,
    Timestamp,
    TypesError,
    Validator,
    ValidatorSet,
)
from cometsync.types.commit_wire import canonical_signatures

FUZZ = settings(max_examples=150, deadline=2000, database=None, suppress_health_check=[HealthCheck.too_slow])
INT64 = st.integers(-(1 << 63), (1 << 63) - 1)


def block_files(folder: Path) -> list[Path]:
    return sorted((folder / "blocks").glob("*.pb"), key=lambda path: int(path.stem))


def slow_from_parsed(pb: block_pb2.Block, data: bytes) -> tuple[Block, bool]:
    """What `from_parsed` did before: decode every field from the proto, re-encode all, compare."""
    block = Block.from_proto(pb)
    return block, bytes(block.to_proto().SerializeToString()) == data


def assert_same_decoding(data: bytes) -> None:
    """`from_parsed` agrees with the slow path: the same block or the same error, the same canonical
    verdict, and signature encodings equal to protobuf's."""
    try:
        pb = block_pb2.Block.FromString(data)
    except DecodeError:
        return
    try:
        expected, canonical = slow_from_parsed(pb, data)
    except TypesError as err:
        with pytest.raises(type(err), match=f"^{re.escape(str(err))}$"):
            Block.from_parsed(pb, data)
        return
    fast = Block.from_parsed(pb, data)
    assert fast == expected
    assert (fast.to_proto_bytes() is data) == canonical
    assert fast.to_proto_bytes() == expected.to_proto_bytes()
    commit = fast.last_commit
    if commit is not None:
        protos = [bytes(sig.SerializeToString()) for sig in commit.to_proto().signatures]
        assert list(commit.encoded_signatures()) == protos
        assert commit.to_proto_bytes() == bytes(commit.to_proto().SerializeToString())


def read_off_the_wire(commit: Commit) -> bool:
    """Whether the wire reader takes this commit's signatures (rather than falling back to the proto)."""
    body = commit.to_proto_bytes()
    head = len(body) - sum(2 + len(enc) for enc in commit.encoded_signatures())
    decoded = canonical_signatures(body, head, len(body))
    return decoded is not None and tuple(decoded[0]) == commit.signatures


# -- blocks and commits off the wire ----------------------------------------------------------------


def test_real_blocks_take_the_wire_path_and_keep_their_bytes() -> None:
    for folder in (LOCALNET, VOTEEXT):
        for path in block_files(folder):
            raw = path.read_bytes()
            assert_same_decoding(raw)
            block = Block.from_proto_bytes(raw)
            assert block.to_proto_bytes() is raw, path.name
            commit = block.last_commit
            assert commit is not None
            prefix = len(raw) - len(commit.to_proto_bytes())
            assert raw[prefix:] == commit.to_proto_bytes() == bytes(commit.to_proto().SerializeToString())
            assert read_off_the_wire(commit), path.name


def test_a_big_commit_with_absent_and_nil_votes_is_read_off_the_wire() -> None:
    fix = make_commit_fixture(150, height=123_456, round_=2, absent={3, 77, 149}, nil={0, 58, 101})
    raw = fix.next_block.to_proto_bytes()
    block = Block.from_proto_bytes(raw)
    assert block == fix.next_block and block.to_proto_bytes() is raw
    assert block.last_commit is not None and block.last_commit.hash() == fix.commit.hash()
    assert read_off_the_wire(block.last_commit)
    assert_same_decoding(raw)


commit_sigs = st.builds(
    CommitSig,
    st.sampled_from(list(BlockIDFlag)),
    st.one_of(st.binary(min_size=20, max_size=20), st.binary(max_size=22)),
    st.one_of(
        st.just(Timestamp(-62135596800, 0)),
        st.builds(Timestamp, st.integers(0, 1 << 40), st.integers(0, 999_999_999)),
        st.builds(Timestamp, INT64, st.integers(-(1 << 31), (1 << 31) - 1)),
    ),
    st.one_of(st.binary(min_size=64, max_size=64), st.binary(max_size=66)),
)


@FUZZ
@given(st.lists(commit_sigs, min_size=0, max_size=12), st.integers(0, 1 << 62), st.integers(0, 1 << 30))
def test_generated_commits_decode_as_the_proto_path(sigs: list[CommitSig], height: int, round_: int) -> None:
    fix = make_commit_fixture(4)
    commit = Commit(height, round_, fix.block_id, tuple(sigs))
    block = Block(fix.next_block.header, fix.next_block.txs, (), commit)
    assert_same_decoding(block.to_proto_bytes())


SAMPLE_BLOCKS = [
    (LOCALNET / "blocks" / "2.pb").read_bytes(),
    (LOCALNET / "blocks" / "62.pb").read_bytes(),
    make_commit_fixture(7, absent={2}, nil={5}).next_block.to_proto_bytes(),
]


@FUZZ
@given(mutated(SAMPLE_BLOCKS, max_edits=3, max_span=8))
def test_mutated_blocks_decode_as_the_proto_path(data: bytes) -> None:
    assert_same_decoding(data)


def test_a_trailing_field_after_the_commit_is_not_canonical() -> None:
    raw = (LOCALNET / "blocks" / "5.pb").read_bytes()
    for extra in (message_field(4, b""), message_field(9, b"x"), b"\x08\x01"):
        assert_same_decoding(raw + extra)


def split_off_commit(raw: bytes) -> tuple[Commit, bytes]:
    """A block's last commit and the block's bytes before it (the commit is the last field)."""
    commit = Block.from_proto_bytes(raw).last_commit
    assert commit is not None
    return commit, raw[: len(raw) - len(message_field(4, commit.to_proto_bytes()))]


def test_a_timestamp_length_that_disagrees_with_the_signature_is_not_read_off_the_wire() -> None:
    raw = bytearray(SAMPLE_BLOCKS[2])
    commit = Block.from_proto_bytes(bytes(raw)).last_commit
    assert commit is not None
    present = next(enc for enc in commit.encoded_signatures() if enc[:2] == b"\x08\x02")
    at = raw.index(present) + 25  # flag (2), address (22), timestamp key (1): its length byte
    assert raw[at] == 10  # seconds (1 + 5 bytes) and nanos (1 + 3)
    for length in (6, 9, 11):
        raw[at] = length
        assert_same_decoding(bytes(raw))


def test_a_non_minimal_commit_length_is_not_canonical() -> None:
    raw = (LOCALNET / "blocks" / "5.pb").read_bytes()
    commit, rest = split_off_commit(raw)
    body = commit.to_proto_bytes()
    length = len(body)
    padded = bytes((length & 0x7F | 0x80, length >> 7 | 0x80, 0))  # three bytes where two would do
    assert length < 1 << 14
    assert_same_decoding(rest + b"\x22" + padded + body)


def test_a_commit_head_in_another_layout_is_not_read_off_the_wire() -> None:
    raw = (LOCALNET / "blocks" / "5.pb").read_bytes()
    commit, rest = split_off_commit(raw)
    body = commit.to_proto_bytes()
    assert body[1] < 0x80  # a one-byte height
    height = body.index(b"\x1a")  # height (field 1) ends where the block id (field 3) starts: round is 0
    block_id = message_field(3, commit.block_id.encode())
    reordered = make_commit_fixture(5, height=9, round_=2).next_block
    assert reordered.last_commit is not None
    swapped = reordered.last_commit.to_proto_bytes()
    assert swapped[:4] == b"\x08\x09\x10\x02"
    swapped_raw = reordered.to_proto_bytes()
    without = swapped_raw[: len(swapped_raw) - len(message_field(4, swapped))]
    assert_same_decoding(without + message_field(4, b"\x10\x02\x08\x09" + swapped[4:]))  # round first
    for odd in (
        body[:height] + b"\x10\x00" + body[height:],  # round 0 written out
        body[:height] + block_id + body[height:],  # the block id twice (protobuf merges them)
        b"\x08" + bytes((body[1] | 0x80, 0)) + body[2:],  # the height varint one byte longer than needed
    ):
        assert_same_decoding(rest + message_field(4, odd))


def test_validate_basic_still_rejects_on_every_call() -> None:
    block = Block.from_proto_bytes((LOCALNET / "blocks" / "5.pb").read_bytes())
    assert block.last_commit is not None
    sig = block.last_commit.signatures[0]
    bad_sig = CommitSig(sig.block_id_flag, sig.validator_address[:19], sig.timestamp, sig.signature)
    commit = block.last_commit
    bad = Block(
        block.header,
        block.txs,
        block.evidence,
        Commit(commit.height, commit.round, commit.block_id, (bad_sig, *commit.signatures[1:])),
    )
    for _ in range(2):
        with pytest.raises(TypesError, match="wrong CommitSig #0: expected ValidatorAddress size to be 20"):
            bad.validate_basic()
    block.validate_basic()
    block.validate_basic()


# -- validator sets and states --------------------------------------------------------------------


def proto_set_bytes(vals: ValidatorSet) -> bytes:
    """Protobuf's encoder over the set built field by field (what `to_proto_bytes` used to do)."""
    pb = validator_pb2.ValidatorSet(total_voting_power=vals.total_voting_power())
    for val in vals.validators:
        val.fill_proto(pb.validators.add())
    if len(vals):
        vals.proposer.fill_proto(pb.proposer)
    return bytes(pb.SerializeToString())


def proto_state_bytes(state: State) -> bytes:
    pb = state_pb2.State.FromString(state.to_proto().SerializeToString())
    for name in ("validators", "next_validators", "last_validators"):
        pb.ClearField(name)  # type: ignore[arg-type]
    pb.validators.ParseFromString(proto_set_bytes(state.validators))
    pb.next_validators.ParseFromString(proto_set_bytes(state.next_validators))
    if state.last_block_height >= 1:
        pb.last_validators.ParseFromString(proto_set_bytes(state.last_validators))
    return bytes(pb.SerializeToString())


validators = st.builds(
    Validator,
    st.binary(max_size=21),
    st.binary(max_size=33),
    st.integers(0, 1 << 50),
    INT64,
)


@FUZZ
@given(st.lists(validators, max_size=8, unique_by=lambda val: val.address), st.integers(1, 5))
def test_hand_built_validator_set_bytes_equal_protobufs(vals: list[Validator], times: int) -> None:
    valset = ValidatorSet(vals)
    assert valset.to_proto_bytes() == proto_set_bytes(valset)
    if len(valset) and valset.total_voting_power() > 0:
        valset.increment_proposer_priority(times)
        assert valset.to_proto_bytes() == proto_set_bytes(valset)


def test_spliced_state_bytes_equal_protobufs_through_a_chain_of_states() -> None:
    fix = make_commit_fixture(101)
    state = State.from_genesis(DevnetSpec(chain_id=fix.chain_id, powers=(10,) * 101).genesis())
    assert state.to_bytes() == proto_state_bytes(state)  # height 0: no last validators
    response = abci_pb2.ResponseFinalizeBlock(app_hash=b"\x07" * 32)
    response.tx_results.add(code=0, data=b"ok")
    for height in range(1, 5):
        if height == 2:
            response.validator_updates.add(power=25).pub_key.ed25519 = hashlib.sha256(b"newcomer").digest()
        header = replace(fix.next_block.header, height=height)
        state = next_state(state, fix.block_id, header, response)
        del response.validator_updates[:]
        assert state.to_bytes() == proto_state_bytes(state), height
        assert State.from_bytes(state.to_bytes()).to_bytes() == state.to_bytes()
    assert len(state.next_validators) == 102


def test_saved_validators_info_is_protobufs_encoding(tmp_path: Path) -> None:
    fix = make_commit_fixture(101)
    genesis = State.from_genesis(DevnetSpec(chain_id=fix.chain_id, powers=(10,) * 101).genesis())
    joins = abci_pb2.ResponseFinalizeBlock(app_hash=b"\x07" * 32)
    joins.validator_updates.add(power=25).pub_key.ed25519 = hashlib.sha256(b"joins").digest()
    first = next_state(genesis, fix.block_id, replace(fix.next_block.header, height=1), joins)
    quiet = abci_pb2.ResponseFinalizeBlock(app_hash=b"\x07" * 32)
    second = next_state(first, fix.block_id, replace(fix.next_block.header, height=2), quiet)
    store = StateStore.open(tmp_path / "state.db")
    for state in (genesis, first, second):
        store.save(state)
    store.close()
    expected = {  # height: (last height changed, the set written in full or None for a pointer)
        1: (1, genesis.validators),
        2: (1, None),
        3: (3, first.next_validators),  # the update of block 1 takes effect at height 3
        4: (3, None),
    }
    db = plyvel.DB(str(tmp_path / "state.db"))
    try:
        for height, (changed, full) in expected.items():
            info = state_pb2.ValidatorsInfo(last_height_changed=changed)
            if full is not None:
                info.validator_set.ParseFromString(proto_set_bytes(full))
            assert db.get(validators_key(height)) == info.SerializeToString(), height
    finally:
        db.close()


# -- FinalizeBlock votes and the median time, before and after a set change -------------------------


def field_by_field_votes(vals: ValidatorSet, commit: Commit) -> bytes:
    info = abci_pb2.CommitInfo(round=commit.round)
    for val, sig in zip(vals.validators, commit.signatures, strict=True):
        vote = info.votes.add(block_id_flag=int(sig.block_id_flag))  # type: ignore[arg-type]
        vote.validator.address = val.address
        vote.validator.power = val.voting_power
    return bytes(info.SerializeToString())


def plain_median_time(commit: Commit, vals: ValidatorSet) -> Timestamp:
    """`MedianTime` transcribed: weighted times of the non-absent votes, sorted, walk to half the power."""
    weighted = []
    for sig in commit.signatures:
        found = vals.get_by_address(sig.validator_address)
        if sig.block_id_flag != BlockIDFlag.ABSENT and found is not None:
            weighted.append((sig.timestamp.unix_nanos(), found[1].voting_power))
    weighted.sort(key=lambda item: item[0])
    median = sum(power for _, power in weighted) // 2
    for nanos, power in weighted:
        if median <= power:
            return Timestamp.from_unix_nanos(nanos)
        median -= power
    return Timestamp.zero()


def test_votes_and_median_time_follow_the_set_through_copies_and_changes() -> None:
    fix = make_commit_fixture(120, absent={4, 60}, nil={7})
    vals = fix.validators.copy()
    for _ in range(2):
        request = finalize_block_request(fix.next_block, vals, initial_height=1)
        assert request.decided_last_commit.SerializeToString() == field_by_field_votes(vals, fix.commit)
        assert median_time(fix.commit, vals) == plain_median_time(fix.commit, vals)
        vals.increment_proposer_priority(1)
    changed = vals.copy()
    first, second = changed.validators[0], changed.validators[1]
    changed.update_with_change_set(
        [
            Validator(first.address, first.pub_key, 0),
            Validator(second.address, second.pub_key, 500),
            Validator.from_pub_key(hashlib.sha256(b"joins").digest(), 30),
        ]
    )
    sigs = (*fix.commit.signatures[1:], CommitSig.absent())
    commit = Commit(fix.commit.height, fix.commit.round, fix.commit.block_id, sigs)
    block = Block(fix.next_block.header, (), (), commit)
    request = finalize_block_request(block, changed, initial_height=1)
    assert request.decided_last_commit.SerializeToString() == field_by_field_votes(changed, commit)
    assert median_time(commit, changed) == plain_median_time(commit, changed)
    assert median_time(fix.commit, vals) == plain_median_time(fix.commit, vals)


def test_with_priority_builds_an_equal_frozen_validator() -> None:
    val = Validator.from_pub_key(hashlib.sha256(b"k").digest(), 10, 3)
    moved = val.with_priority(-(1 << 63))
    assert moved == Validator(val.address, val.pub_key, 10, -(1 << 63))
    assert hash(moved) == hash(Validator(val.address, val.pub_key, 10, -(1 << 63)))
    with pytest.raises(AttributeError):
        moved.voting_power = 1  # type: ignore[misc]
