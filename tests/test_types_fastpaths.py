"""The hand-built fast paths of per-validator work against the slow, obvious way of getting the same bytes.

Each fast path (commit and block encodings built from one encoding per signature, vote sign bytes spliced
from a shared prefix, the level-by-level merkle root, unrolled varints, compact pickles, the cached
validator-set proto, the in-place FinalizeBlock votes) is compared with protobuf's own encoder or a plain
transcription of Go's algorithm, on CometBFT's real chain data and on generated commits of 100+ validators.
"""

from __future__ import annotations

import hashlib
import pickle
import random
from pathlib import Path

import pytest
from types_fixtures import DATA

from cometsync.blocksync.verify import CommitJob, check_commits
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.proto.tendermint.types import canonical_pb2
from cometsync.proto.wire import uvarint
from cometsync.state.transition import decided_last_commit, finalize_block_request
from cometsync.testing.commits import CommitFixture, make_commit_fixture
from cometsync.types import (
    Block,
    BlockIDFlag,
    Commit,
    ExtendedCommit,
    InvalidCommitSignature,
    SignedMsgType,
    Validator,
    ValidatorSet,
    hash_from_byte_slices,
)

LOCALNET = DATA / "cometbft-v0.38.25-localnet"
VOTEEXT = DATA / "cometbft-v0.38.25-voteext"


def fixture_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.pb"), key=lambda path: int(path.stem))


def proto_commit_bytes(commit: Commit) -> bytes:
    """The slow path: protobuf's encoder over the message built field by field."""
    return bytes(commit.to_proto().SerializeToString())


def go_merkle_root(items: list[bytes]) -> bytes:
    """`HashFromByteSlices` as Go writes it: split at the largest power of two below the count."""
    if not items:
        return hashlib.sha256(b"").digest()
    if len(items) == 1:
        return hashlib.sha256(b"\x00" + items[0]).digest()
    split = 1 << ((len(items) - 1).bit_length() - 1)
    left, right = go_merkle_root(items[:split]), go_merkle_root(items[split:])
    return hashlib.sha256(b"\x01" + left + right).digest()


def proto_commit_hash(commit: Commit) -> bytes:
    leaves = [bytes(pb.SerializeToString()) for pb in commit.to_proto().signatures]
    return go_merkle_root(leaves)


def proto_vote_sign_bytes(chain_id: str, commit: Commit, index: int) -> bytes:
    """CanonicalVote through protobuf's encoder, length-delimited (`VoteSignBytes`)."""
    sig = commit.signatures[index]
    vote = canonical_pb2.CanonicalVote(
        type=SignedMsgType.PRECOMMIT,  # type: ignore[arg-type]
        height=commit.height,
        round=commit.round,
        chain_id=chain_id,
    )
    if sig.block_id_flag == BlockIDFlag.COMMIT:
        vote.block_id.hash = commit.block_id.hash
        vote.block_id.part_set_header.total = commit.block_id.part_set_header.total
        vote.block_id.part_set_header.hash = commit.block_id.part_set_header.hash
    sig.timestamp.fill_proto(vote.timestamp)
    body = bytes(vote.SerializeToString())
    return uvarint(len(body)) + body


@pytest.fixture(scope="module")
def big() -> CommitFixture:
    """150 validators, some absent and some voting nil, every vote with its own timestamp."""
    return make_commit_fixture(150, height=123_456, round_=2, absent={3, 77, 149}, nil={0, 58, 101})


# -- real CometBFT data ---------------------------------------------------------------------------


def test_fixture_blocks_and_commits_reencode_to_cometbfts_bytes() -> None:
    blocks = fixture_files(LOCALNET / "blocks")
    assert len(blocks) > 300
    for path in blocks:
        raw = path.read_bytes()
        decoded = Block.from_proto_bytes(raw)
        rebuilt = Block(decoded.header, decoded.txs, decoded.evidence, decoded.last_commit)
        assert rebuilt.to_proto_bytes() == raw == decoded.to_proto().SerializeToString(), path.name
        if decoded.last_commit is not None:
            assert decoded.last_commit.hash() == proto_commit_hash(decoded.last_commit)
            assert decoded.last_commit.hash() == decoded.header.last_commit_hash
    for path in fixture_files(LOCALNET / "commits"):
        raw = path.read_bytes()
        commit = Commit.from_proto_bytes(raw)
        assert commit.to_proto_bytes() == raw == proto_commit_bytes(commit), path.name


def test_fixture_vote_extension_commits_keep_their_bytes() -> None:
    for path in fixture_files(VOTEEXT / "extcommits"):
        raw = path.read_bytes()
        ext = ExtendedCommit.from_proto_bytes(raw)
        assert ext.to_proto_bytes() == raw, path.name
        plain = ext.to_commit()
        assert plain.to_proto_bytes() == proto_commit_bytes(plain)


def test_fixture_sign_bytes_match_protobufs_canonical_vote() -> None:
    chain_id = "localnet-4v"
    for path in fixture_files(LOCALNET / "commits")[:50]:
        commit = Commit.from_proto_bytes(path.read_bytes())
        present = [i for i, sig in enumerate(commit.signatures) if sig.block_id_flag != BlockIDFlag.ABSENT]
        fast = commit.all_vote_sign_bytes(chain_id, present)
        assert fast == [proto_vote_sign_bytes(chain_id, commit, i) for i in present]


# -- generated commits of 100+ validators --------------------------------------------------------------


