"""`SyncLoop.idle()`: a shutdown waits for the block being applied, without polling (task.Clock, LevelDB)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from blocksync_fixtures import (
    LOCALNET_CHAIN,
    InProcessApp,
    Network,
    Node,
    make_reactor,
    run_until,
    start_clock,
)
from test_blocksync_sync import serving_node
from twisted.internet import defer, task

from cometsync.blocksync.reactor import BlocksyncReactor
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.state import State
from cometsync.store import BlockStore
from cometsync.store.blocking import RunBlocking


class GatedCommitApp(InProcessApp):
    """Holds every Commit until the test releases it: a block stays "being applied" meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[tuple[defer.Deferred[abci_pb2.ResponseCommit], abci_pb2.ResponseCommit]] = []

    def commit(self, request: abci_pb2.RequestCommit) -> defer.Deferred[abci_pb2.ResponseCommit]:
        gate: defer.Deferred[abci_pb2.ResponseCommit] = defer.Deferred()
        self.held.append((gate, self.app.commit(request)))
        return gate

    def release(self) -> None:
        held, self.held = self.held, []
        for gate, response in held:
            gate.callback(response)


class RecordingGatedApp(GatedCommitApp):
    """Also records the height of every FinalizeBlock, to see which block runs while a Commit is held."""

    def __init__(self) -> None:
        super().__init__()
        self.finalized: list[int] = []

    def finalize_block(
        self, request: abci_pb2.RequestFinalizeBlock
    ) -> defer.Deferred[abci_pb2.ResponseFinalizeBlock]:
        self.finalized.append(request.height)
        return super().finalize_block(request)


class HeldWrites:
    """Runs the executor's writes only when the test releases them, in order, as a slow disk would."""

    def __init__(self) -> None:
        self.held: list[tuple[Callable[[], None], defer.Deferred[None]]] = []

    def __call__(self, write: Callable[[], None]) -> defer.Deferred[None]:
        done: defer.Deferred[None] = defer.Deferred()
        self.held.append((write, done))
        return done

    def release_first(self) -> None:
        write, done = self.held.pop(0)
        write()
        done.callback(None)


class InOrderGatedApp(RecordingGatedApp):
    """Answers in the order asked, as a socket-protocol app: a FinalizeBlock sent behind a held Commit
    runs after it and is answered after it."""

    def finalize_block(
        self, request: abci_pb2.RequestFinalizeBlock
    ) -> defer.Deferred[abci_pb2.ResponseFinalizeBlock]:
        answer = super().finalize_block(request)
        if not self.held:
            return answer
        gate: defer.Deferred[abci_pb2.ResponseFinalizeBlock] = defer.Deferred()
        answer.addCallback(lambda response: self.held.append((gate, response)))  # type: ignore[arg-type]
        return gate


def _syncing(
    tmp_path: Path, app: GatedCommitApp, writes: RunBlocking | None = None, *, pipeline_commit: bool = False
) -> tuple[Node, BlocksyncReactor[State], task.Clock]:
    clock = start_clock(LOCALNET_CHAIN)
    syncer = Node(tmp_path / "syncer", LOCALNET_CHAIN, app, writes, pipeline_commit=pipeline_commit)
    syncer_reactor, _ = make_reactor(syncer, clock)
    server_reactor, _ = make_reactor(serving_node(tmp_path / "server", 20), clock)
    Network(clock).connect(server_reactor, "server", syncer_reactor, "syncer")
    server_reactor.start(blocksync=False)
    return syncer, syncer_reactor, clock


def test_idle_fires_once_the_block_being_applied_is_committed(tmp_path: Path) -> None:
    app = RecordingGatedApp()
    syncer, syncer_reactor, clock = _syncing(tmp_path, app)
    loop = syncer_reactor.loop
    idle_before: list[None] = []
    loop.idle().addCallback(idle_before.append)
    assert idle_before == [None]  # nothing applied yet: fires at once

    syncer_reactor.start()
    assert run_until(clock, lambda: syncer.block_store.height == 2, max_seconds=30)
    waited: list[None] = []
    loop.idle().addCallback(waited.append)
    syncer_reactor.stop()
    clock.advance(5)
    # Block 2 was saved while block 1's Commit is held; it is not executed before that Commit returns.
    assert waited == [] and loop.applying and len(app.held) == 1 and app.finalized == [1]

    app.release()
    assert waited == [] and app.finalized == [1, 2] and len(app.held) == 1  # the saved block completes
    app.release()
    assert waited == [None] and not loop.applying
    assert syncer.block_store.height == loop.state.last_block_height == 2
    clock.advance(5)
    assert app.held == [] and loop.state.last_block_height == 2  # stopped: no further block is applied
    syncer.close()


