"""CometBFT v0.38 RPC endpoints as plain functions of (environment, params), plus `/blocksync_status`.

Each returns the `result` object (or a Deferred of it) and raises `RPCError` for error answers.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet import defer
from twisted.python.failure import Failure

from cometsync.abci import ABCIError
from cometsync.crypto.ed25519 import address_of
from cometsync.mempool import MempoolError, tx_key
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.rpc.blocksync_status import blocksync_status_json
from cometsync.rpc.env import BlockReader, RPCEnvironment
from cometsync.rpc.envelope import URI_REQUEST_ID, envelope
from cometsync.rpc.errors import InternalError
from cometsync.rpc.params import Params
from cometsync.rpc.shapes import (
    abci_info_json,
    block_meta_json,
    broadcast_result_json,
    node_info_json,
    validator_info_json,
)
from cometsync.state.handshake import info_request
from cometsync.store.errors import StoreError
from cometsync.types import BlockID, Timestamp
from cometsync.types.rpc_json import to_hex

log = logging.getLogger(__name__)

BLOCKCHAIN_LIMIT = 20
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100

Result = object
NO_PARAMS = Params({}, uri=True)
_address = functools.lru_cache(maxsize=4)(address_of)
"""Our validator address, hashed once instead of per `/status`."""
Handler = Callable[[RPCEnvironment, Params], "Result | defer.Deferred[Result]"]


@dataclass(frozen=True)
class Route:
    """`blocking`: the handler only reads the stores and may take long (big blocks, priority replays), so
    the server runs it, and encodes its answer, on a worker thread instead of the reactor."""

    handler: Handler
    param_names: tuple[str, ...] = ()
    blocking: bool = False
    uri_body: Callable[[RPCEnvironment], bytes] | None = None
    """For a route without params that pollers hammer: its whole URI answer, prebuilt (raises as the
    handler does), which the server sends without decoding params or encoding JSON per request."""


def _time_or_epoch(time: Timestamp | None) -> str:
    """Go's `time.Unix(0, nanos)`: a missing block shows the Unix epoch."""
    return (time or Timestamp.from_unix_nanos(0)).rfc3339()


def _get_height(env: RPCEnvironment, latest: int, requested: int | None) -> int:
    """CometBFT's `getHeight`: default to `latest`, reject heights outside base..latest."""
    if requested is None:
        return latest
    if requested <= 0:
        raise InternalError(f"height must be greater than 0, but got {requested}")
    if requested > latest:
        raise InternalError(
            f"height {requested} must be less than or equal to the current blockchain height {latest}"
        )
    base = env.block_store.base
    if requested < base:
        raise InternalError(f"height {requested} is not available, lowest height is {base}")
    return requested


def _latest_uncommitted_height(env: RPCEnvironment) -> int:
    height = env.block_store.height
    return height if env.catching_up() else height + 1


def health(env: RPCEnvironment, params: Params) -> Result:
    failure = env.failure()
    if failure is not None:
        raise InternalError(failure)
    return {}


def _sync_info(store: BlockReader, base: int, height: int, catching_up: bool) -> dict[str, object]:
    earliest = store.load_block_meta(base) if base > 0 else None
    latest = store.load_block_meta(height) if height > 0 else None
    return {
        "latest_block_hash": to_hex(latest.block_id.hash) if latest else "",
        "latest_app_hash": to_hex(latest.header.app_hash) if latest else "",
        "latest_block_height": str(height),
        "latest_block_time": _time_or_epoch(latest.header.time if latest else None),
        "earliest_block_hash": to_hex(earliest.block_id.hash) if earliest else "",
        "earliest_app_hash": to_hex(earliest.header.app_hash) if earliest else "",
        "earliest_block_height": str(earliest.header.height if earliest else 0),
        "earliest_block_time": _time_or_epoch(earliest.header.time if earliest else None),
        "catching_up": catching_up,
    }


def status(env: RPCEnvironment, params: Params) -> dict[str, object]:
    """O(1): rebuilt only when what it shows changes, our voting power from the live state (`caches`)."""
    store, cache = env.block_store, env.status_cache
    base, height, catching_up = store.base, store.height, env.catching_up()
    info, pub_key = env.node_info(), env.validator_pub_key
    voting_power = 0
    if pub_key is not None:
        uncommitted = height if catching_up else height + 1
        voting_power = cache.voting_power.power(
            _address(pub_key), uncommitted, env.state(), env.state_store.load_validators
        )
    return cache.result.get(
        (base, height, catching_up, info, pub_key, voting_power),
        lambda: {
            "node_info": node_info_json(info),
            "sync_info": _sync_info(store, base, height, catching_up),
            "validator_info": validator_info_json(pub_key, voting_power),
        },
    )


def status_uri_body(env: RPCEnvironment) -> bytes:
    """`GET /status`'s answer, encoded once per new result."""
    result = status(env, NO_PARAMS)
    return env.status_cache.uri_body.get(result, lambda: envelope(URI_REQUEST_ID, result))


HEALTHY_URI_BODY = envelope(URI_REQUEST_ID, {})


def health_uri_body(env: RPCEnvironment) -> bytes:
    health(env, NO_PARAMS)
    return HEALTHY_URI_BODY


def net_info(env: RPCEnvironment, params: Params) -> Result:
    peers = env.peers()
    listen_addr = env.node_info().listen_addr.removeprefix("tcp://")
    return {
        "listening": env.listening,
        "listeners": [f"Listener(@{listen_addr})"],
        "n_peers": str(len(peers)),
        "peers": [
            {
                "node_info": node_info_json(peer.node_info),
                "is_outbound": peer.is_outbound,
                "connection_status": {},
                "remote_ip": peer.remote_address[0],
            }
            for peer in peers
        ],
    }


