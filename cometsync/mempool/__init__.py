"""CometBFT's clist mempool essentials: CheckTx'd txs in arrival order, a dedupe cache, limits, recheck."""

from cometsync.mempool.cache import TxCache
from cometsync.mempool.errors import (
    MempoolError,
    MempoolIsFull,
    TxInCache,
    TxTooLarge,
)
from cometsync.mempool.mempool import CheckTxApp, Mempool, MempoolConfig, tx_key

__all__ = [
    "CheckTxApp",
    "Mempool",
    "MempoolConfig",
    "MempoolError",
    "MempoolIsFull",
    "TxCache",
    "TxInCache",
    "TxTooLarge",
    "tx_key",
]