def _release_next(writes: HeldWrites, app: GatedCommitApp) -> None:
    """One step of a slow disk and a slow app: the first held write if any, else the held Commits."""
    if writes.held:
        writes.release_first()
    else:
        app.release()


def _on_disk(node: Node) -> tuple[int, int, int]:
    """(block store height, saved state height, app height) as a crash now would leave them."""
    saved = node.state_store.load()
    app_height = node.app.app.info(abci_pb2.RequestInfo()).last_block_height  # type: ignore[attr-defined]
    return node.block_store.height, 0 if saved is None else saved.last_block_height, app_height


def test_block_writes_overlap_commit_and_finalize_and_the_disk_stays_recoverable(tmp_path: Path) -> None:
    """Block h+1's write runs beside Commit h and FinalizeBlock h+1, and state h+1 waits for it: after
    every step the disk holds store = state or state + 1 and the app at most one block past the state
    (what a CometBFT handshake recovers); idle() waits for the last block's write, state and Commit."""
    app = RecordingGatedApp()
    writes = HeldWrites()
    syncer, syncer_reactor, clock = _syncing(tmp_path, app, writes)
    syncer_reactor.start()
    assert run_until(clock, lambda: len(writes.held) == 1, max_seconds=30)
    assert app.finalized == [1] and _on_disk(syncer) == (0, 0, 0)  # executed; its state waits for the block
    writes.release_first()  # block 1, then its state; Commit 1 is held and block 2's write queued
    assert run_until(clock, lambda: len(writes.held) == 1, max_seconds=30)
    assert _on_disk(syncer) == (1, 1, 1) and len(app.held) == 1
    app.release()  # Commit 1 returns while block 2's write is still held: FinalizeBlock 2 runs beside it
    assert app.finalized == [1, 2] and _on_disk(syncer) == (1, 1, 1)
    writes.release_first()  # block 2, then state 2; Commit 2 sent
    assert _on_disk(syncer) == (2, 2, 2)
    seen = _sync_checking_disk(syncer, writes, app, clock, 6)
    assert (4, 3, 3) in seen and (4, 4, 4) in seen  # block 4 landed while Commit 3 was held, then its state
    _stop_and_settle(syncer, syncer_reactor, writes, app, clock)


def _sync_checking_disk(
    node: Node, writes: HeldWrites, app: RecordingGatedApp, clock: task.Clock, height: int
) -> list[tuple[int, int, int]]:
    """Release writes and Commits one at a time up to `height`: after each, the disk holds what a
    CometBFT handshake recovers (store = state or state + 1, the app at most one block past the state)
    and no block was executed twice. Returns every (store, state, app) seen."""
    seen: list[tuple[int, int, int]] = []
    for _ in range(200):
        if node.block_store.height >= height:
            break
        _release_next(writes, app)
        clock.advance(0.01)
        store, state, app_height = on_disk = _on_disk(node)
        seen.append(on_disk)
        assert store - state in (0, 1) and app_height <= state + 1 and app_height <= store, seen
        assert app.finalized == list(range(1, len(app.finalized) + 1))  # each block executed once
    return seen


def _stop_and_settle(
    syncer: Node,
    syncer_reactor: BlocksyncReactor[State],
    writes: HeldWrites,
    app: GatedCommitApp,
    clock: task.Clock,
) -> None:
    """Stop the loop: idle() waits for the last block's write, state and Commit, and nothing follows."""
    loop = syncer_reactor.loop
    waited: list[None] = []
    loop.idle().addCallback(waited.append)
    syncer_reactor.stop()
    for _ in range(20):
        if waited:
            break
        assert loop.applying
        _release_next(writes, app)
    assert waited == [None] and not loop.applying and not writes.held
    store, state, app_height = _on_disk(syncer)
    assert store == state == app_height == loop.state.last_block_height
    clock.advance(5)
    assert not writes.held and loop.state.last_block_height == state  # stopped: nothing further applied
    syncer.close()


