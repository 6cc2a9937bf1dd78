"""The request for one height: which peers were asked, which may still answer, and the block once it came."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar


class HasHeight(Protocol):
    """Blocks and extended commits are opaque to the pool except for their height."""

    @property
    def height(self) -> int: ...


BlockT = TypeVar("BlockT", bound=HasHeight)
CommitT = TypeVar("CommitT", bound=HasHeight)


class Requester(Generic[BlockT, CommitT]):
    """Up to two asked peers (primary, second); `outstanding`: those owing an answer -> request time."""

    def __init__(self, height: int) -> None:
        self.height = height
        self.primary: str | None = None
        self.second: str | None = None
        self.outstanding: dict[str, float] = {}
        self.former: set[str] = set()
        """Peers whose request was given up on (retry timer); their late answer is still welcome."""
        self.retry_deadline: float | None = None
        self.block: BlockT | None = None
        self.ext_commit: CommitT | None = None
        self.block_size = 0
        self.sender: str | None = None

    def asked(self, peer_id: str) -> bool:
        return peer_id in (self.primary, self.second)

    def may_answer(self, peer_id: str) -> bool:
        return self.asked(peer_id) or peer_id in self.former

    def slot_peers(self) -> list[str]:
        return [peer for peer in (self.primary, self.second) if peer is not None]

    def assign(self, peer_id: str, now: float, *, second: bool) -> None:
        if second:
            self.second = peer_id
        else:
            self.primary = peer_id
        self.outstanding[peer_id] = now
        self.former.discard(peer_id)

    def clear_slot(self, peer_id: str) -> bool:
        """Forget that `peer_id` was asked; True if it still owed an answer (its pending slot is freed)."""
        if self.primary == peer_id:
            self.primary = None
        if self.second == peer_id:
            self.second = None
        return self.outstanding.pop(peer_id, None) is not None

    def promote_second(self) -> None:
        if self.primary is None and self.second is not None:
            self.primary, self.second = self.second, None

    def set_block(self, block: BlockT, ext_commit: CommitT | None, size: int, peer_id: str) -> None:
        self.block = block
        self.ext_commit = ext_commit
        self.block_size = size
        self.sender = peer_id
        self.retry_deadline = None

    def drop_block(self) -> int:
        """Discard the block (its sender was bad); returns the bytes released."""
        size = self.block_size
        self.block = None
        self.ext_commit = None
        self.block_size = 0
        self.sender = None
        return size
