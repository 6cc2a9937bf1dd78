"""What `/status` would otherwise re-read per request: block metas by height and our voting power.

Both change only with a new block, so `/status` costs no store read between blocks and never replays
proposer priorities (voting power does not depend on them).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from cometsync.state import State
from cometsync.store.errors import StoreError
from cometsync.types import BlockMeta, ValidatorSet

META_CACHE_SIZE = 4
"""The earliest and the latest meta, plus the previous latest while a new block is saved."""


class BlockMetaCache:
    """Stored metas by height (a stored meta never changes); a missing one is looked up again next time."""

    def __init__(self, size: int = META_CACHE_SIZE) -> None:
        self._size = size
        self._metas: OrderedDict[int, BlockMeta] = OrderedDict()

    def get(self, height: int, load: Callable[[int], BlockMeta | None]) -> BlockMeta | None:
        meta = self._metas.get(height)
        if meta is not None:
            self._metas.move_to_end(height)
            return meta
        meta = load(height)
        if meta is not None:
            self._metas[height] = meta
            if len(self._metas) > self._size:
                self._metas.popitem(last=False)
        return meta


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
