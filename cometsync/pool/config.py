"""Tunables of the block pool; defaults follow CometBFT v0.38.25 where it has a constant."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class PoolConfig:
    """Every knob CometBFT hard-codes, plus the byte window and liveness rules cometsync adds."""

    max_pending_per_peer: int = 20
    """Requests in flight to one peer; heights still awaited are capped at peers x this."""
    max_requesters: int = 600
    """Heights ahead of the pool (awaited or held). CometBFT v0.38 caps *all* requesters at peers x 20,
    so blocks held for the loop starve the requests: with peers that flush every 100 ms, the sync waits
    for blocks. Held blocks are bounded by `window_bytes` and this (CometBFT's older maxTotalRequesters)."""
    window_bytes: int = 128 * MIB
    """Bytes of blocks held plus the estimated size of blocks still awaited (CometBFT has no such bound)."""
    size_samples: int = 32
    """How many recent block sizes feed the (max-based) size estimate of an awaited block."""
    second_request_distance: int = 50
    """Heights closer than this to the pool height are asked from two peers at once."""
    retry_seconds: float = 30.0
    """A requester that got no block for this long re-asks other peers."""
    peer_timeout: float = 15.0
    """A peer with pending requests that delivers no block for this long is dropped."""
    min_recv_rate: float = 128 * 1024
    """Bytes/s floor of CometBFT; also scales the timeout for big blocks (size / rate)."""
    slow_latency_factor: float = 10.0
    """A peer is slow only if its answers take this many times longer than the best other peer's."""
    latency_samples: int = 3
    """Answers a peer must have given before its latency is compared with others'."""
    latency_smoothing: float = 0.2
    """Weight of the newest answer in a peer's latency average."""
    rate_sample_period: float = 1.0
    rate_window: float = 40.0
    ban_seconds: float = 60.0
    peer_conn_wait: float = 3.0
    """No requests before this long after start, so several peers can report their range first."""
    max_refusals: int = 3
    """NoBlockResponses for claimed heights plus peer timeouts after which a peer is banned and dropped."""
    received_block_or_wait: float = 5.0
    """CometBFT's IsCaughtUp clause: a block was received or this long has passed since start."""
    no_block_timeout: float = 30.0
    """SyncTracker floor: with no verified block for this long the pool counts as caught up."""
