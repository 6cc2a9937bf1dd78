"""`validateBlock` of CometBFT v0.38 (`state/validation.go`): the rules a block must meet given the state."""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter

from cometsync.proto.tendermint.types import evidence_pb2
from cometsync.state.errors import InvalidBlockForState
from cometsync.state.state import State
from cometsync.types import Block, BlockIDFlag, Commit, Timestamp, TypesError, ValidatorSet, verify_commit
from cometsync.types.evidence import evidence_to_proto
from cometsync.types.params import NANOS_PER_SECOND


def median_time(commit: Commit, validators: ValidatorSet) -> Timestamp:
    """Voting-power-weighted median of the non-absent commit timestamps (`MedianTime`)."""
    power_of = validators.derived(_powers_by_address).get
    absent = BlockIDFlag.ABSENT
    weighted: list[tuple[int, int]] = []
    total = 0
    for sig in commit.signatures:
        if sig.block_id_flag == absent:
            continue
        power = power_of(sig.validator_address)
        if power is not None:
            total += power
            stamp = sig.timestamp
            weighted.append((stamp.seconds * NANOS_PER_SECOND + stamp.nanos, power))
    median = total // 2
    weighted.sort(key=itemgetter(0))
    for nanos, power in weighted:
        if median <= power:
            return Timestamp.from_unix_nanos(nanos)
        median -= power
    return Timestamp.zero()


def _powers_by_address(validators: ValidatorSet) -> dict[bytes, int]:
    return {val.address: val.voting_power for val in validators.validators}


def evidence_byte_size(block: Block) -> int:
    if not block.evidence:
        return 0
    size: int = evidence_pb2.EvidenceList(
        evidence=[evidence_to_proto(ev) for ev in block.evidence]
    ).ByteSize()
    return size


def _expect(condition: bool, message: str | Callable[[], str]) -> None:
    """Raise unless `condition`; a message that formats values is a callable, built only on failure (a
    valid block must not pay for them: rendering timestamps was ~3 % of the sync loop)."""
    if not condition:
        raise InvalidBlockForState(message if isinstance(message, str) else message())


def _check_header_against_state(state: State, block: Block) -> None:
    header = block.header
    _expect(
        header.version.app == state.app_version and header.version.block == state.block_version,
        lambda: (
            f"wrong Block.Header.Version: expected block {state.block_version} app {state.app_version}, "
            f"got block {header.version.block} app {header.version.app}"
        ),
    )
    _expect(
        header.chain_id == state.chain_id,
        lambda: f"wrong chain id: expected {state.chain_id}, got {header.chain_id}",
    )
    _expect(
        header.height == state.next_height(),
        lambda: f"wrong height: expected {state.next_height()}, got {header.height}",
    )
    _expect(header.last_block_id == state.last_block_id, "wrong Block.Header.LastBlockID")
    _expect(
        header.app_hash == state.app_hash,
        lambda: (
            f"wrong Block.Header.AppHash: expected {state.app_hash.hex().upper()}, "
            f"got {header.app_hash.hex().upper()}"
        ),
    )
    _expect(header.consensus_hash == state.consensus_params.hash(), "wrong Block.Header.ConsensusHash")
    _expect(
        header.last_results_hash == state.last_results_hash,
        lambda: (
            f"wrong Block.Header.LastResultsHash: expected {state.last_results_hash.hex().upper()}, "
            f"got {header.last_results_hash.hex().upper()}"
        ),
    )
    _expect(header.validators_hash == state.validators.hash(), "wrong Block.Header.ValidatorsHash")
    _expect(
        header.next_validators_hash == state.next_validators.hash(), "wrong Block.Header.NextValidatorsHash"
    )


def _check_time(state: State, block: Block) -> None:
    header = block.header
    if header.height > state.initial_height:
        _expect(
            header.time.unix_nanos() > state.last_block_time.unix_nanos(),
            lambda: (
                f"block time {header.time.rfc3339()} not greater than last block time "
                f"{state.last_block_time.rfc3339()}"
            ),
        )
        assert block.last_commit is not None  # guaranteed by validate_basic
        expected = median_time(block.last_commit, state.last_validators)
        _expect(
            header.time == expected,
            lambda: f"invalid block time: expected {expected.rfc3339()}, got {header.time.rfc3339()}",
        )
    else:
        _expect(
            header.time.unix_nanos() >= state.last_block_time.unix_nanos(),
            lambda: (
                f"block time {header.time.rfc3339()} is before genesis time {state.last_block_time.rfc3339()}"
            ),
        )


def validate_block(state: State, block: Block, skip_last_commit: bool = False) -> None:
    """Raise InvalidBlockForState unless `block` may be executed on `state`.

    `skip_last_commit` skips the LastCommit signature check, for callers (blocksync) that verified it.
    """
    try:
        block.validate_basic()
    except TypesError as exc:
        raise InvalidBlockForState(f"invalid block: {exc}") from exc
    _check_header_against_state(state, block)
    last_commit = block.last_commit
    assert last_commit is not None  # guaranteed by validate_basic
    if block.height == state.initial_height:
        _expect(not last_commit.signatures, "initial block can't have LastCommit signatures")
    elif not skip_last_commit:
        try:
            verify_commit(
                state.chain_id, state.last_validators, state.last_block_id, block.height - 1, last_commit
            )
        except TypesError as exc:
            raise InvalidBlockForState(f"invalid LastCommit: {exc}") from exc
    _expect(
        state.validators.has_address(block.header.proposer_address),
        lambda: f"block proposer {block.header.proposer_address.hex().upper()} is not a validator",
    )
    _check_time(state, block)
    size, limit = evidence_byte_size(block), state.consensus_params.evidence_max_bytes
    _expect(size <= limit, lambda: f"evidence too large: {size} bytes, max {limit}")
