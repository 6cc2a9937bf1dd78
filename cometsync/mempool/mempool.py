"""The mempool a block producer reaps from: CheckTx-approved txs in arrival order (CometBFT `CListMempool`).

Single-threaded (Twisted): ABCI answers arrive as Deferred callbacks on the reactor thread, so no locks.
After each block `update` drops the committed txs and re-checks the rest against the new app state.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from twisted.internet import defer
from twisted.python.failure import Failure

from cometsync.mempool.cache import TxCache
from cometsync.mempool.errors import MempoolError, MempoolIsFull, TxInCache, TxTooLarge
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2

log = logging.getLogger(__name__)

CODE_OK = 0
MIB = 1024 * 1024


@dataclass(frozen=True)
class MempoolConfig:
    """CometBFT v0.38's `[mempool]` defaults (config.toml has no such table in cometsync yet)."""

    size: int = 5000
    max_txs_bytes: int = 1024 * MIB
    max_tx_bytes: int = MIB
    cache_size: int = 10_000
    recheck: bool = True
    keep_invalid_txs_in_cache: bool = False


class CheckTxApp(Protocol):
    """The ABCI call the mempool makes (both ABCI clients and `abci.connect.AppConns` satisfy it)."""

    def check_tx(self, request: abci_pb2.RequestCheckTx) -> defer.Deferred[abci_pb2.ResponseCheckTx]: ...


@dataclass
class _MempoolTx:
    tx: bytes
    gas_wanted: int
    height: int


def tx_key(tx: bytes) -> bytes:
    """CometBFT's `Tx.Key()`: the SHA-256 of the tx bytes."""
    return hashlib.sha256(tx).digest()


def proto_size_of_tx(tx: bytes) -> int:
    """`types.ComputeProtoSizeForTxs([tx])`: the tx as one repeated-bytes field of `Data`."""
    length = len(tx)
    varint = 1
    while length >= 0x80:
        length >>= 7
        varint += 1
    return 1 + varint + len(tx)


class Mempool:
    """Txs that passed CheckTx, oldest first; `check_tx` for new ones, `update` after every block."""

    def __init__(self, app: CheckTxApp, config: MempoolConfig | None = None, height: int = 0) -> None:
        self.config = config or MempoolConfig()
        self.height = height
        self._app = app
        self._cache = TxCache(self.config.cache_size)
        self._txs: OrderedDict[bytes, _MempoolTx] = OrderedDict()
        self._bytes = 0

    # ------------------------------------------------------------------ views

    def size(self) -> int:
        return len(self._txs)

    def size_bytes(self) -> int:
        return self._bytes

    def txs(self) -> list[bytes]:
        return [entry.tx for entry in self._txs.values()]

    def __contains__(self, tx: bytes) -> bool:
        return tx_key(tx) in self._txs

    # ------------------------------------------------------------------ adding

    def check_tx(self, tx: bytes) -> defer.Deferred[abci_pb2.ResponseCheckTx]:
        """Limits and cache first, then CheckTx (NEW); code 0 keeps the tx. Fails with a MempoolError."""
        try:
            self._admit(tx)
        except MempoolError as err:
            return defer.fail(err)
        checking = self._app.check_tx(abci_pb2.RequestCheckTx(tx=tx, type=abci_pb2.NEW))
        checking.addCallbacks(
            self._checked_first_time, self._check_failed, callbackArgs=(tx,), errbackArgs=(tx,)
        )
        return checking

    def _admit(self, tx: bytes) -> None:
        """CometBFT's order: full?, too large?, already seen? (the tx enters the cache here)."""
        self._check_room(len(tx))
        if len(tx) > self.config.max_tx_bytes:
            raise TxTooLarge(self.config.max_tx_bytes, len(tx))
        if not self._cache.push(tx_key(tx)):
            raise TxInCache()

    def _check_room(self, tx_size: int) -> None:
        if self.size() >= self.config.size or tx_size + self._bytes > self.config.max_txs_bytes:
            raise MempoolIsFull(self.size(), self.config.size, self._bytes, self.config.max_txs_bytes)

    def _checked_first_time(self, response: abci_pb2.ResponseCheckTx, tx: bytes) -> abci_pb2.ResponseCheckTx:
        if response.code != CODE_OK:
            if not self.config.keep_invalid_txs_in_cache:
                self._cache.remove(tx_key(tx))
            return response
        try:
            self._check_room(len(tx))
        except MempoolIsFull as err:
            self._cache.remove(tx_key(tx))
            log.debug("dropping checked tx: %s", err)
            return response
        if tx_key(tx) not in self._txs:
            self._add(tx, response.gas_wanted)
        return response

    def _check_failed(self, failure: Failure, tx: bytes) -> Failure:
        """The app did not answer: forget the tx so a client may send it again."""
        self._cache.remove(tx_key(tx))
        return failure

    def _add(self, tx: bytes, gas_wanted: int) -> None:
        self._txs[tx_key(tx)] = _MempoolTx(tx, gas_wanted, self.height)
        self._bytes += len(tx)

    def _remove(self, key: bytes) -> None:
        entry = self._txs.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry.tx)

    # ------------------------------------------------------------------ block production

    def reap_max_bytes_max_gas(self, max_bytes: int, max_gas: int) -> list[bytes]:
        """Oldest txs while their proto size stays <= `max_bytes` and gas <= `max_gas` (-1: no limit)."""
        reaped: list[bytes] = []
        total_bytes = total_gas = 0
        for entry in self._txs.values():
            total_bytes += proto_size_of_tx(entry.tx)
            if max_bytes > -1 and total_bytes > max_bytes:
                break
            total_gas += entry.gas_wanted
            if max_gas > -1 and total_gas > max_gas:
                break
            reaped.append(entry.tx)
        return reaped

    def update(
        self,
        height: int,
        committed: Sequence[bytes],
        tx_results: Sequence[abci_pb2.ExecTxResult] | None = None,
    ) -> defer.Deferred[None]:
        """After block `height`: drop committed txs, then (with `recheck`) re-run CheckTx on the rest.

        Valid committed txs stay in the cache (a replay is refused); invalid ones leave it so they can be
        resubmitted. Resolves once every recheck answer has been applied.
        """
        self.height = height
        for i, tx in enumerate(committed):
            key = tx_key(tx)
            valid = tx_results is None or tx_results[i].code == CODE_OK
            if valid:
                self._cache.push(key)
            elif not self.config.keep_invalid_txs_in_cache:
                self._cache.remove(key)
            self._remove(key)
        if not self.config.recheck or not self._txs:
            return defer.succeed(None)
        return self._recheck()

    def _recheck(self) -> defer.Deferred[None]:
        pending = list(self._txs.items())
        checks = [
            self._app.check_tx(abci_pb2.RequestCheckTx(tx=entry.tx, type=abci_pb2.RECHECK))
            for _, entry in pending
        ]

        def apply(results: list[abci_pb2.ResponseCheckTx]) -> None:
            for (key, entry), response in zip(pending, results, strict=True):
                if response.code != CODE_OK and self._txs.get(key) is entry:
                    self._remove(key)
                    if not self.config.keep_invalid_txs_in_cache:
                        self._cache.remove(key)

        gathered: defer.Deferred[list[abci_pb2.ResponseCheckTx]] = defer.gatherResults(
            checks, consumeErrors=True
        )
        return gathered.addCallback(apply)
