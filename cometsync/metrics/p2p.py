"""Counters of rejected peer input by reason, read at scrape time from the switch's `RejectionLog`.

`cometsync_p2p_dropped_messages_total{reason}`: messages refused before decoding with the peer kept;
`cometsync_p2p_closed_connections_total{reason}`: connections closed or refused (handshake errors,
protocol violations, evictions); `cometsync_p2p_peer_bans_total{reason}`: peers banned for hostile input.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, Metric

PREFIX = "cometsync_p2p_"


class RejectionCounts(Protocol):
    """`cometsync.p2p.rejections.RejectionLog`."""

    @property
    def drops(self) -> Counter[str]: ...

    @property
    def closes(self) -> Counter[str]: ...

    @property
    def bans(self) -> Counter[str]: ...


class RejectionCollector:
    """One counter family per event type, one sample per reason seen so far."""

    def __init__(self, counts: RejectionCounts, chain_id: str) -> None:
        self._counts = counts
        self._chain_id = chain_id

    def collect(self) -> Iterator[Metric]:
        families = (
            ("dropped_messages", "Peer messages dropped before decoding (peer kept).", self._counts.drops),
            ("closed_connections", "Peer connections closed or refused, by reason.", self._counts.closes),
            ("peer_bans", "Peers banned for hostile input, by reason.", self._counts.bans),
        )
        for name, doc, counter in families:
            family = CounterMetricFamily(PREFIX + name, doc, labels=["chain_id", "reason"])
            for reason, count in sorted(counter.items()):
                family.add_metric([self._chain_id, reason], count)
            yield family


def register_p2p_metrics(registry: CollectorRegistry, counts: RejectionCounts, chain_id: str) -> None:
    registry.register(RejectionCollector(counts, chain_id))