def test_big_commit_bytes_hash_and_sign_bytes_match_the_slow_paths(big: CommitFixture) -> None:
    commit = big.commit
    assert commit.to_proto_bytes() == proto_commit_bytes(commit)
    assert commit.hash() == proto_commit_hash(commit)
    block = big.next_block
    assert block.to_proto_bytes() == block.to_proto().SerializeToString()
    assert Block.from_proto_bytes(block.to_proto_bytes()) == block
    indices = list(range(commit.size()))
    assert commit.all_vote_sign_bytes(big.chain_id, indices) == [
        proto_vote_sign_bytes(big.chain_id, commit, i) for i in indices
    ]
    big.validators.verify_commit(big.chain_id, big.block_id, big.height, commit)


@pytest.mark.parametrize("bad_index", [1, 57, 100, 148])
def test_a_bad_signature_anywhere_in_a_big_commit_is_named(big: CommitFixture, bad_index: int) -> None:
    sigs = list(big.commit.signatures)
    original = sigs[bad_index]
    sigs[bad_index] = type(original)(
        original.block_id_flag,
        original.validator_address,
        original.timestamp,
        bytes([original.signature[0] ^ 1]) + original.signature[1:],
    )
    commit = Commit(big.commit.height, big.commit.round, big.block_id, tuple(sigs))
    with pytest.raises(InvalidCommitSignature) as caught:
        big.validators.verify_commit(big.chain_id, big.block_id, big.height, commit)
    assert caught.value.index == bad_index
    job = pickle.loads(pickle.dumps(CommitJob(big.chain_id, big.validators, big.height, commit, None)))
    verdict = check_commits(job)
    assert verdict.commit_error is not None and f"(#{bad_index})" in verdict.commit_error


def test_the_first_of_two_bad_signatures_is_named(big: CommitFixture) -> None:
    sigs = list(big.commit.signatures)
    for index in (120, 58):  # 58 votes nil: nil votes are verified too
        sig = sigs[index]
        sigs[index] = type(sig)(sig.block_id_flag, sig.validator_address, sig.timestamp, bytes(64))
    commit = Commit(big.commit.height, big.commit.round, big.block_id, tuple(sigs))
    with pytest.raises(InvalidCommitSignature) as caught:
        big.validators.verify_commit(big.chain_id, big.block_id, big.height, commit)
    assert caught.value.index == 58


def test_pickled_verify_jobs_round_trip_exactly(big: CommitFixture) -> None:
    job = CommitJob(big.chain_id, big.validators, big.height, big.commit, None)
    big.commit.hash()  # caches are not shipped, and rebuilt to the same values
    back = pickle.loads(pickle.dumps(job))
    assert back.last_commit == big.commit and back.last_commit.hash() == big.commit.hash()
    assert back.last_commit.signatures[3].block_id_flag is BlockIDFlag.ABSENT
    vals = back.validators
    assert vals.validators == big.validators.validators
    assert vals.hash() == big.validators.hash() and vals.proposer == big.validators.proposer
    assert vals.get_by_address(big.validators.validators[9].address) == (9, big.validators.validators[9])
    assert check_commits(back).commit_error is None


def test_finalize_block_votes_match_a_field_by_field_build(big: CommitFixture) -> None:
    request = finalize_block_request(big.next_block, big.validators, initial_height=1)
    expected = abci_pb2.CommitInfo(round=big.commit.round)
    for val, sig in zip(big.validators.validators, big.commit.signatures, strict=True):
        expected.votes.append(
            abci_pb2.VoteInfo(
                validator=abci_pb2.Validator(address=val.address, power=val.voting_power),
                block_id_flag=int(sig.block_id_flag),  # type: ignore[arg-type]
            )
        )
    assert request.decided_last_commit.SerializeToString() == expected.SerializeToString()
    assert decided_last_commit(big.next_block, big.validators, 1) == expected
    first = finalize_block_request(big.next_block, big.validators, initial_height=big.next_block.height)
    assert first.HasField("decided_last_commit") and not first.decided_last_commit.votes


# -- building blocks ---------------------------------------------------------------------------------


def test_level_by_level_merkle_root_equals_gos_recursion() -> None:
    rng = random.Random(215)
    for count in [*range(0, 70), 100, 127, 128, 129, 150, 200, 255, 256, 257]:
        items = [rng.randbytes(rng.randrange(0, 40)) for _ in range(count)]
        assert hash_from_byte_slices(items) == go_merkle_root(items), count


def reference_uvarint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def test_unrolled_varint_equals_the_plain_loop() -> None:
    rng = random.Random(64)
    edges = [edge + delta for bits in range(0, 64, 7) for edge in (1 << bits,) for delta in (-1, 0, 1)]
    values = [*edges, -1, -(1 << 63), (1 << 63) - 1, -62135596800, 1767225600, 999_999_999]
    values += [rng.randrange(-(1 << 63), 1 << 63) for _ in range(2000)]
    values += [rng.randrange(0, 1 << 36) for _ in range(2000)]
    for value in values:
        assert uvarint(value) == reference_uvarint(value), value


def test_cached_validator_set_proto_follows_every_change() -> None:
    vals = make_commit_fixture(101).validators

    def fresh(set_: ValidatorSet) -> bytes:
        rebuilt = ValidatorSet(set_.validators, set_.proposer)
        return bytes(rebuilt.to_proto().SerializeToString())

    first = vals.to_proto()
    first.validators[0].voting_power = 999  # callers get their own message
    assert vals.to_proto().SerializeToString() == fresh(vals)
    vals.increment_proposer_priority(3)
    assert vals.to_proto().SerializeToString() == fresh(vals)
    clone = vals.copy()
    newcomer = Validator.from_pub_key(hashlib.sha256(b"newcomer").digest(), 500)
    leaving = vals.validators[5]
    vals.update_with_change_set([newcomer, Validator(leaving.address, leaving.pub_key, 0)])
    assert vals.to_proto().SerializeToString() == fresh(vals)
    assert clone.to_proto().SerializeToString() == fresh(clone) != fresh(vals)
