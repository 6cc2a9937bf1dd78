"""Mempool: CheckTx gating, dedupe cache, limits, reaping by bytes and gas, update with recheck."""

from __future__ import annotations

from typing import TypeVar

import pytest
from abci_process import start_kvstore, temp_home
from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.trial import unittest

from cometsync.abci.client import GrpcABCIClient
from cometsync.mempool import (
    Mempool,
    MempoolConfig,
    MempoolError,
    MempoolIsFull,
    TxCache,
    TxInCache,
    TxTooLarge,
)
from cometsync.mempool.mempool import proto_size_of_tx
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2

T = TypeVar("T")


class SpendApp:
    """A CheckTx whose verdict depends on app state: `spend:<coin>` is invalid once the coin was spent."""

    def __init__(self) -> None:
        self.spent: set[bytes] = set()
        self.requests: list[abci_pb2.RequestCheckTx] = []
        self.gas = 1

    def check_tx(self, request: abci_pb2.RequestCheckTx) -> defer.Deferred[abci_pb2.ResponseCheckTx]:
        self.requests.append(request)
        if not request.tx.startswith(b"spend:"):
            return defer.succeed(abci_pb2.ResponseCheckTx(code=1, log="not a spend"))
        coin = request.tx.split(b":", 2)[1]
        code = 2 if coin in self.spent else 0
        return defer.succeed(abci_pb2.ResponseCheckTx(code=code, gas_wanted=self.gas))

    def commit(self, txs: list[bytes]) -> None:
        self.spent.update(tx.split(b":", 2)[1] for tx in txs)


def result_of(deferred: defer.Deferred[T]) -> T:
    results: list[T | Failure] = []
    deferred.addBoth(results.append)
    assert results, "the Deferred has not fired"
    outcome = results[0]
    if isinstance(outcome, Failure):
        outcome.raiseException()
    assert not isinstance(outcome, Failure)
    return outcome


def test_passing_txs_are_kept_in_arrival_order_and_failing_ones_are_not() -> None:
    app = SpendApp()
    pool = Mempool(app)
    for tx in (b"spend:b:1", b"junk", b"spend:a:1", b"spend:c:1"):
        result_of(pool.check_tx(tx))
    assert pool.txs() == [b"spend:b:1", b"spend:a:1", b"spend:c:1"]
    assert pool.size_bytes() == 27
    assert all(request.type == abci_pb2.NEW for request in app.requests)
    # A tx the app refused left the cache: it may be sent again (and is asked again).
    assert result_of(pool.check_tx(b"junk")).code == 1
    assert len(app.requests) == 5


def test_a_tx_seen_before_is_refused_with_cometbft_text() -> None:
    app = SpendApp()
    pool = Mempool(app)
    result_of(pool.check_tx(b"spend:a:1"))
    with pytest.raises(TxInCache, match=r"^tx already exists in cache$"):
        result_of(pool.check_tx(b"spend:a:1"))
    assert len(app.requests) == 1
    assert pool.size() == 1


def test_limits_by_count_bytes_and_tx_size() -> None:
    pool = Mempool(SpendApp(), MempoolConfig(size=2, max_txs_bytes=20, max_tx_bytes=12))
    with pytest.raises(TxTooLarge, match=r"^Tx too large. Max size is 12, but got 13$"):
        result_of(pool.check_tx(b"spend:b:12345"))
    result_of(pool.check_tx(b"spend:a:1"))
    with pytest.raises(MempoolIsFull, match=r"total txs bytes 9 \(max: 20\)"):
        result_of(pool.check_tx(b"spend:c:1234"))
    result_of(pool.check_tx(b"spend:d:1"))
    with pytest.raises(MempoolIsFull, match=r"^mempool is full: number of txs 2 \(max: 2\)"):
        result_of(pool.check_tx(b"spend:e:1"))
    assert pool.txs() == [b"spend:a:1", b"spend:d:1"]


