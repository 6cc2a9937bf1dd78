"""Why the mempool refused a tx, with CometBFT v0.38's messages (clients match on these texts)."""

from __future__ import annotations


class MempoolError(Exception):
    """A tx was refused before or after CheckTx; the message is what the RPC client sees."""


class TxInCache(MempoolError):
    def __init__(self) -> None:
        super().__init__("tx already exists in cache")


class TxTooLarge(MempoolError):
    def __init__(self, max_bytes: int, actual: int) -> None:
        super().__init__(f"Tx too large. Max size is {max_bytes}, but got {actual}")


class MempoolIsFull(MempoolError):
    def __init__(self, num_txs: int, max_txs: int, txs_bytes: int, max_txs_bytes: int) -> None:
        super().__init__(
            f"mempool is full: number of txs {num_txs} (max: {max_txs}), "
            f"total txs bytes {txs_bytes} (max: {max_txs_bytes})"
        )
