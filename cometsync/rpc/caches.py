"""What `/status` would otherwise rebuild per request: its result (two block metas, node info, our
voting power) and that result encoded.

They change only with a new block (or node info), so `/status` reads nothing from the stores and
encodes no JSON between blocks, and never replays proposer priorities (voting power does not depend on
them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from cometsync.state import State
from cometsync.store.errors import StoreError
from cometsync.types import ValidatorSet

K = TypeVar("K")
V = TypeVar("V")


class LastResult(Generic[K, V]):
    """The last value built, reused while its key stays equal (a new block, a new key); the key itself
    first (an identity check spares comparing a big key with itself)."""

    def __init__(self) -> None:
        self._last: tuple[K, V] | None = None

    def get(self, key: K, build: Callable[[], V]) -> V:
        if self._last is None or (self._last[0] is not key and self._last[0] != key):
            self._last = (key, build())
        return self._last[1]


def _set_at(state: State, height: int) -> ValidatorSet | None:
    """The live state holds the sets of its last block, the next one and the one after."""
    offset = height - state.last_block_height
    if offset == 0:
        return state.last_validators
    if offset == 1:
        return state.validators
    if offset == 2:
        return state.next_validators
    return None


def _power_in(validators: ValidatorSet, address: bytes) -> int:
    found = validators.get_by_address(address)
    return found[1].voting_power if found else 0


class VotingPowerCache:
    """A validator's voting power at a height: from the node's live state when that covers the height,
    otherwise from the state store once per height (that load replays priorities from a checkpoint)."""

    def __init__(self) -> None:
        self._stored: tuple[int, bytes, int] | None = None

    def power(
        self, address: bytes, height: int, state: State | None, load: Callable[[int], ValidatorSet]
    ) -> int:
        live = _set_at(state, height) if state is not None else None
        if live is not None:
            return _power_in(live, address)
        if self._stored is not None and self._stored[:2] == (height, address):
            return self._stored[2]
        try:
            power = _power_in(load(height), address)
        except StoreError:
            return 0
        self._stored = (height, address, power)
        return power


class StatusCache:
    """`/status`'s result, rebuilt only when what it shows changed, and its URI answer, encoded only when
    the result is a new one."""

    def __init__(self) -> None:
        self.result: LastResult[tuple[object, ...], dict[str, object]] = LastResult()
        self.uri_body: LastResult[dict[str, object], bytes] = LastResult()
        self.voting_power = VotingPowerCache()
