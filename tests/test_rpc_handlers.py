"""RPC handlers over a real LevelDB store of a v0.38.25 chain, compared with that node's own RPC output."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer
from twisted.python.failure import Failure

from cometsync.abci import ABCITimeout
from cometsync.mempool import Mempool, MempoolConfig
from cometsync.pool import BanStatus, CaughtUp, PeerStatus, PoolStatus
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.rpc import BlocksyncView, InternalError, InvalidParams, SyncProgress, handlers
from cometsync.rpc.params import Params
from cometsync.store import BlockStore
from tests.rpc_fixtures import LOCALNET, TM_RS, InProcessABCI, load_json, localnet_store, make_env


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BlockStore]:
    opened = localnet_store(tmp_path_factory.mktemp("rpc") / "blockstore.db")
    yield opened
    opened.close()


def uri(**values: str) -> Params:
    return Params(values, uri=True)


def result_of(value: Any) -> Any:
    if not isinstance(value, defer.Deferred):
        return value
    out: list[Any] = []
    value.addBoth(out.append)
    assert out, "deferred did not fire"
    if isinstance(out[0], Failure):
        out[0].raiseException()
    return out[0]


def key_shape(obj: Any) -> Any:
    """Keys (recursively) and JSON value kinds: what must match CometBFT's output, whatever the values."""
    if isinstance(obj, dict):
        return {key: key_shape(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [key_shape(obj[0])] if obj else []
    return type(obj).__name__


@pytest.mark.parametrize("height", [1, 62, 127, 202, 310])
def test_block_equals_cometbft_rpc(store: BlockStore, height: int) -> None:
    expected = load_json(LOCALNET / "rpc_block" / f"{height}.json")
    assert handlers.block(make_env(store), uri(height=str(height))) == expected


@pytest.mark.parametrize("height", [2, 154, 310])
def test_commit_equals_cometbft_rpc(store: BlockStore, height: int) -> None:
    """310 is the tip: the seen commit, canonical false; others come from the next block."""
    expected = load_json(LOCALNET / "rpc_commit" / f"{height}.json")
    assert handlers.commit(make_env(store), Params({"height": str(height)}, uri=False)) == expected


def test_block_defaults_to_latest_and_accepts_quoted_heights(store: BlockStore) -> None:
    env = make_env(store)
    latest = handlers.block(env, uri())
    assert latest == load_json(LOCALNET / "rpc_block" / "310.json")
    assert handlers.block(env, uri(height='"62"')) == load_json(LOCALNET / "rpc_block" / "62.json")
    assert handlers.block(env, Params({"height": 62}, uri=False))["block_id"]["parts"]["total"] == 2


@pytest.mark.parametrize(
    ("height", "message"),
    [
        ("0", "height must be greater than 0, but got 0"),
        ("-3", "height must be greater than 0, but got -3"),
        ("311", "height 311 must be less than or equal to the current blockchain height 310"),
    ],
)
def test_bad_heights_give_cometbft_errors(store: BlockStore, height: str, message: str) -> None:
    with pytest.raises(InternalError) as caught:
        handlers.block(make_env(store), uri(height=height))
    assert caught.value.data == message
    assert caught.value.to_json()["message"] == "Internal error"
    if height == "0":
        assert caught.value.to_json() == load_json(TM_RS / "block_at_height_0.json")["error"]


def test_undecodable_params_are_invalid(store: BlockStore) -> None:
    with pytest.raises(InvalidParams):
        handlers.block(make_env(store), uri(height="five"))
    with pytest.raises(InvalidParams):
        handlers.block(make_env(store), Params({"height": [1]}, uri=False))


def test_blockchain_metas_match_the_blocks(store: BlockStore) -> None:
    env = make_env(store)
    result = handlers.blockchain(env, uri(minHeight="1", maxHeight="10"))
    assert result["last_height"] == "310"
    assert [meta["header"]["height"] for meta in result["block_metas"]] == [str(h) for h in range(10, 0, -1)]
    for meta in result["block_metas"]:
        block = load_json(LOCALNET / "rpc_block" / "1.json") if meta["header"]["height"] == "1" else None
        if block is not None:
            assert meta["header"] == block["block"]["header"]
            assert meta["block_id"] == block["block_id"]
    reference = load_json(TM_RS / "blockchain_from_1_to_10.json")["result"]
    assert key_shape(result) == key_shape(reference)


def test_blockchain_limits_to_20_and_checks_bounds(store: BlockStore) -> None:
    env = make_env(store)
    latest = handlers.blockchain(env, uri())
    assert [m["header"]["height"] for m in latest["block_metas"]] == [str(h) for h in range(310, 290, -1)]
    meta_62 = handlers.blockchain(env, uri(minHeight="62", maxHeight="62"))["block_metas"][0]
    assert meta_62["block_size"] == "70896" and meta_62["num_txs"] == "1"
    with pytest.raises(InternalError, match="heights must be non-negative"):
        handlers.blockchain(env, uri(minHeight="-1"))
    with pytest.raises(InternalError, match="min height 20 can't be greater than max height 10"):
        handlers.blockchain(env, uri(minHeight="20", maxHeight="10"))


def test_validators_equal_cometbft_rpc_and_paginate(store: BlockStore) -> None:
    env = make_env(store)
    assert handlers.validators(env, uri(height="154")) == load_json(LOCALNET / "validators" / "154.json")
    page = handlers.validators(env, uri(height="154", page="2", per_page="3"))
    assert (page["count"], page["total"]) == ("1", "4")
    assert page["validators"] == load_json(LOCALNET / "validators" / "154.json")["validators"][3:]
    with pytest.raises(InternalError, match=r"page should be within \[1, 2\] range, given 3"):
        handlers.validators(env, uri(height="154", page="3", per_page="3"))


def test_validators_default_height_is_the_next_one(store: BlockStore) -> None:
    """Not catching up: latest + 1 (311) is past the recorded heights; catching up: the latest (310)."""
    with pytest.raises(InternalError, match="no validator set stored for height 311"):
        handlers.validators(make_env(store), uri())
    syncing = make_env(store, catching_up=lambda: True)
    assert handlers.validators(syncing, uri())["block_height"] == "310"


def test_status_reports_the_store_and_our_voting_power(store: BlockStore) -> None:
    node0 = load_json(LOCALNET / "node0_priv_validator_key.json")
    pub = base64.b64decode(node0["pub_key"]["value"])
    result = handlers.status(make_env(store, validator_pub_key=pub, catching_up=lambda: True), uri())
    sync = result["sync_info"]
    tip = load_json(LOCALNET / "rpc_block" / "310.json")
    first = load_json(LOCALNET / "rpc_block" / "1.json")
    assert sync["latest_block_height"] == "310" and sync["earliest_block_height"] == "1"
    assert sync["latest_block_hash"] == tip["block_id"]["hash"]
    assert sync["latest_app_hash"] == tip["block"]["header"]["app_hash"]
    assert sync["latest_block_time"] == tip["block"]["header"]["time"]
    assert sync["earliest_block_hash"] == first["block_id"]["hash"]
    assert sync["catching_up"] is True
    expected_info = {"address": node0["address"], "pub_key": node0["pub_key"], "voting_power": "10"}
    assert result["validator_info"] == expected_info
    assert result["node_info"]["channels"] == "40202122233038606100"
    assert key_shape(result) == key_shape(load_json(TM_RS / "status.json")["result"])


def test_status_of_an_empty_store(tmp_path: Path) -> None:
    empty = BlockStore.open(tmp_path / "empty.db")
    try:
        sync = handlers.status(make_env(empty), uri())["sync_info"]
    finally:
        empty.close()
    assert sync["latest_block_height"] == "0" and sync["latest_block_hash"] == ""
    assert sync["latest_block_time"] == "1970-01-01T00:00:00Z"
    assert sync["earliest_block_time"] == "1970-01-01T00:00:00Z"


def test_net_info_lists_peers(store: BlockStore) -> None:
    result = handlers.net_info(make_env(store), uri())
    assert result["n_peers"] == "1" and result["listening"] is True
    assert result["peers"][0]["node_info"]["id"] == "b" * 40
    assert result["peers"][0]["remote_ip"] == "127.0.0.1"
    reference = load_json(TM_RS / "net_info.json")["result"]
    assert set(result) == set(reference)


def test_abci_info_from_the_kvstore_app(store: BlockStore) -> None:
    result = result_of(handlers.abci_info(make_env(store), uri()))
    reference = load_json(TM_RS / "abci_info.json")["result"]
    assert result["response"]["data"] == reference["response"]["data"] == '{"size":0}'
    assert set(result["response"]) <= set(reference["response"])


class CountingABCI(InProcessABCI):
    """The kvstore app, counting CheckTx calls (a cache hit must not reach the app)."""

    def __init__(self) -> None:
        super().__init__()
        self.check_txs: list[bytes] = []

    def check_tx(self, request: abci_pb2.RequestCheckTx) -> defer.Deferred[abci_pb2.ResponseCheckTx]:
        self.check_txs.append(request.tx)
        return super().check_tx(request)


class SilentABCI(InProcessABCI):
    def check_tx(self, request: abci_pb2.RequestCheckTx) -> defer.Deferred[abci_pb2.ResponseCheckTx]:
        return defer.fail(ABCITimeout("CheckTx: no answer within 10s"))


def hash_hex(tx: bytes) -> str:
    return hashlib.sha256(tx).hexdigest().upper()


def test_broadcast_tx_sync_goes_through_the_mempool(store: BlockStore) -> None:
    app = CountingABCI()
    env = make_env(store, abci=app)
    mempool = env.mempool
    assert isinstance(mempool, Mempool)
    tx = b"name=satoshi"
    result = result_of(
        handlers.broadcast_tx_sync(env, Params({"tx": base64.b64encode(tx).decode()}, uri=False))
    )
    assert result == {"code": 0, "data": "", "log": "", "codespace": "", "hash": hash_hex(tx)}
    assert key_shape(result) == key_shape(load_json(TM_RS / "broadcast_tx_sync.json")["result"])
    assert mempool.txs() == [tx]
    # CheckTx's gas_wanted (1 in the kvstore) is kept: a block with max_gas 0 cannot take the tx.
    assert mempool.reap_max_bytes_max_gas(-1, 0) == [] and mempool.reap_max_bytes_max_gas(-1, 1) == [tx]
    # A duplicate is refused by the cache before CheckTx, with CometBFT's text.
    with pytest.raises(InternalError, match=r"^tx already exists in cache$"):
        result_of(handlers.broadcast_tx_sync(env, uri(tx='"name=satoshi"')))
    assert app.check_txs == [tx]
    # A tx the app rejects is answered with its code and log, leaves the cache and may be sent again.
    invalid = b"no-equals-sign"
    for _ in range(2):
        rejected = result_of(handlers.broadcast_tx_sync(env, uri(tx="0x" + invalid.hex())))
        assert rejected["code"] != 0 and rejected["hash"] == hash_hex(invalid)
    assert mempool.txs() == [tx] and app.check_txs == [tx, invalid, invalid]


def test_broadcast_refusals_before_check_tx(store: BlockStore) -> None:
    app = CountingABCI()
    env = make_env(store, abci=app, mempool=Mempool(app, MempoolConfig(size=1, max_tx_bytes=8)))
    with pytest.raises(InternalError, match=r"^Tx too large\. Max size is 8, but got 9$"):
        result_of(handlers.broadcast_tx_sync(env, uri(tx='"k=1234567"')))
    assert result_of(handlers.broadcast_tx_sync(env, uri(tx='"k=v"')))["code"] == 0
    with pytest.raises(InternalError, match=r"^mempool is full: number of txs 1 \(max: 1\)"):
        handlers.broadcast_tx_async(env, uri(tx='"k=w"'))
    assert app.check_txs == [b"k=v"]


def test_broadcast_tx_async_returns_the_hash_at_once(store: BlockStore) -> None:
    env = make_env(store)
    result = handlers.broadcast_tx_async(env, uri(tx='"k=v"'))
    assert result == {"code": 0, "data": "", "log": "", "codespace": "", "hash": hash_hex(b"k=v")}
    assert key_shape(result) == key_shape(load_json(TM_RS / "broadcast_tx_async.json")["result"])
    assert isinstance(env.mempool, Mempool) and env.mempool.txs() == [b"k=v"]
    with pytest.raises(InternalError, match=r"^tx already exists in cache$"):
        handlers.broadcast_tx_async(env, uri(tx='"k=v"'))
    with pytest.raises(InvalidParams):
        handlers.broadcast_tx_async(env, uri(tx="k=v"))


def test_broadcast_without_a_mempool_returns_check_tx(store: BlockStore) -> None:
    """A `follow` node keeps no txs: the app's CheckTx answers every time (no cache)."""
    app = CountingABCI()
    env = make_env(store, abci=app, mempool=None)
    for _ in range(2):
        assert result_of(handlers.broadcast_tx_sync(env, uri(tx='"k=v"')))["code"] == 0
    assert result_of(handlers.broadcast_tx_sync(env, uri(tx='"kv"')))["code"] != 0
    assert handlers.broadcast_tx_async(env, uri(tx='"k=w"'))["hash"] == hash_hex(b"k=w")
    assert app.check_txs == [b"k=v", b"k=v", b"kv", b"k=w"]


def test_broadcast_when_the_app_does_not_answer(store: BlockStore) -> None:
    app = SilentABCI()
    for mempool in (Mempool(app), None):
        env = make_env(store, abci=app, mempool=mempool)
        for _ in range(2):  # the mempool forgets an unanswered tx, so a retry reaches the app again
            with pytest.raises(InternalError, match="no answer within 10s"):
                result_of(handlers.broadcast_tx_sync(env, uri(tx='"k=v"')))
        assert handlers.broadcast_tx_async(env, uri(tx='"k=w"'))["code"] == 0


class FixedPool:
    def __init__(self, status: PoolStatus, caught_up: CaughtUp) -> None:
        self._status, self._caught_up = status, caught_up

    def status(self) -> PoolStatus:
        return self._status

    def is_caught_up(self) -> CaughtUp:
        return self._caught_up


def pool_status(height: int) -> PoolStatus:
    return PoolStatus(
        running=True,
        height=height,
        start_height=1,
        max_peer_height=310,
        num_requesters=12,
        num_awaiting_block=5,
        num_in_flight=7,
        bytes_held=123456,
        window_bytes=1 << 28,
        block_size_estimate=4096,
        peers=(PeerStatus("b" * 40, 1, 310, 7, 51200.0, 12.5, 88),),
        banned=(BanStatus("c" * 40, 42.0),),
    )


def test_blocksync_status_reports_pool_rate_eta_and_peers(store: BlockStore) -> None:
    env = make_env(store)
    progress = SyncProgress(window_seconds=10)
    pool = FixedPool(pool_status(100), CaughtUp(False, "height 100 behind max peer height 310"))
    env.blocksync = BlocksyncView(pool, progress)
    first = handlers.blocksync_status(env, uri())
    assert first["blocks_per_second"] == 0.0 and first["eta_seconds"] is None
    env.clock.advance(5)  # type: ignore[attr-defined]
    pool._status = pool_status(150)
    second = handlers.blocksync_status(env, uri())
    assert second["blocks_per_second"] == 10.0
    assert second["eta_seconds"] == 16.1  # 161 blocks from the 149th applied one to the peer's 310
    assert second["caught_up"] is False
    assert second["caught_up_reason"] == "height 100 behind max peer height 310"
    assert second["height"] == "150" and second["max_peer_height"] == "310"
    assert (second["pending_requests"], second["in_flight_requests"], second["bytes_held"]) == (
        5,
        7,
        "123456",
    )
    assert second["peers"] == [
        {
            "id": "b" * 40,
            "address": "127.0.0.1:26666",
            "base": "1",
            "height": "310",
            "pending": 7,
            "blocks_per_second": 12.5,
            "bytes_per_second": 51200.0,
            "blocks_delivered": "88",
        }
    ]
    assert second["banned"] == [{"id": "c" * 40, "remaining_seconds": 42.0}]


def test_blocksync_status_and_the_node_reporter_share_one_measure(store: BlockStore) -> None:
    """The node's reporter feeds the last applied height into the same meter: no rate from mixing them."""
    env = make_env(store)
    progress = SyncProgress()
    env.blocksync = BlocksyncView(FixedPool(pool_status(1), CaughtUp(False, "waiting")), progress)
    progress.observe(0.0, 0)
    env.clock.advance(2)  # type: ignore[attr-defined]
    progress.observe(2.0, 0)
    waiting = handlers.blocksync_status(env, uri())
    assert waiting["blocks_per_second"] == 0.0 and waiting["eta_seconds"] is None


def test_blocksync_status_without_blocksync(store: BlockStore) -> None:
    with pytest.raises(InternalError, match="blocksync is not running"):
        handlers.blocksync_status(make_env(store), uri())
