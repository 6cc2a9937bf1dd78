"""Tampering with real data is rejected with the specific typed error."""

from __future__ import annotations

from dataclasses import replace

import pytest
from types_fixtures import load_bytes, load_json

from cometsync.types import (
    Block,
    BlockID,
    BlockIDFlag,
    Commit,
    CommitBlockIDMismatch,
    CommitHeightMismatch,
    CommitSig,
    CommitSizeMismatch,
    ExtendedCommit,
    InsufficientVotingPower,
    InvalidBlock,
    InvalidCommit,
    InvalidCommitSignature,
    InvalidVoteExtensionSignature,
    MissingVoteExtension,
    SignedHeader,
    ValidatorAddressMismatch,
    ValidatorSet,
)

CELESTIA = "celestia-tendermintx/celestia-mainnet/3001"
SIGNED = SignedHeader.from_rpc_json(load_json(f"{CELESTIA}/commit.json"))
VALIDATORS = ValidatorSet.from_rpc_json(load_json(f"{CELESTIA}/validators_1.json"))
COMMIT = SIGNED.commit
HEIGHT = SIGNED.header.height


def _with_sig(commit: Commit, index: int, sig: CommitSig) -> Commit:
    sigs = list(commit.signatures)
    sigs[index] = sig
    return replace(commit, signatures=tuple(sigs))


def _flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


def test_untampered_commit_verifies() -> None:
    VALIDATORS.verify_commit("celestia", COMMIT.block_id, HEIGHT, COMMIT)


@pytest.mark.parametrize("index", [0, 57, 99])
def test_flipped_signature_byte_names_the_index(index: int) -> None:
    sig = COMMIT.signatures[index]
    bad = _with_sig(COMMIT, index, replace(sig, signature=_flip(sig.signature, 10)))
    with pytest.raises(InvalidCommitSignature) as info:
        VALIDATORS.verify_commit("celestia", COMMIT.block_id, HEIGHT, bad)
    assert info.value.index == index and f"#{index}" in str(info.value)


def test_changed_timestamp_breaks_that_signature() -> None:
    sig = COMMIT.signatures[3]
    bad = _with_sig(COMMIT, 3, replace(sig, timestamp=replace(sig.timestamp, nanos=sig.timestamp.nanos ^ 1)))
    with pytest.raises(InvalidCommitSignature) as info:
        VALIDATORS.verify_commit("celestia", COMMIT.block_id, HEIGHT, bad)
    assert info.value.index == 3


def test_removing_signatures_until_two_thirds_or_less() -> None:
    total = VALIDATORS.total_voting_power()
    needed = total * 2 // 3
    commit = COMMIT
    signed = total
    for index in range(COMMIT.size()):
        commit = _with_sig(commit, index, CommitSig.absent())
        signed -= VALIDATORS.validators[index].voting_power
        if signed <= needed:
            break
        VALIDATORS.verify_commit("celestia", COMMIT.block_id, HEIGHT, commit)
    with pytest.raises(InsufficientVotingPower) as info:
        VALIDATORS.verify_commit("celestia", COMMIT.block_id, HEIGHT, commit)
    assert (info.value.tallied, info.value.needed, info.value.total) == (signed, needed, total)
    assert str(signed) in str(info.value) and str(needed) in str(info.value)


def test_nil_vote_counts_no_power_but_is_verified() -> None:
    sig = COMMIT.signatures[0]
    as_nil = _with_sig(COMMIT, 0, replace(sig, block_id_flag=BlockIDFlag.NIL))
    with pytest.raises(InvalidCommitSignature) as info:
        VALIDATORS.verify_commit("celestia", COMMIT.block_id, HEIGHT, as_nil)
    assert info.value.index == 0


def test_wrong_chain_id_height_block_id_and_size() -> None:
    with pytest.raises(InvalidCommitSignature):
        VALIDATORS.verify_commit("celestia-2", COMMIT.block_id, HEIGHT, COMMIT)
    with pytest.raises(CommitHeightMismatch):
        VALIDATORS.verify_commit("celestia", COMMIT.block_id, HEIGHT + 1, COMMIT)
    with pytest.raises(InvalidCommitSignature):
        VALIDATORS.verify_commit("celestia", COMMIT.block_id, HEIGHT + 1, replace(COMMIT, height=HEIGHT + 1))
    other = BlockID(bytes(32), COMMIT.block_id.part_set_header)
    with pytest.raises(CommitBlockIDMismatch):
        VALIDATORS.verify_commit("celestia", other, HEIGHT, COMMIT)
    with pytest.raises(InvalidCommitSignature):
        VALIDATORS.verify_commit("celestia", other, HEIGHT, replace(COMMIT, block_id=other))
    with pytest.raises(CommitSizeMismatch):
        VALIDATORS.verify_commit(
            "celestia", COMMIT.block_id, HEIGHT, replace(COMMIT, signatures=COMMIT.signatures[1:])
        )