def blockchain(env: RPCEnvironment, params: Params) -> Result:
    """Up to 20 block metas, highest first (CometBFT's `filterMinMax` rules)."""
    store = env.block_store
    low, high = params.int_or("minHeight", 0), params.int_or("maxHeight", 0)
    if low < 0 or high < 0:
        raise InternalError("heights must be non-negative")
    low, high = low or 1, high or store.height
    high = min(store.height, high)
    low = max(store.base, low, high - BLOCKCHAIN_LIMIT + 1)
    if low > high:
        raise InternalError(f"min height {low} can't be greater than max height {high}")
    metas = [store.load_block_meta(height) for height in range(high, low - 1, -1)]
    return {
        "last_height": str(store.height),
        "block_metas": [block_meta_json(meta) if meta else None for meta in metas],
    }


def block(env: RPCEnvironment, params: Params) -> Result:
    height = _get_height(env, env.block_store.height, params.optional_int("height"))
    found = env.block_store.load_block(height)
    if found is None:
        return {"block_id": BlockID().to_rpc_json(), "block": None}
    return found.to_rpc_json()


def commit(env: RPCEnvironment, params: Params) -> Result:
    """The canonical commit (from block height+1), or the seen commit for the latest height."""
    store = env.block_store
    height = _get_height(env, store.height, params.optional_int("height"))
    meta = store.load_block_meta(height)
    if meta is None:
        return None
    canonical = height != store.height
    found = store.load_block_commit(height) if canonical else store.load_seen_commit(height)
    return {
        "signed_header": {
            "header": meta.header.to_rpc_json(),
            "commit": found.to_rpc_json() if found else None,
        },
        "canonical": canonical,
    }


def validators(env: RPCEnvironment, params: Params) -> Result:
    height = _get_height(env, _latest_uncommitted_height(env), params.optional_int("height"))
    try:
        valset = env.state_store.load_validators(height)
    except StoreError as exc:
        raise InternalError(str(exc)) from exc
    per_page = params.int_or("per_page", DEFAULT_PER_PAGE)
    per_page = DEFAULT_PER_PAGE if per_page < 1 else min(per_page, MAX_PER_PAGE)
    total = valset.size()
    pages = max(1, (total - 1) // per_page + 1)
    page = params.int_or("page", 1)
    if not 1 <= page <= pages:
        raise InternalError(f"page should be within [1, {pages}] range, given {page}")
    chosen = valset.validators[(page - 1) * per_page : page * per_page]
    return {
        "block_height": str(height),
        "validators": [val.to_rpc_json() for val in chosen],
        "count": str(len(chosen)),
        "total": str(total),
    }


def abci_info(env: RPCEnvironment, params: Params) -> defer.Deferred[Result]:
    return env.abci.info(info_request()).addCallback(lambda info: {"response": abci_info_json(info)})


def _check_tx(env: RPCEnvironment, tx: bytes) -> defer.Deferred[abci_pb2.ResponseCheckTx]:
    """The mempool's CheckTx (limits and cache first); without a mempool, the app's CheckTx alone."""
    if env.mempool is not None:
        return env.mempool.check_tx(tx)
    return env.abci.check_tx(abci_pb2.RequestCheckTx(tx=tx, type=abci_pb2.NEW))


def _as_internal_error(failure: Failure) -> Failure:
    """A mempool refusal or an app that does not answer is a Go error in CometBFT: -32603 with its text."""
    if isinstance(failure.value, MempoolError | ABCIError):
        raise InternalError(failure.getErrorMessage())
    return failure


def broadcast_tx_sync(env: RPCEnvironment, params: Params) -> defer.Deferred[Result]:
    tx = params.required_bytes("tx")
    return _check_tx(env, tx).addCallbacks(
        lambda response: broadcast_result_json(tx_key(tx), response), _as_internal_error
    )


def broadcast_tx_async(env: RPCEnvironment, params: Params) -> Result:
    """The hash at once; a refusal before CheckTx (full, too large, cached) is still an error answer."""
    tx = params.required_bytes("tx")
    refusals: list[Failure] = []

    def keep_refusal(failure: Failure) -> Failure | None:
        if not isinstance(failure.value, MempoolError):
            return failure
        refusals.append(failure)
        return None

    def report(failure: Failure) -> None:
        log.warning("async CheckTx of tx %s failed: %s", to_hex(tx_key(tx)), failure.getErrorMessage())

    _check_tx(env, tx).addErrback(keep_refusal).addErrback(report)
    if refusals:
        raise InternalError(refusals[0].getErrorMessage())
    return broadcast_result_json(tx_key(tx), None)


def blocksync_status(env: RPCEnvironment, params: Params) -> Result:
    if env.blocksync is None:
        raise InternalError("blocksync is not running on this node")
    return blocksync_status_json(env.blocksync, env.peers(), env.clock.seconds())


ROUTES: dict[str, Route] = {
    "health": Route(health, uri_body=health_uri_body),
    "status": Route(status, uri_body=status_uri_body),
    "net_info": Route(net_info),
    "blockchain": Route(blockchain, ("minHeight", "maxHeight"), blocking=True),
    "block": Route(block, ("height",), blocking=True),
    "commit": Route(commit, ("height",), blocking=True),
    "validators": Route(validators, ("height", "page", "per_page"), blocking=True),
    "abci_info": Route(abci_info),
    "broadcast_tx_sync": Route(broadcast_tx_sync, ("tx",)),
    "broadcast_tx_async": Route(broadcast_tx_async, ("tx",)),
    "blocksync_status": Route(blocksync_status),
}
"""Method name (JSON-RPC) = URI path (GET) → handler and its positional parameter order. Non-blocking
handlers touch the pool, mempool, peers or ABCI client, which only the reactor thread may use."""
