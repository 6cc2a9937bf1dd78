"""Pre-decode filter for the blocksync channel (CometBFT v0.38.24+ `FilterMsgBytes`, and stricter).

Decoding a BlockResponse costs far more than sending it: a peer can pad one with millions of commit
signatures or empty txs, or flood us with blocks we never asked for. This filter reads the raw bytes
without materialising them: first the block's height (a few header fields, O(1)), so a response we did
not ask *this peer* for *this height* is dropped before anything else and counted against the peer;
then a budget walk over every repeated field a peer can inflate, so the decoded size of an accepted
message stays within a small multiple of its wire size. See docs/blocksync.md for the budgets.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from cometsync.blocksync.codec import BLOCKSYNC_CHANNEL, MAX_MSG_SIZE, MAX_VOTES_COUNT
from cometsync.proto.wire import WIRE_LEN, WIRE_VARINT, WireField, WireFormatError, iter_fields, read_varint

_BLOCK_RESPONSE = 3
_HEADER_HEIGHT = 3

SMALL_MESSAGE_MAX = 1024
"""Largest non-BlockResponse blocksync message (an honest StatusResponse is at most 22 bytes)."""
MAX_EVIDENCE = 10_000
"""Evidence items per block (the default `evidence.max_bytes` of 1 MiB holds about 2,500)."""
FREE_ELEMENTS = 50_000
"""Repeated elements (txs, evidence, signatures, validators) a message may hold whatever its size."""
ELEMENT_OVERHEAD = 200
"""Bytes one decoded element costs us beyond its wire bytes (protobuf object, Python bytes, tuple slot)."""
DECODE_FACTOR = 4
"""Decoded size may reach this multiple of the wire size (plus the free elements)."""
UNSOLICITED_BUDGET = 8
"""BlockResponses a peer may send that we did not ask it for (late honest copies) before it is banned."""
LATE_AFTER_SWITCH_BUDGET = 100
"""After the switch to consensus, answers to our last requests still arrive; more than this is a flood."""
MAX_REMEMBERED_REQUESTS = 1024
"""Heights asked of one peer that we remember, so its late answer is dropped without a strike."""
_MAX_FIELDS_PER_LEVEL = 32
"""Fields in one of the fixed-shape messages on the way to the header (honest ones have at most 14)."""


class FilterRejected(Exception):
    """The message must not be processed and the peer must be stopped for `reason` (banned if `ban`).

    `kind` is a short, fixed label for counters and log rate limits.
    """

    def __init__(self, reason: str, kind: str = "rejected", *, ban: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.ban = ban


class SyncState(enum.Enum):
    """Where the local node is in its blocksync life, as far as accepting BlockResponses goes."""

    INACTIVE = "inactive"
    """Blocksync never ran (e.g. started as a validator in consensus): no BlockResponse was asked for."""
    ACTIVE = "active"
    """Syncing: only the peers we asked for a height may send that height."""
    STOPPED_AFTER_SWITCH = "stopped_after_switch"
    """Switched to consensus: answers to our last requests may still arrive and are dropped quietly."""


class Verdict(enum.Enum):
    DELIVER = "deliver"
    DROP = "drop"
    """Not asked of this peer: skip decoding, keep the peer (it was charged a strike)."""
    LATE = "late"
    """The answer to a request the pool no longer waits for: skip decoding, no strike."""


@dataclass(frozen=True)
class Budget:
    """Caps of one repeated field, per occurrence of its parent message."""

    name: str
    cap: int


@dataclass(frozen=True)
class _Node:
    """How to walk one field: its budget if repeated, and its sub-message schema if we descend."""

    budget: Budget | None = None
    children: dict[int, _Node] | None = None


_SIGS = Budget("commit signatures", MAX_VOTES_COUNT)
_EXT_SIGS = Budget("extended commit signatures", MAX_VOTES_COUNT)
_EV_SIGS = Budget("evidence commit signatures", MAX_VOTES_COUNT)
_EV_VALIDATORS = Budget("evidence validators", MAX_VOTES_COUNT)
_TXS = Budget("txs", MAX_MSG_SIZE)  # bounded by the element budget below, which is far lower
_EVIDENCE = Budget("evidence", MAX_EVIDENCE)

_LIGHT_BLOCK = {
    1: _Node(children={2: _Node(children={4: _Node(_EV_SIGS)})}),  # signed_header.commit.signatures
    2: _Node(children={1: _Node(_EV_VALIDATORS)}),  # validator_set.validators
}
_EVIDENCE_ITEM = {2: _Node(children={1: _Node(children=_LIGHT_BLOCK), 3: _Node(_EV_VALIDATORS)})}
_BLOCK = {
    2: _Node(children={1: _Node(_TXS)}),  # data.txs
    3: _Node(children={1: _Node(_EVIDENCE, _EVIDENCE_ITEM)}),  # evidence.evidence
    4: _Node(children={4: _Node(_SIGS)}),  # last_commit.signatures
}
_RESPONSE = {1: _Node(children=_BLOCK), 2: _Node(children={4: _Node(_EXT_SIGS)})}


def element_allowance(wire_size: int) -> int:
    """Repeated elements a message of `wire_size` bytes may carry (decoded size <= factor x wire + free)."""
    return FREE_ELEMENTS + wire_size * (DECODE_FACTOR - 1) // ELEMENT_OVERHEAD


@dataclass(frozen=True)
class ResponseHead:
    """What the first fields of a blocksync message say: its kind and, for a BlockResponse, the height."""

    field: int
    height: int | None = None


def read_head(data: bytes) -> ResponseHead:
    """The message's only top-level field and, for a BlockResponse, `block.header.height`; O(1).

    Honest messages hold exactly one field of the oneof and each sub-message at most once (gogoproto
    never merges), so anything else is refused instead of walked: its cost would be the attacker's choice.
    """
    fields = _fields(data, 0, len(data), "message", limit=1)
    top = fields[0]
    if top.number != _BLOCK_RESPONSE:
        return ResponseHead(top.number)
    _expect_len(top, "block_response")
    block = _sole(data, top, 1, "block")
    if block is None:
        return ResponseHead(top.number)
    header = _sole(data, block, 1, "header")
    if header is None:
        return ResponseHead(top.number, 0)
    height = 0
    for field in _fields(data, header.start, header.end, "header", limit=_MAX_FIELDS_PER_LEVEL):
        if field.number == _HEADER_HEIGHT:
            if field.wire_type != WIRE_VARINT:
                raise WireFormatError("header height is not a varint")
            height = _varint_at(data, field.start)
    return ResponseHead(top.number, height)


def read_prefix(prefix: bytes) -> tuple[int, int] | None:
    """(whole message size, first `header.height`) from the first bytes of a canonical BlockResponse.

    None when the prefix is not one (another message, odd layout, too short): the full check decides.
    """
    try:
        if not prefix or prefix[0] != (_BLOCK_RESPONSE << 3 | WIRE_LEN):
            return None
        length, pos = read_varint(prefix, 1, len(prefix))
        total = pos + length
        for _ in ("block", "header"):
            if pos >= len(prefix) or prefix[pos] != (1 << 3 | WIRE_LEN):
                return None
            _, pos = read_varint(prefix, pos + 1, len(prefix))
        while pos < len(prefix):
            tag, pos = read_varint(prefix, pos, len(prefix))
            number, wire_type = tag >> 3, tag & 7
            if number == _HEADER_HEIGHT and wire_type == WIRE_VARINT:
                return total, _varint_at(prefix, pos)
            if number > _HEADER_HEIGHT or wire_type not in (WIRE_VARINT, WIRE_LEN):
                return total, 0
            value, pos = read_varint(prefix, pos, len(prefix))
            if wire_type == WIRE_LEN:
                pos += value
    except WireFormatError:
        return None
    return None


def check_budgets(data: bytes) -> None:
    """Raise FilterRejected if any repeated field of a BlockResponse is over its budget; stops early."""
    walker = _BudgetWalker(data, element_allowance(len(data)))
    top = _fields(data, 0, len(data), "message", limit=1)[0]
    walker.walk(top.start, top.end, _RESPONSE)


class MsgBytesFilter:
    """Runs on every complete channel message before decoding.

    `expects_block(peer_id, height)` is the pool's answer to "did we ask this peer for this height, and
    has it not answered yet?". The reactor moves `state` along as it enables blocksync and switches.
    `check` returns a Verdict or raises FilterRejected; strikes are kept per peer until `forget`.
    """

    def __init__(
        self,
        expects_block: Callable[[str, int], bool],
        state: SyncState = SyncState.INACTIVE,
        max_message_size: int = MAX_MSG_SIZE,
    ) -> None:
        self._expects_block = expects_block
        self.state = state
        self.max_message_size = max_message_size
        self.strikes: dict[str, int] = {}
        self._claimed: set[tuple[str, int]] = set()
        """(peer, height) delivered for decoding and not yet through the pool: a second copy is a strike."""
        self._requested: dict[str, dict[int, None]] = {}
        """Heights we asked each peer for and it has not answered (oldest first, bounded)."""

    def requested(self, peer_id: str, height: int) -> None:
        """We sent `peer_id` a BlockRequest for `height`: one answer is never a strike, however late."""
        heights = self._requested.setdefault(peer_id, {})
        heights[height] = None
        if len(heights) > MAX_REMEMBERED_REQUESTS:
            del heights[next(iter(heights))]

    def forget(self, peer_id: str) -> None:
        """The peer is gone: its strikes, claims and requests go too."""
        self.strikes.pop(peer_id, None)
        self._requested.pop(peer_id, None)
        self._claimed = {claim for claim in self._claimed if claim[0] != peer_id}

    def release(self, peer_id: str, height: int) -> None:
        """The pool has seen the block `peer_id` sent for `height` (its next copy is judged afresh)."""
        self._claimed.discard((peer_id, height))

    def peek(self, peer_id: str, prefix: bytes) -> Verdict:
        """The first bytes of a long blocksync message: DROP/LATE discard the rest unbuffered."""
        if prefix and prefix[0] >> 3 != _BLOCK_RESPONSE and len(prefix) >= SMALL_MESSAGE_MAX:
            raise FilterRejected(
                f"blocksync message (tag {prefix[0]:#04x}) longer than {SMALL_MESSAGE_MAX} bytes", "oversized"
            )
        head = read_prefix(prefix)
        if head is None:
            return Verdict.DELIVER
        size, height = head
        if size > self.max_message_size:
            raise FilterRejected(
                f"BlockResponse of {size} bytes exceeds {self.max_message_size}", "oversized"
            )
        if self._solicited(peer_id, height):
            return Verdict.DELIVER
        if self._answered(peer_id, height):
            return Verdict.LATE
        return self._strike(peer_id, height)

    def check(self, channel_id: int, peer_id: str, data: bytes) -> Verdict:
        if channel_id != BLOCKSYNC_CHANNEL or not data:
            return Verdict.DELIVER
        if len(data) > self.max_message_size:
            raise FilterRejected(
                f"blocksync message of {len(data)} bytes exceeds {self.max_message_size}", "oversized"
            )
        try:
            head = read_head(data)
        except WireFormatError as exc:
            raise FilterRejected(f"malformed blocksync message: {exc}", "malformed") from exc
        if head.field != _BLOCK_RESPONSE:
            if len(data) > SMALL_MESSAGE_MAX:
                raise FilterRejected(
                    f"blocksync message (field {head.field}) of {len(data)} bytes "
                    f"exceeds {SMALL_MESSAGE_MAX}",
                    "oversized",
                )
            return Verdict.DELIVER
        answered = self._answered(peer_id, head.height)
        if self._solicited(peer_id, head.height):
            _check_budgets(data)
            assert head.height is not None
            self._claimed.add((peer_id, head.height))
            return Verdict.DELIVER
        verdict = Verdict.LATE if answered else self._strike(peer_id, head.height)
        if self.state is SyncState.STOPPED_AFTER_SWITCH:
            _check_budgets(data)  # CometBFT still refuses signature bombs after the switch
        return verdict

    def _solicited(self, peer_id: str, height: int | None) -> bool:
        if self.state is not SyncState.ACTIVE or height is None or (peer_id, height) in self._claimed:
            return False
        return self._expects_block(peer_id, height)

    def _answered(self, peer_id: str, height: int | None) -> bool:
        """True (once) if we asked `peer_id` for `height`: its answer, on time or late."""
        heights = self._requested.get(peer_id)
        if heights is None or height not in heights:
            return False
        del heights[height]
        return True

    def _strike(self, peer_id: str, height: int | None) -> Verdict:
        strikes = self.strikes.get(peer_id, 0) + 1
        self.strikes[peer_id] = strikes
        what = "without a block" if height is None else f"for height {height}"
        if self.state is SyncState.STOPPED_AFTER_SWITCH:
            if strikes > LATE_AFTER_SWITCH_BUDGET:
                raise FilterRejected(
                    f"{strikes} BlockResponses after the switch to consensus "
                    f"(budget {LATE_AFTER_SWITCH_BUDGET})",
                    "unsolicited",
                )
            return Verdict.DROP
        if self.state is SyncState.INACTIVE:
            raise FilterRejected("unsolicited BlockResponse: blocksync not active", "unsolicited")
        if strikes > UNSOLICITED_BUDGET:
            raise FilterRejected(
                f"unsolicited BlockResponse {what}: {strikes} unasked responses "
                f"(budget {UNSOLICITED_BUDGET})",
                "unsolicited",
            )
        return Verdict.DROP


def _check_budgets(data: bytes) -> None:
    try:
        check_budgets(data)
    except WireFormatError as exc:
        raise FilterRejected(f"malformed BlockResponse: {exc}", "malformed") from exc


class _BudgetWalker:
    """Walks the schema's sub-messages, counting repeated fields against their caps and the element total."""

    def __init__(self, data: bytes, allowance: int) -> None:
        self._data = data
        self._allowance = allowance
        self.elements = 0

    def walk(self, start: int, end: int, schema: dict[int, _Node]) -> None:
        """One message's fields; per signature or tx this is the hot loop, so the common case is inline."""
        counts: dict[int, int] = {}
        node_of = schema.get
        for number, wire_type, value_start, value_end in iter_fields(self._data, start, end):
            node = node_of(number)
            if node is None:
                continue
            if wire_type != WIRE_LEN:
                raise WireFormatError(f"wrong wire type {wire_type} for field sub-message")
            count = counts[number] = counts.get(number, 0) + 1
            budget = node.budget
            if budget is None:
                if count > 1:
                    raise FilterRejected(
                        f"non-canonical BlockResponse: field {number} repeated", "non_canonical"
                    )
            elif count > budget.cap or self.elements >= self._allowance:
                self._reject_charge(budget, count)
            else:
                self.elements += 1
            if node.children is not None:
                self.walk(value_start, value_end, node.children)

    def _reject_charge(self, budget: Budget, count: int) -> NoReturn:
        """Charging one more element breaks the field's cap or the message's allowance: say which."""
        if count > budget.cap:
            raise FilterRejected(f"too many {budget.name} in BlockResponse: more than {budget.cap}", "budget")
        raise FilterRejected(
            f"BlockResponse of {len(self._data)} bytes holds more than {self._allowance} repeated "
            f"elements (would decode to over {DECODE_FACTOR}x its size)",
            "budget",
        )


