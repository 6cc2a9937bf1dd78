"""Validator sets with CometBFT's ordering, hash, total power and proposer rotation.

Proposer priorities follow `types/validator_set.go` exactly (int64 clipping, Go's truncating division
when rescaling, flooring average), because every node must agree on the proposer of each height.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction
from typing import TypeVar, cast

from cometsync.proto.tendermint.types import validator_pb2
from cometsync.proto.wire import message_field, uvarint, varint_field
from cometsync.types.block_id import BlockID
from cometsync.types.commit import Commit, ExtendedCommit
from cometsync.types.errors import InvalidValidatorSet
from cometsync.types.merkle import hash_from_byte_slices
from cometsync.types.rpc_json import JSONObject, to_hex, unwrap_result
from cometsync.types.validator import Validator
from cometsync.types.verification import (
    verify_commit,
    verify_commit_extended,
    verify_commit_light,
    verify_commit_light_trusting,
)

INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)
MAX_TOTAL_VOTING_POWER = INT64_MAX // 8
PRIORITY_WINDOW_SIZE_FACTOR = 2
T = TypeVar("T")
_VALIDATORS_KEY = b"\x0a"
_PRIORITY_KEY = b"\x20"
_MISSING = object()


def _clip(value: int) -> int:
    """Go's safeAddClip/safeSubClip: saturate at the int64 bounds."""
    return max(INT64_MIN, min(INT64_MAX, value))


def _go_div(numerator: int, denominator: int) -> int:
    """Go integer division (truncates toward zero)."""
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator >= 0) == (denominator > 0) else -quotient


def _power_order(val: Validator) -> tuple[int, bytes]:
    return (-val.voting_power, val.address)


def _more_priority(current: Validator, other: Validator) -> Validator:
    """`CompareProposerPriority`: higher priority wins, ties go to the lower address."""
    if current.proposer_priority != other.proposer_priority:
        return current if current.proposer_priority > other.proposer_priority else other
    return current if current.address < other.address else other


