"""Blocksync metrics on a private registry, read at scrape time from the reactor's counters and the pool.

CometBFT's names (`cometbft_blocksync_*`, label chain_id) come from the reactor's totals; cometsync's own
(`cometsync_blocksync_*`) add pool gauges, the recent rate, and verify/apply timings the node reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from cometsync.clock import Clock
from cometsync.rpc.env import PoolView
from cometsync.rpc.progress import SyncProgress

COMETBFT_NAMESPACE = "cometbft"
OURS = "cometsync_blocksync_"
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


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
        labels = ["chain_id"]
        self._bans = Counter(
            OURS + "peer_bans", "Peers banned for bad blocks or slowness.", labels, registry=self.registry
        ).labels(chain_id=chain_id)
        self._verify = Histogram(
            OURS + "verify_seconds",
            "Time to verify one block's commit.",
            labels,
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        ).labels(chain_id=chain_id)
        self._apply = Histogram(
            OURS + "apply_seconds",
            "Time to apply one block (ABCI and stores).",
            labels,
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        ).labels(chain_id=chain_id)

    def record_ban(self) -> None:
        self._bans.inc()

    def observe_verify(self, seconds: float) -> None:
        self._verify.observe(seconds)

    def observe_apply(self, seconds: float) -> None:
        self._apply.observe(seconds)

    def render(self) -> bytes:
        """Prometheus text exposition of this registry."""
        return generate_latest(self.registry)
