"""Prometheus metrics: CometBFT's blocksync names plus cometsync's pool and timing metrics."""

from cometsync.metrics.blocksync import BlocksyncMetrics
from cometsync.metrics.server import MetricsResource, listen_metrics

__all__ = ["BlocksyncMetrics", "MetricsResource", "listen_metrics"]
