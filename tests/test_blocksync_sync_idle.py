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
from cometsync.store.blocking import RunBlocking, run_inline


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
    """Runs block writes only when the test releases them, as a slow disk on the writer thread would."""

    def __init__(self) -> None:
        self.held: list[tuple[Callable[[], None], defer.Deferred[None]]] = []

    def __call__(self, write: Callable[[], None]) -> defer.Deferred[None]:
        done: defer.Deferred[None] = defer.Deferred()
        self.held.append((write, done))
        return done

    def release(self) -> None:
        held, self.held = self.held, []
        for write, done in held:
            write()
            done.callback(None)


def _syncing(
    tmp_path: Path, app: GatedCommitApp, writes: RunBlocking = run_inline
) -> tuple[Node, BlocksyncReactor[State], task.Clock]:
    clock = start_clock(LOCALNET_CHAIN)
    syncer = Node(tmp_path / "syncer", LOCALNET_CHAIN, app)
    syncer_reactor, _ = make_reactor(syncer, clock, run_blocking=writes)
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


def test_idle_waits_for_a_block_write_that_outlives_the_commit_before_it(tmp_path: Path) -> None:
    """Block 2's write is still running when block 1's Commit returns: FinalizeBlock 2 may run, but its
    state is not written before the block, and idle() must not fire until block 2 is written, executed and
    committed (a shutdown would otherwise close the app under it)."""
    app = RecordingGatedApp()
    writes = HeldWrites()
    syncer, syncer_reactor, clock = _syncing(tmp_path, app, writes)
    loop = syncer_reactor.loop
    syncer_reactor.start()
    assert run_until(clock, lambda: len(writes.held) == 1, max_seconds=30)
    writes.release()  # block 1 written; FinalizeBlock 1 runs, its Commit is held
    assert run_until(clock, lambda: len(writes.held) == 1 and len(app.held) == 1, max_seconds=30)
    waited: list[None] = []
    loop.idle().addCallback(waited.append)
    syncer_reactor.stop()
    app.release()  # Commit 1 returns while block 2's write is still held
    # FinalizeBlock 2 runs beside that write, but block 2's state waits until the block is on disk.
    assert waited == [] and loop.applying and app.finalized == [1, 2]
    saved_state = syncer.state_store.load()
    assert saved_state is not None and saved_state.last_block_height == 1 and len(app.held) == 0
    writes.release()  # block 2 written: its state is saved and its Commit sent
    saved_state = syncer.state_store.load()
    assert saved_state is not None and saved_state.last_block_height == 2
    assert waited == [] and len(app.held) == 1
    app.release()
    assert waited == [None] and not loop.applying
    assert syncer.block_store.height == loop.state.last_block_height == 2
    syncer.close()