def _fields(data: bytes, start: int, end: int, name: str, *, limit: int) -> list[WireField]:
    """All fields of a fixed-shape message, refusing more than `limit` (and an empty top level)."""
    found: list[WireField] = []
    for field in iter_fields(data, start, end):
        found.append(field)
        if len(found) > limit:
            raise FilterRejected(
                f"non-canonical blocksync message: more than {limit} fields in {name}", "non_canonical"
            )
    if not found:
        raise WireFormatError(f"empty {name}")
    return found


def _sole(data: bytes, parent: WireField, number: int, name: str) -> WireField | None:
    """The only occurrence of sub-message `number` in `parent`, None if absent."""
    found = None
    for field in _fields_or_empty(data, parent, name):
        if field.number == number:
            if found is not None:
                raise FilterRejected(f"non-canonical BlockResponse: {name} repeated", "non_canonical")
            _expect_len(field, name)
            found = field
    return found


def _fields_or_empty(data: bytes, parent: WireField, name: str) -> list[WireField]:
    if parent.start == parent.end:
        return []
    return _fields(data, parent.start, parent.end, name, limit=_MAX_FIELDS_PER_LEVEL)


def _varint_at(data: bytes, pos: int) -> int:
    value, _ = read_varint(data, pos, len(data))
    return value - (1 << 64) if value >= 1 << 63 else value


def _expect_len(field: WireField, name: str) -> None:
    if field.wire_type != WIRE_LEN:
        raise WireFormatError(f"wrong wire type {field.wire_type} for field {name}")
