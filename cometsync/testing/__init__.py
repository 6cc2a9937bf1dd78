"""Tools that build real CometBFT chains for tests, benchmarks and local devnets."""

from cometsync.testing.chain import BlockPlan, BuilderApp, ChainBuilder, DevnetSpec, kvstore_txs

__all__ = ["BlockPlan", "BuilderApp", "ChainBuilder", "DevnetSpec", "kvstore_txs"]
