"""The mempool's LRU cache of tx keys: a tx seen recently is refused again without asking the app."""

from __future__ import annotations

from collections import OrderedDict


class TxCache:
    """CometBFT's `LRUTxCache`; `capacity` 0 disables caching (every push succeeds)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"cache capacity must be >= 0, got {capacity}")
        self._capacity = capacity
        self._keys: OrderedDict[bytes, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: bytes) -> bool:
        return key in self._keys

    def push(self, key: bytes) -> bool:
        """Remember `key`; False if it was already there (it becomes the most recent again)."""
        if self._capacity == 0:
            return True
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self._capacity:
            self._keys.popitem(last=False)
        return True

    def remove(self, key: bytes) -> None:
        self._keys.pop(key, None)
