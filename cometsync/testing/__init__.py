"""Tools that build real CometBFT chains for tests, benchmarks and local devnets."""

from cometsync.testing.chain import BlockPlan, ChainBuilder, DevnetSpec, kvstore_txs

__all__ = ["BlockPlan", "ChainBuilder", "DevnetSpec", "kvstore_txs"]