def test_signature_from_the_wrong_validator_slot() -> None:
    swapped = _with_sig(COMMIT, 1, COMMIT.signatures[2])
    with pytest.raises(ValidatorAddressMismatch) as info:
        VALIDATORS.verify_commit("celestia", COMMIT.block_id, HEIGHT, swapped)
    assert info.value.index == 1 and isinstance(info.value, InvalidCommit)


def test_light_verification_stops_at_two_thirds() -> None:
    last = COMMIT.size() - 1
    sig = COMMIT.signatures[last]
    garbage_tail = _with_sig(COMMIT, last, replace(sig, signature=_flip(sig.signature, 0)))
    VALIDATORS.verify_commit_light("celestia", COMMIT.block_id, HEIGHT, garbage_tail)
    with pytest.raises(InvalidCommitSignature):
        VALIDATORS.verify_commit_light("celestia", COMMIT.block_id, HEIGHT, garbage_tail, all_signatures=True)


LOCALNET = "cometbft-v0.38.25-localnet"


def test_tampered_block_bytes_change_hash_or_fail_validation() -> None:
    raw = load_bytes(f"{LOCALNET}/blocks/62.pb")
    block = Block.from_proto_bytes(raw)
    meta_id = block.block_id()
    tx = block.txs[0]
    with_bad_tx = replace(block, txs=(_flip(tx, len(tx) // 2), *block.txs[1:]))
    with pytest.raises(InvalidBlock, match="DataHash"):
        with_bad_tx.validate_basic()
    assert with_bad_tx.make_part_set().header() != meta_id.part_set_header
    with_bad_header = replace(block, header=replace(block.header, app_hash=_flip(block.header.app_hash, 0)))
    assert with_bad_header.hash() != meta_id.hash
    validators = ValidatorSet.from_rpc_json(load_json(f"{LOCALNET}/validators/62.json"))
    next_commit = Block.from_proto_bytes(load_bytes(f"{LOCALNET}/blocks/63.pb")).last_commit
    assert next_commit is not None
    validators.verify_commit("localnet-4v", meta_id, 62, next_commit)
    with pytest.raises(CommitBlockIDMismatch):
        validators.verify_commit("localnet-4v", with_bad_header.block_id(), 62, next_commit)
    bad_commit_hash = replace(block, header=replace(block.header, last_commit_hash=bytes(32)))
    with pytest.raises(InvalidBlock, match="LastCommitHash"):
        bad_commit_hash.validate_basic()
    with pytest.raises(InvalidBlock, match="header"):
        replace(block, header=replace(block.header, proposer_address=b"\x01")).validate_basic()


VOTEEXT = "cometbft-v0.38.25-voteext"


def test_extension_signature_tampering() -> None:
    ext = ExtendedCommit.from_proto_bytes(load_bytes(f"{VOTEEXT}/extcommits/20.pb"))
    validators = ValidatorSet.from_rpc_json(load_json(f"{VOTEEXT}/validators/20.json"))
    block_id = Block.from_proto_bytes(load_bytes(f"{VOTEEXT}/blocks/20.pb")).block_id()
    index = next(i for i, sig in enumerate(ext.extended_signatures) if sig.extension)
    sigs = list(ext.extended_signatures)
    sigs[index] = replace(sigs[index], extension=sigs[index].extension + b"\x00")
    with pytest.raises(InvalidVoteExtensionSignature) as info:
        validators.verify_commit_extended(
            "voteext-4v", block_id, 20, replace(ext, extended_signatures=tuple(sigs))
        )
    assert info.value.index == index
    sigs[index] = replace(sigs[index], extension_signature=b"")
    with pytest.raises(MissingVoteExtension):
        validators.verify_commit_extended(
            "voteext-4v", block_id, 20, replace(ext, extended_signatures=tuple(sigs))
        )
    with pytest.raises(MissingVoteExtension):
        ext.ensure_extensions(False)