class ValidatorSet:
    """Validators sorted by voting power (desc) then address (asc); commit signatures use this order."""

    __slots__ = ("_by_address", "_derived", "_encoded", "_hash", "_proposer_address", "_total", "_validators")

    def __init__(self, validators: Iterable[Validator], proposer: Validator | None = None) -> None:
        """Take validators (and priorities) as given, e.g. from RPC or the state store; sort them."""
        self._set_validators(sorted(validators, key=_power_order))
        self._proposer_address = proposer.address if proposer is not None else None

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle the validators in set order (no re-sort, no index or caches): a verify job carries one."""
        return (_restore, (tuple(self._validators), self._proposer_address, self._hash))

    def _set_validators(self, validators: list[Validator]) -> None:
        self._encoded: bytes | None = None
        self._derived: dict[Callable[[ValidatorSet], object], object] = {}
        self._validators = validators
        self._by_address = {val.address: index for index, val in enumerate(validators)}
        if len(self._by_address) != len(validators):
            raise InvalidValidatorSet("duplicate validator address in set")
        total = 0
        for val in validators:
            total += val.voting_power
            if total > MAX_TOTAL_VOTING_POWER:
                raise InvalidValidatorSet(
                    f"total voting power {total} exceeds maximum {MAX_TOTAL_VOTING_POWER}"
                )
        self._total = total
        self._hash: bytes | None = None

    @classmethod
    def new(cls, validators: Iterable[Validator]) -> ValidatorSet:
        """`NewValidatorSet`: add the validators as a change set, then pick the first proposer."""
        vals = cls([])
        changes = list(validators)
        vals._apply_changes(changes, allow_deletes=False)
        if changes:
            vals.increment_proposer_priority(1)
        return vals

    @property
    def validators(self) -> tuple[Validator, ...]:
        return tuple(self._validators)

    def __len__(self) -> int:
        return len(self._validators)

    def size(self) -> int:
        return len(self._validators)

    def total_voting_power(self) -> int:
        return self._total

    def hash(self) -> bytes:
        """Merkle root over SimpleValidator{pub_key, voting_power} in set order."""
        cached = self._hash
        if cached is None:
            cached = hash_from_byte_slices([val.simple_bytes() for val in self._validators])
            self._hash = cached
        return cached

    def get_by_address(self, address: bytes) -> tuple[int, Validator] | None:
        index = self._by_address.get(address)
        return None if index is None else (index, self._validators[index])

    def has_address(self, address: bytes) -> bool:
        return address in self._by_address

    @property
    def proposer(self) -> Validator:
        """The current proposer (highest priority when none was recorded, like `GetProposer`)."""
        if not self._validators:
            raise InvalidValidatorSet("empty validator set has no proposer")
        found = None if self._proposer_address is None else self.get_by_address(self._proposer_address)
        if found is not None:
            return found[1]
        best = self._validators[0]
        for val in self._validators[1:]:
            best = _more_priority(best, val)
        self._proposer_address = best.address
        return best

    def copy(self) -> ValidatorSet:
        clone = ValidatorSet.__new__(ValidatorSet)
        clone._validators = list(self._validators)
        clone._by_address = self._by_address
        clone._total = self._total
        clone._hash = self._hash
        clone._proposer_address = self._proposer_address
        clone._encoded = self._encoded
        clone._derived = self._derived
        return clone

    def derived(self, build: Callable[[ValidatorSet], T]) -> T:
        """`build(self)`, cached until the members (addresses, keys, powers, order) change and shared by
        copies: for per-block work that does not depend on proposer priorities (each block copies sets)."""
        cached = self._derived.get(build, _MISSING)
        if cached is _MISSING:
            cached = self._derived[build] = build(self)
        return cast(T, cached)

    # -- proposer priorities -------------------------------------------------------------------

    def increment_proposer_priority(self, times: int) -> None:
        """Advance `times` rounds of proposer selection (`IncrementProposerPriority`)."""
        if not self._validators:
            raise InvalidValidatorSet("empty validator set")
        if times <= 0:
            raise ValueError("cannot increment proposer priority a non-positive number of times")
        total = self._total
        vals = self._validators
        # Plain ints, one Validator built per changed priority at the end (not per step or round):
        # loading a set replays one round per height since it last changed.
        priorities = _shifted_by_average(_rescaled(_priorities_of(vals), PRIORITY_WINDOW_SIZE_FACTOR * total))
        powers = [val.voting_power for val in vals]
        addresses = [val.address for val in vals]
        best_index = 0
        for _ in range(times):
            best_index, best_priority, best_address = -1, 0, b""
            for index, power in enumerate(powers):
                priority = priorities[index] + power  # _clip inlined: this is the hot loop
                if priority > INT64_MAX:
                    priority = INT64_MAX
                elif priority < INT64_MIN:
                    priority = INT64_MIN
                priorities[index] = priority
                if (
                    best_index < 0
                    or priority > best_priority
                    or (priority == best_priority and addresses[index] < best_address)
                ):
                    best_index, best_priority, best_address = index, priority, addresses[index]
            priorities[best_index] = _clip(best_priority - total)
        self._set_priorities(priorities)
        self._proposer_address = addresses[best_index]

    def copy_increment_proposer_priority(self, times: int) -> ValidatorSet:
        clone = self.copy()
        clone.increment_proposer_priority(times)
        return clone

    def rescale_priorities(self, diff_max: int) -> None:
        """Divide all priorities so that max - min stays within `diff_max`."""
        self._set_priorities(_rescaled(_priorities_of(self._validators), diff_max))

    def _shift_by_average_priority(self) -> None:
        self._set_priorities(_shifted_by_average(_priorities_of(self._validators)))

    def _set_priorities(self, priorities: list[int]) -> None:
        """New priorities in set order; validators whose priority stays are kept as they are."""
        self._validators = [
            val if val.proposer_priority == priority else val.with_priority(priority)
            for val, priority in zip(self._validators, priorities, strict=True)
        ]
        self._encoded = None

    # -- validator updates ---------------------------------------------------------------------

    def update_with_change_set(self, changes: Sequence[Validator]) -> None:
        """Apply ABCI validator updates: power 0 removes, unknown addresses join at -1.125*total."""
        self._apply_changes(changes, allow_deletes=True)

    def _apply_changes(self, changes: Sequence[Validator], allow_deletes: bool) -> None:
        if not changes:
            return
        updates, deletes = _split_changes(changes)
        if deletes and not allow_deletes:
            raise InvalidValidatorSet(f"cannot process validators with voting power 0: {len(deletes)}")
        new_count = sum(1 for upd in updates if not self.has_address(upd.address))
        if new_count == 0 and len(self._validators) == len(deletes):
            raise InvalidValidatorSet("applying the validator changes would result in empty set")
        removed_power = 0
        for gone in deletes:
            found = self.get_by_address(gone.address)
            if found is None:
                raise InvalidValidatorSet(f"failed to find validator {to_hex(gone.address)} to remove")
            removed_power += found[1].voting_power
        total_after_updates = self._total_after_updates(updates, removed_power)
        merged = {val.address: val for val in self._validators}
        for upd in updates:
            found = self.get_by_address(upd.address)
            if found is None:
                priority = -(total_after_updates + (total_after_updates >> 3))
            else:
                priority = found[1].proposer_priority
            merged[upd.address] = upd.with_priority(priority)
        for gone in deletes:
            del merged[gone.address]
        proposer = self._proposer_address
        self._set_validators(list(merged.values()))
        self._proposer_address = proposer
        self.rescale_priorities(PRIORITY_WINDOW_SIZE_FACTOR * self._total)
        self._shift_by_average_priority()
        self._validators.sort(key=_power_order)
        self._by_address = {val.address: index for index, val in enumerate(self._validators)}
        self._encoded = None
        self._derived = {}

    def _total_after_updates(self, updates: Sequence[Validator], removed_power: int) -> int:
        """`verifyUpdates`: the total after updates (before removals), checking for overflow."""

        def delta(upd: Validator) -> int:
            found = self.get_by_address(upd.address)
            return upd.voting_power - (found[1].voting_power if found else 0)

        running = self._total - removed_power
        for upd in sorted(updates, key=delta):
            running += delta(upd)
            if running > MAX_TOTAL_VOTING_POWER:
                raise InvalidValidatorSet(
                    f"total voting power of resulting valset exceeds max {MAX_TOTAL_VOTING_POWER}"
                )
        return running + removed_power

    # -- commit verification -------------------------------------------------------------------

    def verify_commit(self, chain_id: str, block_id: BlockID, height: int, commit: Commit) -> None:
        """Every non-absent signature checked, COMMIT power > 2/3; raises an `InvalidCommit`."""
        verify_commit(chain_id, self, block_id, height, commit)

    def verify_commit_light(
        self, chain_id: str, block_id: BlockID, height: int, commit: Commit, all_signatures: bool = False
    ) -> None:
        """COMMIT signatures only, stopping at > 2/3 unless `all_signatures`."""
        verify_commit_light(chain_id, self, block_id, height, commit, all_signatures)

    def verify_commit_light_trusting(
        self, chain_id: str, commit: Commit, trust_level: Fraction, all_signatures: bool = False
    ) -> None:
        """Signatures matched by address; power signed must exceed `trust_level` of this set."""
        verify_commit_light_trusting(chain_id, self, commit, trust_level, all_signatures)

    def verify_commit_extended(
        self, chain_id: str, block_id: BlockID, height: int, ext_commit: ExtendedCommit
    ) -> None:
        """`verify_commit` of the plain commit plus every vote-extension signature."""
        verify_commit_extended(chain_id, self, block_id, height, ext_commit)

    # -- encodings -----------------------------------------------------------------------------

    def to_proto(self) -> validator_pb2.ValidatorSet:
        """A fresh message (parsed from the cached `to_proto_bytes`)."""
        pb: validator_pb2.ValidatorSet = validator_pb2.ValidatorSet.FromString(self.to_proto_bytes())
        return pb

    def to_proto_bytes(self) -> bytes:
        """The proto encoding, built once per set state: every saved state holds three sets and each set
        appears in three consecutive states (as next, current and last), which splice these bytes in."""
        cached = self._encoded
        if cached is None:
            parts: list[bytes] = []
            add = parts.extend
            for head, val in zip(self.derived(_encoded_heads), self._validators, strict=True):
                priority = val.proposer_priority
                if priority:
                    tail = uvarint(priority)
                    add((_VALIDATORS_KEY, uvarint(len(head) + 1 + len(tail)), head, _PRIORITY_KEY, tail))
                else:
                    add((_VALIDATORS_KEY, uvarint(len(head)), head))
            if self._validators:
                proposer = self.proposer
                encoded = proposer.encoded_without_priority() + varint_field(4, proposer.proposer_priority)
                parts.append(message_field(2, encoded))
            parts.append(varint_field(3, self._total))
            cached = self._encoded = b"".join(parts)
        return cached

    @classmethod
    def from_proto(cls, pb: validator_pb2.ValidatorSet) -> ValidatorSet:
        proposer = Validator.from_proto(pb.proposer) if pb.HasField("proposer") else None
        return cls([Validator.from_proto(val) for val in pb.validators], proposer)

    @classmethod
    def from_rpc_json(cls, obj: JSONObject | Sequence[JSONObject]) -> ValidatorSet:
        """`/validators` result, `{validators, proposer}`, or a plain list (genesis `power` too)."""
        if isinstance(obj, Sequence):
            return cls(Validator.from_rpc_json(val) for val in obj)
        obj = unwrap_result(obj)
        proposer = Validator.from_rpc_json(obj["proposer"]) if obj.get("proposer") else None
        return cls((Validator.from_rpc_json(val) for val in obj.get("validators") or ()), proposer)

    def to_rpc_json(self, block_height: int | None = None) -> dict[str, object]:
        """`/validators` result shape (all validators on one page)."""
        out: dict[str, object] = {}
        if block_height is not None:
            out["block_height"] = str(block_height)
        count = str(len(self._validators))
        out.update(validators=[val.to_rpc_json() for val in self._validators], count=count, total=count)
        return out

    def __repr__(self) -> str:
        return f"ValidatorSet(size={len(self)}, total_power={self._total}, hash={to_hex(self.hash())})"


def _restore(
    validators: tuple[Validator, ...], proposer_address: bytes | None, set_hash: bytes | None
) -> ValidatorSet:
    """Unpickle a ValidatorSet (see `ValidatorSet.__reduce__`): already sorted, hash kept."""
    vals = ValidatorSet.__new__(ValidatorSet)
    vals._set_validators(list(validators))
    vals._hash = set_hash
    vals._proposer_address = proposer_address
    return vals


def _encoded_heads(vals: ValidatorSet) -> tuple[bytes, ...]:
    return tuple(val.encoded_without_priority() for val in vals.validators)


def _priorities_of(validators: Sequence[Validator]) -> list[int]:
    return [val.proposer_priority for val in validators]


def _rescaled(priorities: list[int], diff_max: int) -> list[int]:
    """`RescalePriorities`: divide (truncating, as Go) so that max - min stays within `diff_max`."""
    if diff_max <= 0 or not priorities:
        return priorities
    diff = max(priorities) - min(priorities)
    if diff <= diff_max:
        return priorities
    ratio = (diff + diff_max - 1) // diff_max
    return [_go_div(priority, ratio) for priority in priorities]


def _shifted_by_average(priorities: list[int]) -> list[int]:
    """`shiftByAvgProposerPriority`: subtract the flooring average from every priority."""
    average = sum(priorities) // len(priorities)
    shifted = [priority - average for priority in priorities]
    if min(shifted) < INT64_MIN or max(shifted) > INT64_MAX:
        return [_clip(priority) for priority in shifted]
    return shifted


def _split_changes(changes: Sequence[Validator]) -> tuple[list[Validator], list[Validator]]:
    """`processChanges`: sort by address, reject duplicates and bad powers, split updates/removals."""
    updates: list[Validator] = []
    deletes: list[Validator] = []
    previous: bytes | None = None
    for change in sorted(changes, key=lambda val: val.address):
        if change.address == previous:
            raise InvalidValidatorSet(f"duplicate entry {to_hex(change.address)} in validator changes")
        if change.voting_power < 0:
            raise InvalidValidatorSet(f"voting power can't be negative: {change.voting_power}")
        if change.voting_power > MAX_TOTAL_VOTING_POWER:
            raise InvalidValidatorSet(
                f"voting power can't be higher than {MAX_TOTAL_VOTING_POWER}, got {change.voting_power}"
            )
        (deletes if change.voting_power == 0 else updates).append(change)
        previous = change.address
    return updates, deletes
