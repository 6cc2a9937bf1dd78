"""Pure state transition of CometBFT v0.38 (`state/execution.go`), without any ABCI I/O.

Builds the FinalizeBlock request exactly as Go, checks the app's response, and computes the next State:
validator updates take effect at H+2, proposer priorities advance once per block, params at H+1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.proto.tendermint.types import params_pb2
from cometsync.proto.wire import bytes_field, message_field, varint_field
from cometsync.state.errors import InvalidABCIResponse
from cometsync.state.state import State
from cometsync.types import (
    Block,
    BlockID,
    BlockIDFlag,
    ConsensusParams,
    DeterministicTxResult,
    DuplicateVoteEvidence,
    Header,
    TypesError,
    Validator,
    ValidatorSet,
    results_hash,
)

ED25519_KEY_SIZE = 32


def _abci_validator(val: Validator) -> abci_pb2.Validator:
    return abci_pb2.Validator(address=val.address, power=val.voting_power)


def decided_last_commit(
    block: Block, last_validators: ValidatorSet, initial_height: int
) -> abci_pb2.CommitInfo:
    """`BuildLastCommitInfo`: one VoteInfo per last validator (set order) with its commit flag."""
    info = abci_pb2.CommitInfo()
    _fill_last_commit_info(info, block, last_validators, initial_height)
    return info


def _fill_last_commit_info(
    info: abci_pb2.CommitInfo, block: Block, last_validators: ValidatorSet, initial_height: int
) -> None:
    """Fill `info` in place (the request's own field: no second copy of a vote per validator)."""
    info.SetInParent()  # emitted even when empty, as Go's non-nullable field
    if block.height == initial_height or block.last_commit is None:
        return
    commit = block.last_commit
    if len(commit.signatures) != len(last_validators):
        raise InvalidABCIResponse(
            f"commit size ({len(commit.signatures)}) doesn't match validator set length "
            f"({len(last_validators)}) at height {block.height}"
        )
    info.round = commit.round
    votes = last_validators.derived(_vote_encodings)
    encoded = [
        by_flag.get(sig.block_id_flag) or _vote_encoding(validator, sig.block_id_flag)
        for (validator, by_flag), sig in zip(votes, commit.signatures, strict=True)
    ]
    info.MergeFromString(b"".join(encoded))


_VOTES_FIELD = 2


def _vote_encoding(validator: bytes, flag: int) -> bytes:
    """One `votes` field of CommitInfo: `VoteInfo{validator, block_id_flag}`."""
    return message_field(_VOTES_FIELD, validator + varint_field(3, flag))


def _vote_encodings(vals: ValidatorSet) -> tuple[tuple[bytes, dict[int, bytes]], ...]:
    """Per validator (set order): its encoded `validator` field and its `votes` field for each flag, so
    a request's votes are joined from bytes and parsed once instead of set field by field."""
    out = []
    for val in vals.validators:
        validator = message_field(1, bytes_field(1, val.address) + varint_field(3, val.voting_power))
        out.append((validator, {int(flag): _vote_encoding(validator, flag) for flag in BlockIDFlag}))
    return tuple(out)


def misbehavior(block: Block) -> list[abci_pb2.Misbehavior]:
    """`EvidenceList.ToABCI`: one entry per duplicate vote, one per byzantine validator of an attack."""
    out: list[abci_pb2.Misbehavior] = []
    for ev in block.evidence:
        if isinstance(ev, DuplicateVoteEvidence):
            item = abci_pb2.Misbehavior(
                type=abci_pb2.DUPLICATE_VOTE,
                validator=abci_pb2.Validator(address=ev.vote_a.validator_address, power=ev.validator_power),
                height=ev.vote_a.height,
                total_voting_power=ev.total_voting_power,
            )
            ev.timestamp.fill_proto(item.time)
            out.append(item)
            continue
        for val in ev.byzantine_validators:
            item = abci_pb2.Misbehavior(
                type=abci_pb2.LIGHT_CLIENT_ATTACK,
                validator=_abci_validator(val),
                height=ev.common_height,
                total_voting_power=ev.total_voting_power,
            )
            ev.timestamp.fill_proto(item.time)
            out.append(item)
    return out


def finalize_block_request(
    block: Block, last_validators: ValidatorSet, initial_height: int
) -> abci_pb2.RequestFinalizeBlock:
    header = block.header
    request = abci_pb2.RequestFinalizeBlock(
        txs=list(block.txs),
        hash=block.hash(),
        height=header.height,
        next_validators_hash=header.next_validators_hash,
        proposer_address=header.proposer_address,
        misbehavior=misbehavior(block),
    )
    _fill_last_commit_info(request.decided_last_commit, block, last_validators, initial_height)
    header.time.fill_proto(request.time)
    return request


def check_finalize_response(block: Block, response: abci_pb2.ResponseFinalizeBlock) -> None:
    if len(response.tx_results) != len(block.txs):
        raise InvalidABCIResponse(
            f"expected {len(block.txs)} tx results for block {block.height}, got {len(response.tx_results)}"
        )


def validator_updates(
    updates: Sequence[abci_pb2.ValidatorUpdate], params: ConsensusParams
) -> list[Validator]:
    """`validateValidatorUpdates` + `PB2TM.ValidatorUpdates`: no negative power, allowed ed25519 keys."""
    out: list[Validator] = []
    for update in updates:
        if update.power < 0:
            raise InvalidABCIResponse(f"voting power can't be negative: {update.power}")
        kind = update.pub_key.WhichOneof("sum")
        if kind != "ed25519" or len(update.pub_key.ed25519) != ED25519_KEY_SIZE:
            raise InvalidABCIResponse(f"validator update with unsupported public key type {kind!r}")
        if update.power > 0 and "ed25519" not in params.validator_pub_key_types:
            raise InvalidABCIResponse("validator uses pubkey ed25519, which is unsupported for consensus")
        out.append(Validator.from_pub_key(update.pub_key.ed25519, update.power))
    return out


def _check_params(params: ConsensusParams) -> None:
    """`ConsensusParams.ValidateBasic` for the fields cometsync models."""
    problems = [
        (params.block_max_bytes == 0 or params.block_max_bytes < -1, "block.MaxBytes must be -1 or > 0"),
        (params.block_max_gas < -1, "block.MaxGas must be greater or equal to -1"),
        (params.evidence_max_age_num_blocks <= 0, "evidence.MaxAgeNumBlocks must be greater than 0"),
        (params.evidence_max_age_duration_ns <= 0, "evidence.MaxAgeDuration must be greater than 0"),
        (params.evidence_max_bytes < 0, "evidence.MaxBytes must be non negative"),
        (
            params.block_max_bytes != -1 and params.evidence_max_bytes > params.block_max_bytes,
            "evidence.MaxBytes is greater than upper bound block.MaxBytes",
        ),
        (params.vote_extensions_enable_height < 0, "ABCI.VoteExtensionsEnableHeight cannot be negative"),
        (not params.validator_pub_key_types, "len(Validator.PubKeyTypes) must be greater than 0"),
    ]
    for failed, message in problems:
        if failed:
            raise InvalidABCIResponse(f"invalid consensus params update: {message}")


def _check_vote_extension_update(
    current: ConsensusParams, update: params_pb2.ConsensusParams, height: int
) -> None:
    """`ConsensusParams.ValidateUpdate`: the enable height cannot move once reached, nor into the past."""
    if not update.HasField("abci"):
        return
    new = update.abci.vote_extensions_enable_height
    old = current.vote_extensions_enable_height
    if new == old:
        return
    if old != 0 and old <= height:
        raise InvalidABCIResponse(f"vote extensions already enabled at {old}, cannot change to {new}")
    if new != 0 and new <= height:
        raise InvalidABCIResponse(
            f"vote extensions enable height {new} must be after the current height {height}"
        )


def next_state(
    state: State, block_id: BlockID, header: Header, response: abci_pb2.ResponseFinalizeBlock
) -> State:
    """`updateState` followed by setting the app hash (the state Go saves after Commit)."""
    updates = validator_updates(response.validator_updates, state.consensus_params)
    next_validators = state.next_validators.copy()
    last_height_validators_changed = state.last_height_validators_changed
    if updates:
        try:
            next_validators.update_with_change_set(updates)
        except TypesError as exc:
            raise InvalidABCIResponse(f"changing validator set: {exc}") from exc
        last_height_validators_changed = header.height + 2
    next_validators.increment_proposer_priority(1)

    params = state.consensus_params
    last_height_params_changed = state.last_height_consensus_params_changed
    app_version = state.app_version
    if response.HasField("consensus_param_updates"):
        params = state.consensus_params.update(response.consensus_param_updates)
        _check_params(params)
        _check_vote_extension_update(state.consensus_params, response.consensus_param_updates, header.height)
        app_version = params.version_app
        last_height_params_changed = header.height + 1

    return replace(
        state,
        app_version=app_version,
        last_block_height=header.height,
        last_block_id=block_id,
        last_block_time=header.time,
        next_validators=next_validators,
        validators=state.next_validators.copy(),
        last_validators=state.validators.copy(),
        last_height_validators_changed=last_height_validators_changed,
        consensus_params=params,
        last_height_consensus_params_changed=last_height_params_changed,
        last_results_hash=results_hash([DeterministicTxResult.from_abci(r) for r in response.tx_results]),
        app_hash=bytes(response.app_hash),
    )
