"""Harness for the blocksync reactor tests: real LevelDB stores, the real executor on an in-process kvstore,
fixture chains, and in-process links between reactors on a `task.Clock` (the p2p boundary, faked)."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from state_fixtures import LOCALNET, VOTEEXT, FixtureChain
from twisted.internet import defer, task

from cometsync.abci.kvstore.app import KVStoreApp
from cometsync.abci.kvstore.store import MemoryStorage
from cometsync.blocksync.codec import StatusResponse
from cometsync.blocksync.handoff import DeferredHandoff
from cometsync.blocksync.reactor import BlocksyncReactor, ReactorConfig
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.state import BlockExecutor, Handshaker, State, StateStore
from cometsync.store import BlockStore
from cometsync.store.blocking import RunBlocking
from cometsync.store.db import open_db
from cometsync.types import Block, Commit, ExtendedCommit, Header

LOCALNET_CHAIN = FixtureChain(LOCALNET, 310, "seen_commit_310.pb")
VOTEEXT_CHAIN = FixtureChain(VOTEEXT, 45, "seen_commit_45.pb")


class InProcessApp:
    """The kvstore app answering the executor's ABCI calls at once (already-fired Deferreds)."""

    def __init__(self) -> None:
        self.app = KVStoreApp(MemoryStorage())

    def info(self, request: abci_pb2.RequestInfo) -> defer.Deferred[abci_pb2.ResponseInfo]:
        return defer.succeed(self.app.info(request))

    def init_chain(self, request: abci_pb2.RequestInitChain) -> defer.Deferred[abci_pb2.ResponseInitChain]:
        return defer.succeed(self.app.init_chain(request))

    def finalize_block(
        self, request: abci_pb2.RequestFinalizeBlock
    ) -> defer.Deferred[abci_pb2.ResponseFinalizeBlock]:
        return defer.succeed(self.app.finalize_block(request))

    def commit(self, request: abci_pb2.RequestCommit) -> defer.Deferred[abci_pb2.ResponseCommit]:
        return defer.succeed(self.app.commit(request))


def fired(d: defer.Deferred[State]) -> State:
    """The result of a Deferred that must already have fired (everything in-process is synchronous)."""
    results: list[State] = []
    d.addCallback(results.append)
    assert results, "deferred did not fire synchronously"
    return results[0]


class Node:
    """One cometsync node's storage and execution: block store, state store, executor, app."""

    def __init__(
        self,
        home: Path,
        chain: FixtureChain,
        app: object | None = None,
        writes: RunBlocking | None = None,
        *,
        pipeline_commit: bool = False,
    ) -> None:
        """`writes` runs the executor's synced writes (default: inline)."""
        home.mkdir(parents=True, exist_ok=True)
        self.chain = chain
        self.block_store = BlockStore(open_db(home / "blockstore.db"))
        self.state_store = StateStore(open_db(home / "state.db"))
        self.app = app if app is not None else InProcessApp()
        self.executor = BlockExecutor(
            self.state_store,
            self.block_store,
            self.app,  # type: ignore[arg-type]
            writes,
            pipeline_commit=pipeline_commit,
        )
        self.state = fired(
            Handshaker(self.state_store, self.block_store, chain.genesis(), self.app).handshake()  # type: ignore[arg-type]
        )

    def apply_chain(self, height: int) -> None:
        """Save and execute fixture blocks up to `height`, as a node that produced them would have."""
        for h in range(self.state.last_block_height + 1, height + 1):
            block = self.chain.block(h)
            parts = block.make_part_set()
            seen = self.chain.seen_commit(h)
            self.block_store.save_block(block, parts, seen, self.chain.ext_commit(h))
            self.executor.validate_block(self.state, block)
            self.state = fired(self.executor.apply_verified_block(self.state, block.block_id(), block))

    def close(self) -> None:
        self.block_store.close()
        self.state_store.close()


class ChainSource(Protocol):
    """Where a chain's blocks and commits come from: a `FixtureChain` or a `StoredChain`."""

    def block(self, height: int) -> Block: ...

    def seen_commit(self, height: int) -> Commit: ...

    def ext_commit(self, height: int) -> ExtendedCommit | None: ...