class RetainingApp(GatedCommitApp):
    """Asks, at every Commit, to keep only the last two blocks (an app pruning while the node syncs)."""

    def commit(self, request: abci_pb2.RequestCommit) -> defer.Deferred[abci_pb2.ResponseCommit]:
        gate: defer.Deferred[abci_pb2.ResponseCommit] = defer.Deferred()
        response = self.app.commit(request)
        height = self.app.info(abci_pb2.RequestInfo()).last_block_height
        response.retain_height = max(0, height - 1)
        self.held.append((gate, response))
        return gate


def test_a_prune_queues_behind_the_block_write_in_flight(tmp_path: Path) -> None:
    """Commit h returns (asking to prune) while block h+1's write is still held: the prune runs after that
    write, so neither overwrites the other's base and height on disk."""
    app = RetainingApp()
    writes = HeldWrites()
    syncer, syncer_reactor, clock = _syncing(tmp_path, app, writes)
    syncer_reactor.start()
    assert run_until(clock, lambda: len(writes.held) == 1, max_seconds=30)
    for _ in range(200):
        if syncer.block_store.height >= 8 and not writes.held and not app.held:
            break
        _release_next(writes, app)
        clock.advance(0.01)
    syncer_reactor.stop()
    for _ in range(20):
        if not writes.held and not app.held:
            break
        _release_next(writes, app)
    block_store = syncer.block_store
    base, height = block_store.base, block_store.height
    assert base > 1 and height >= 8
    syncer.close()
    reopened = BlockStore.open(tmp_path / "syncer" / "blockstore.db")
    try:
        assert (reopened.base, reopened.height) == (base, height)  # on disk as in memory
        assert reopened.load_block(base - 1) is None and reopened.load_block(base) is not None
    finally:
        reopened.close()


def test_finalize_block_goes_right_behind_the_commit_to_an_app_answering_in_order(tmp_path: Path) -> None:
    """`pipeline_commit`: FinalizeBlock h+1 is sent while Commit h is unanswered (the app runs it after that
    Commit), and the disk stays recoverable after every step, as without it."""
    app = InOrderGatedApp()
    writes = HeldWrites()
    syncer, syncer_reactor, clock = _syncing(tmp_path, app, writes, pipeline_commit=True)
    syncer_reactor.start()
    assert run_until(clock, lambda: len(writes.held) == 1, max_seconds=30)
    writes.release_first()  # block 1, then state 1; Commit 1 sent and held
    assert run_until(clock, lambda: len(writes.held) == 1, max_seconds=30)
    assert app.finalized == [1, 2] and len(app.held) == 2  # FinalizeBlock 2 answered only after Commit 1
    assert _on_disk(syncer) == (1, 1, 1)
    writes.release_first()  # block 2 on disk; its state waits for FinalizeBlock 2's answer
    assert _on_disk(syncer) == (2, 1, 1)
    app.release()  # Commit 1, then FinalizeBlock 2: state 2 written, Commit 2 sent
    assert _on_disk(syncer) == (2, 2, 2)
    seen = _sync_checking_disk(syncer, writes, app, clock, 8)
    assert (4, 3, 3) in seen and (4, 4, 4) in seen
    _stop_and_settle(syncer, syncer_reactor, writes, app, clock)


def test_a_failed_commit_stops_the_finalize_block_sent_behind_it(tmp_path: Path) -> None:
    """Commit 1 fails while FinalizeBlock 2 is already sent: its answer is not used, state 2 is never
    written, and the sync fails for good."""
    app = InOrderGatedApp()
    writes = HeldWrites()
    syncer, syncer_reactor, clock = _syncing(tmp_path, app, writes, pipeline_commit=True)
    failures: list[object] = []
    syncer_reactor.failed.addCallback(failures.append)
    syncer_reactor.start()
    assert run_until(clock, lambda: len(writes.held) == 1, max_seconds=30)
    writes.release_first()
    assert run_until(clock, lambda: len(writes.held) == 1, max_seconds=30)
    writes.release_first()
    assert app.finalized == [1, 2] and _on_disk(syncer) == (2, 1, 1)
    (commit_gate, _), (finalize_gate, finalize_response) = app.held
    commit_gate.errback(RuntimeError("the app's Commit failed"))
    finalize_gate.callback(finalize_response)
    assert len(failures) == 1 and "Commit failed" in str(failures[0])
    clock.advance(5)
    assert _on_disk(syncer) == (2, 1, 1) and syncer_reactor.loop.state.last_block_height == 1
    syncer.close()
