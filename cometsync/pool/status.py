"""Read-only snapshots of the pool for the CLI, RPC and logs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PeerStatus:
    peer_id: str
    base: int
    height: int
    num_pending: int
    byte_rate: float
    block_rate: float
    blocks_delivered: int


@dataclass(frozen=True)
class BanStatus:
    peer_id: str
    remaining_seconds: float


@dataclass(frozen=True)
class PoolStatus:
    """Everything an operator asks while syncing: where we are, what is in flight, who serves us."""

    running: bool
    height: int
    start_height: int
    max_peer_height: int
    num_requesters: int
    num_awaiting_block: int
    num_in_flight: int
    bytes_held: int
    window_bytes: int
    block_size_estimate: int | None
    peers: tuple[PeerStatus, ...]
    banned: tuple[BanStatus, ...]


@dataclass(frozen=True)
class CaughtUp:
    """Answer of BlockPool.is_caught_up(); truthy when the reactor may switch to consensus."""

    caught_up: bool
    reason: str

    def __bool__(self) -> bool:
        return self.caught_up