class StoredChain:
    """A chain read back from a BlockStore (e.g. one made by `cometsync.testing.ChainBuilder`)."""

    def __init__(self, store: BlockStore) -> None:
        self.store = store

    def block(self, height: int) -> Block:
        block = self.store.load_block(height)
        assert block is not None, f"no block {height}"
        return block

    def seen_commit(self, height: int) -> Commit:
        commit = self.store.load_seen_commit(height)
        assert commit is not None, f"no seen commit {height}"
        return commit

    def ext_commit(self, height: int) -> ExtendedCommit | None:
        return self.store.load_extended_commit(height)


def tampered_store(home: Path, chain: ChainSource, height: int, replace: dict[int, Block]) -> BlockStore:
    """A block store holding the chain up to `height` with some blocks swapped for `replace`."""
    store = BlockStore(open_db(home))
    for h in range(1, height + 1):
        block = replace.get(h) or chain.block(h)
        store.save_block(block, block.make_part_set(), chain.seen_commit(h), chain.ext_commit(h))
    return store


def with_flipped_tx(block: Block) -> Block:
    """The block with one tx byte changed and its data hash recomputed: valid alone, but not committed."""
    tx = bytearray(block.txs[0])
    tx[-1] ^= 0x01
    txs = (bytes(tx), *block.txs[1:])
    header = _new_header(block.header, data_hash=Block(block.header, txs, (), None).data_hash())
    return Block(header, txs, block.evidence, block.last_commit)


def with_bad_commit_signature(block: Block) -> Block:
    """The block with a corrupted LastCommit signature (header's last_commit_hash kept consistent)."""
    assert block.last_commit is not None
    sigs = list(block.last_commit.signatures)
    index = next(i for i, sig in enumerate(sigs) if sig.signature)
    signature = bytearray(sigs[index].signature)
    signature[0] ^= 0x01
    sigs[index] = dataclasses.replace(sigs[index], signature=bytes(signature))
    commit = dataclasses.replace(block.last_commit, signatures=tuple(sigs))
    header = _new_header(block.header, last_commit_hash=commit.hash())
    return Block(header, block.txs, block.evidence, commit)


def _new_header(header: Header, **changes: bytes) -> Header:
    return dataclasses.replace(header, **changes)


def with_bad_ext_signature(ext: ExtendedCommit, index: int) -> ExtendedCommit:
    sigs = list(ext.extended_signatures)
    signature = bytearray(sigs[index].extension_signature)
    signature[0] ^= 0x01
    sigs[index] = dataclasses.replace(sigs[index], extension_signature=bytes(signature))
    return dataclasses.replace(ext, extended_signatures=tuple(sigs))


class LinkedPeer:
    """Our view of a remote reactor: sending delivers to it on the next clock turn, as the wire would."""

    def __init__(
        self,
        network: Network,
        local: BlocksyncReactor[State],
        remote: BlocksyncReactor[State],
        remote_id: str,
        local_id: str,
    ) -> None:
        self.network = network
        self.local = local
        self.remote = remote
        self.id = remote_id
        self.local_id = local_id
        self.closed = False
        self.twin: LinkedPeer | None = None
        self.sent: list[bytes] = []

    def send(self, channel_id: int, msg_bytes: bytes) -> bool:
        if self.closed:
            return False
        self.sent.append(msg_bytes)
        self.network.clock.callLater(0, self._deliver, channel_id, msg_bytes)
        return True

    try_send = send

    def can_send(self, channel_id: int) -> bool:
        return not self.closed

    def _deliver(self, channel_id: int, msg_bytes: bytes) -> None:
        twin = self.twin
        if self.closed or twin is None:
            return
        if self.remote.filter_msg_bytes(channel_id, twin, msg_bytes):
            self.remote.receive(channel_id, twin, msg_bytes)

    def close(self, reason: str) -> None:
        """Disconnect both ends (CometBFT's StopPeerForError)."""
        if self.closed:
            return
        self.network.disconnects.append((self.local_id, self.id, reason))
        for end in (self, self.twin):
            assert end is not None
            end.closed = True
            end.local.remove_peer(end, reason)


class Network:
    """Reactors connected in-process; `connect` runs both sides' add_peer like a Switch would."""

    def __init__(self, clock: task.Clock) -> None:
        self.clock = clock
        self.disconnects: list[tuple[str, str, str]] = []
        self.links: list[LinkedPeer] = []

    def connect(self, a: BlocksyncReactor[State], a_id: str, b: BlocksyncReactor[State], b_id: str) -> None:
        a_view = LinkedPeer(self, a, b, b_id, a_id)
        b_view = LinkedPeer(self, b, a, a_id, b_id)
        a_view.twin, b_view.twin = b_view, a_view
        self.links += [a_view, b_view]
        a.add_peer(a_view)
        b.add_peer(b_view)

    def open_peers(self, node_id: str) -> list[str]:
        return [link.id for link in self.links if link.local_id == node_id and not link.closed]