def test_reap_stops_at_the_byte_or_gas_limit_in_arrival_order() -> None:
    app = SpendApp()
    pool = Mempool(app)
    txs = [f"spend:{i}:".encode() + b"x" * (10 * i) for i in range(1, 6)]
    for tx in txs:
        app.gas = len(tx)
        result_of(pool.check_tx(tx))
    sizes = [proto_size_of_tx(tx) for tx in txs]
    assert sizes[0] == 1 + 1 + len(txs[0])
    assert pool.reap_max_bytes_max_gas(-1, -1) == txs
    assert pool.reap_max_bytes_max_gas(sum(sizes[:3]), -1) == txs[:3]
    assert pool.reap_max_bytes_max_gas(sum(sizes[:3]) - 1, -1) == txs[:2]
    assert pool.reap_max_bytes_max_gas(-1, len(txs[0]) + len(txs[1])) == txs[:2]
    assert pool.reap_max_bytes_max_gas(0, -1) == []
    assert proto_size_of_tx(b"x" * 200) == 1 + 2 + 200


def test_update_removes_committed_txs_and_rechecks_the_rest() -> None:
    app = SpendApp()
    pool = Mempool(app)
    for tx in (b"spend:a:1", b"spend:b:1", b"spend:a:2", b"spend:c:1"):
        result_of(pool.check_tx(tx))
    app.commit([b"spend:a:1", b"spend:b:1"])
    result_of(pool.update(7, [b"spend:a:1", b"spend:b:1"]))
    # spend:a:2 double-spends coin a: the recheck drops it; spend:c:1 stays.
    assert pool.txs() == [b"spend:c:1"]
    assert pool.height == 7
    rechecks = [r.tx for r in app.requests if r.type == abci_pb2.RECHECK]
    assert rechecks == [b"spend:a:2", b"spend:c:1"]
    # Committed txs stay in the cache (no replay); a tx dropped by recheck may come back later.
    with pytest.raises(TxInCache):
        result_of(pool.check_tx(b"spend:a:1"))
    assert result_of(pool.check_tx(b"spend:a:2")).code == 2


def test_update_with_results_frees_invalid_committed_txs_and_recheck_can_be_off() -> None:
    app = SpendApp()
    pool = Mempool(app, MempoolConfig(recheck=False))
    result_of(pool.check_tx(b"spend:a:1"))
    result_of(pool.check_tx(b"spend:b:1"))
    results = [abci_pb2.ExecTxResult(code=5)]
    result_of(pool.update(1, [b"spend:a:1"], results))
    assert pool.txs() == [b"spend:b:1"]
    assert not any(r.type == abci_pb2.RECHECK for r in app.requests)
    assert result_of(pool.check_tx(b"spend:a:1")).code == 0


def test_cache_is_lru_bounded_and_can_be_disabled() -> None:
    cache = TxCache(2)
    assert cache.push(b"a") and cache.push(b"b")
    assert not cache.push(b"a")  # a is now the most recent
    assert cache.push(b"c")  # evicts b
    assert b"b" not in cache and b"a" in cache and len(cache) == 2
    off = TxCache(0)
    assert off.push(b"a") and off.push(b"a")
    with pytest.raises(ValueError):
        TxCache(-1)


class KVStoreMempoolTest(unittest.TestCase):
    """The same rules against the real kvstore app over gRPC."""

    timeout = 60

    @defer.inlineCallbacks
    def test_kvstore_checktx_gates_the_mempool(self) -> defer.Generator[object, object, None]:
        server = start_kvstore(temp_home(self.addCleanup))
        self.addCleanup(server.terminate)
        client = GrpcABCIClient(server.address)
        self.addCleanup(client.close)
        pool = Mempool(client)
        ok = yield pool.check_tx(b"name=satoshi")
        assert isinstance(ok, abci_pb2.ResponseCheckTx)
        self.assertEqual((ok.code, ok.gas_wanted), (0, 1))
        bad = yield pool.check_tx(b"val=not-a-key")
        assert isinstance(bad, abci_pb2.ResponseCheckTx)
        self.assertNotEqual(bad.code, 0)
        with pytest.raises(MempoolError, match="tx already exists in cache"):
            yield pool.check_tx(b"name=satoshi")
        yield pool.update(1, [])
        self.assertEqual(pool.txs(), [b"name=satoshi"])
