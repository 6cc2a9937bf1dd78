"""What the RPC handlers read from a node, as small structural types the node's real objects satisfy.

Like CometBFT's `rpc/core.Environment`: the node builds one `RPCEnvironment` and the handlers only read it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from twisted.internet import defer

from cometsync.clock import Clock
from cometsync.p2p.node_info import NodeInfo
from cometsync.pool import CaughtUp, PoolStatus
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.rpc.caches import StatusCache
from cometsync.rpc.progress import SyncProgress
from cometsync.state import State
from cometsync.types import Block, BlockMeta, Commit, ValidatorSet


class BlockReader(Protocol):
    """Read side of `cometsync.store.BlockStore`; also called from the RPC's worker threads."""

    @property
    def base(self) -> int: ...

    @property
    def height(self) -> int: ...

    def load_block(self, height: int) -> Block | None: ...

    def load_block_meta(self, height: int) -> BlockMeta | None: ...

    def load_block_commit(self, height: int) -> Commit | None: ...

    def load_seen_commit(self, height: int) -> Commit | None: ...


class ValidatorHistory(Protocol):
    """`cometsync.state.StateStore.load_validators` (raises when the height is unknown). Called from the
    RPC's worker threads: it must only read (LevelDB reads are thread-safe)."""

    def load_validators(self, height: int) -> ValidatorSet: ...


class ABCIQueryClient(Protocol):
    """The ABCI calls the RPC makes (a subset of `cometsync.abci.client.ABCIClient`)."""

    def info(self, request: abci_pb2.RequestInfo) -> defer.Deferred[abci_pb2.ResponseInfo]: ...

    def check_tx(self, request: abci_pb2.RequestCheckTx) -> defer.Deferred[abci_pb2.ResponseCheckTx]: ...


class PeerView(Protocol):
    """`cometsync.p2p.peer.Peer` as `/net_info` and `/blocksync_status` show it."""

    @property
    def node_info(self) -> NodeInfo: ...

    @property
    def is_outbound(self) -> bool: ...

    @property
    def remote_address(self) -> tuple[str, int]: ...


class PoolView(Protocol):
    """`cometsync.pool.BlockPool`'s read-only reports."""

    def status(self) -> PoolStatus: ...

    def is_caught_up(self) -> CaughtUp: ...


class SyncCounters(Protocol):
    """Totals kept by the reactor (`cometsync.blocksync.metrics.SyncMetrics`)."""

    @property
    def blocks_synced(self) -> int: ...

    @property
    def txs_synced(self) -> int: ...


class Mempool(Protocol):
    """`cometsync.mempool.Mempool.check_tx`: limits and cache first, then CheckTx; code 0 keeps the tx.

    A refusal before CheckTx (full, too large, "tx already exists in cache") fails the returned Deferred at
    once with a `cometsync.mempool.MempoolError`, as CometBFT's `Mempool.CheckTx` returns an error.
    """

    def check_tx(self, tx: bytes) -> defer.Deferred[abci_pb2.ResponseCheckTx]: ...


@dataclass
class BlocksyncView:
    """The pool plus the progress meter and counters fed while blocksync runs."""

    pool: PoolView
    progress: SyncProgress
    counters: SyncCounters | None = None


def _healthy() -> str | None:
    return None


@dataclass
class RPCEnvironment:
    """Everything the handlers need; callables are read at request time so they always see fresh values."""

    block_store: BlockReader
    state_store: ValidatorHistory
    node_info: Callable[[], NodeInfo]
    peers: Callable[[], Sequence[PeerView]]
    catching_up: Callable[[], bool]
    abci: ABCIQueryClient
    clock: Clock
    mempool: Mempool | None = None
    """None on a node that keeps no txs (`follow`): broadcasts then only run CheckTx through `abci`."""
    validator_pub_key: bytes | None = None
    blocksync: BlocksyncView | None = None
    listening: bool = True
    failure: Callable[[], str | None] = _healthy
    """Why the node stopped working (e.g. blocksync could not apply a block), or None: `/health` then
    fails with it, as CometBFT's node is unhealthy once its consensus or blocksync has stopped."""
    state: Callable[[], State | None] = lambda: None
    """The node's live state (`Node.state`): `/status` reads the current validators from it."""
    status_cache: StatusCache = field(default_factory=StatusCache)