def make_reactor(
    node: Node,
    clock: task.Clock,
    handoff: DeferredHandoff[State] | None = None,
    config: ReactorConfig | None = None,
    local_address: bytes | None = None,
) -> tuple[BlocksyncReactor[State], DeferredHandoff[State]]:
    handoff = handoff or DeferredHandoff()
    reactor = BlocksyncReactor(
        node.state,
        node.block_store,
        node.executor,
        handoff,
        clock,
        config=config,
        local_address=local_address,
    )
    return reactor, handoff


def start_clock(chain: FixtureChain) -> task.Clock:
    """A clock an hour after genesis (the pool's SyncTracker compares header times with it)."""
    clock = task.Clock()
    clock.advance(chain.genesis().genesis_time.unix_nanos() / 1e9 + 3600)
    return clock


def run_until(clock: task.Clock, done: Callable[[], bool], max_seconds: float, step: float = 0.05) -> bool:
    """Advance the clock in steps until `done()` or `max_seconds` of clock time passed."""
    for _ in range(int(max_seconds / step)):
        if done():
            return True
        clock.advance(step)
    return done()


class RecordedApp:
    """Answers FinalizeBlock with what the chain's real app answered (block_results and the next header's
    app hash): the voteext chain was made by CometBFT's e2e app, whose state hash the kvstore can't match."""

    def __init__(self, chain: FixtureChain) -> None:
        self.chain = chain
        self.height = 0
        self.app_hash = b""

    def info(self, request: abci_pb2.RequestInfo) -> defer.Deferred[abci_pb2.ResponseInfo]:
        return defer.succeed(
            abci_pb2.ResponseInfo(
                last_block_height=self.height,
                last_block_app_hash=self.app_hash,
                app_version=self.chain.block(1).header.version.app,
            )
        )

    def init_chain(self, request: abci_pb2.RequestInitChain) -> defer.Deferred[abci_pb2.ResponseInitChain]:
        self.app_hash = self.chain.block(1).header.app_hash
        return defer.succeed(abci_pb2.ResponseInitChain(app_hash=self.app_hash))

    def finalize_block(
        self, request: abci_pb2.RequestFinalizeBlock
    ) -> defer.Deferred[abci_pb2.ResponseFinalizeBlock]:
        height = request.height
        path = self.chain.folder / "block_results" / f"{height}.json"
        recorded = json.loads(path.read_text()) if path.exists() else {}
        results = [
            abci_pb2.ExecTxResult(
                code=r["code"],
                data=base64.b64decode(r["data"] or ""),
                gas_wanted=int(r["gas_wanted"]),
                gas_used=int(r["gas_used"]),
            )
            for r in recorded.get("txs_results") or []
        ] or [abci_pb2.ExecTxResult() for _ in request.txs]
        if height < self.chain.tip:
            app_hash = self.chain.block(height + 1).header.app_hash
        else:
            app_hash = base64.b64decode(recorded["app_hash"])
        self.pending = (height, app_hash)
        return defer.succeed(abci_pb2.ResponseFinalizeBlock(tx_results=results, app_hash=app_hash))

    def commit(self, request: abci_pb2.RequestCommit) -> defer.Deferred[abci_pb2.ResponseCommit]:
        self.height, self.app_hash = self.pending
        return defer.succeed(abci_pb2.ResponseCommit())


class LyingReactor(BlocksyncReactor[State]):
    """Claims a huge height in its first status, then tells the truth (GHSA-22qq-3xwm-r5x4's attack)."""

    lied = False

    def _status(self) -> StatusResponse:
        if not self.lied:
            self.lied = True
            return StatusResponse(height=10**9, base=1)
        return super()._status()


class InflatingReactor(BlocksyncReactor[State]):
    """Serves its real blocks but always claims a far height: NoBlockResponse for every height above its tip
    (issue 13's liar that kept CometBFT v0.38.25 and cometsync from ever switching)."""

    claimed_height = 10**9

    def _status(self) -> StatusResponse:
        return StatusResponse(height=self.claimed_height, base=self.store.base)
