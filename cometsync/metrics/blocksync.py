"""Blocksync metrics on a private registry, read at scrape time from the reactor's counters and the pool.

CometBFT's names (`cometbft_blocksync_*`, label chain_id) come from the reactor's totals; cometsync's own
(`cometsync_blocksync_*`) add pool gauges, the recent rate, bans, and the sync loop's verify/apply timings.
Nothing is pushed into this registry: every series is read from the counters when scraped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from cometsync.clock import Clock
from cometsync.rpc.env import PoolView
from cometsync.rpc.progress import SyncProgress

COMETBFT_NAMESPACE = "cometbft"
OURS = "cometsync_blocksync_"


class Durations(Protocol):
    """`cometsync.blocksync.metrics.Durations`: per-bucket counts (last one +Inf), sum and count."""

    @property
    def buckets(self) -> tuple[float, ...]: ...

    @property
    def counts(self) -> Sequence[int]: ...

    @property
    def total(self) -> float: ...

    @property
    def count(self) -> int: ...


class ReactorCounters(Protocol):
    """`cometsync.blocksync.metrics.SyncMetrics` (the reactor's running totals)."""

    @property
    def syncing(self) -> bool: ...

    @property
    def txs_synced(self) -> int: ...

    @property
    def blocks_synced(self) -> int: ...

    @property
    def latest_block_height(self) -> int: ...

    @property
    def last_block_size(self) -> int: ...

    @property
    def last_block_txs(self) -> int: ...

    @property
    def peer_bans(self) -> int: ...

    @property
    def verify_seconds(self) -> Durations: ...

    @property
    def apply_seconds(self) -> Durations: ...


def _histogram(name: str, doc: str, chain: list[str], durations: Durations) -> HistogramMetricFamily:
    cumulative, buckets = 0, []
    for bound, count in zip((*durations.buckets, float("inf")), durations.counts, strict=True):
        cumulative += count
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(cumulative)))
    family = HistogramMetricFamily(name, doc, labels=["chain_id"])
    family.add_metric(chain, buckets, sum_value=durations.total)
    return family


class _SnapshotCollector:
    """Turns the current counters and pool status into metric families on every scrape."""

    def __init__(self, owner: BlocksyncMetrics) -> None:
        self._owner = owner

    def collect(self) -> Iterator[Metric]:
        owner = self._owner
        chain = [owner.chain_id]
        prefix = f"{owner.namespace}_blocksync_"

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=["chain_id"])
            family.add_metric(chain, value)
            return family

        counters = owner.counters
        yield gauge(
            prefix + "syncing",
            "Whether or not a node is block syncing. 1 if yes, 0 if no.",
            1 if counters.syncing else 0,
        )
        yield gauge(
            prefix + "num_txs", "Number of transactions in the latest block.", counters.last_block_txs
        )
        yield gauge(prefix + "total_txs", "Total number of transactions.", counters.txs_synced)
        yield gauge(prefix + "block_size_bytes", "Size of the latest block.", counters.last_block_size)
        yield gauge(
            prefix + "latest_block_height", "The height of the latest block.", counters.latest_block_height
        )
        synced = CounterMetricFamily(
            OURS + "blocks_synced", "Blocks verified and applied by blocksync.", labels=["chain_id"]
        )
        synced.add_metric(chain, counters.blocks_synced)
        yield synced
        bans = CounterMetricFamily(
            OURS + "peer_bans", "Peers banned for lies, bad blocks or refusals.", labels=["chain_id"]
        )
        bans.add_metric(chain, counters.peer_bans)
        yield bans
        yield _histogram(
            OURS + "verify_seconds",
            "Time to verify one block against the next one's commit.",
            chain,
            counters.verify_seconds,
        )
        yield _histogram(
            OURS + "apply_seconds", "Time to apply one block (store and ABCI).", chain, counters.apply_seconds
        )
        if owner.pool is None:
            return
        status = owner.pool.status()
        owner.progress.observe(owner.clock.seconds(), status.height)
        yield gauge(OURS + "pool_height", "Next height the block pool will apply.", status.height)
        yield gauge(OURS + "max_peer_height", "Highest height reported by a peer.", status.max_peer_height)
        yield gauge(OURS + "peers", "Peers serving blocks to the pool.", len(status.peers))
        yield gauge(
            OURS + "pending_requests", "Heights whose block has not arrived yet.", status.num_awaiting_block
        )
        yield gauge(OURS + "in_flight_requests", "Block requests sent and unanswered.", status.num_in_flight)
        yield gauge(OURS + "bytes_held", "Bytes of blocks held or awaited by the pool.", status.bytes_held)
        yield gauge(OURS + "banned_peers", "Peers currently banned by the pool.", len(status.banned))
        yield gauge(
            OURS + "blocks_per_second",
            "Blocks applied per second over a recent window.",
            owner.progress.blocks_per_second(),
        )


class BlocksyncMetrics:
    """One per node; `render()` is what `/metrics` serves."""

    def __init__(
        self,
        chain_id: str,
        counters: ReactorCounters,
        clock: Clock,
        *,
        pool: PoolView | None = None,
        progress: SyncProgress | None = None,
        namespace: str = COMETBFT_NAMESPACE,
    ) -> None:
        """`pool` adds the pool gauges; share `progress` with the RPC so both report one rate."""
        self.chain_id = chain_id
        self.namespace = namespace
        self.counters = counters
        self.pool = pool
        self.progress = progress or SyncProgress()
        self.clock = clock
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_SnapshotCollector(self))

    def render(self) -> bytes:
        """Prometheus text exposition of this registry."""
        return generate_latest(self.registry)
