"""`SyncLoop.idle()`: a shutdown waits for the block being applied, without polling (task.Clock, LevelDB)."""

from __future__ import annotations

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
from twisted.internet import defer

from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2


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


def test_idle_fires_once_the_block_being_applied_is_committed(tmp_path: Path) -> None:
    clock = start_clock(LOCALNET_CHAIN)
    app = GatedCommitApp()
    syncer = Node(tmp_path / "syncer", LOCALNET_CHAIN, app)
    syncer_reactor, _ = make_reactor(syncer, clock)
    server_reactor, _ = make_reactor(serving_node(tmp_path / "server", 20), clock)
    Network(clock).connect(server_reactor, "server", syncer_reactor, "syncer")
    server_reactor.start(blocksync=False)
    loop = syncer_reactor.loop
    idle_before: list[None] = []
    loop.idle().addCallback(idle_before.append)
    assert idle_before == [None]  # nothing applied yet: fires at once

    syncer_reactor.start()
    assert run_until(clock, lambda: loop.applying, max_seconds=30)
    waited: list[None] = []
    loop.idle().addCallback(waited.append)
    syncer_reactor.stop()
    clock.advance(5)
    assert waited == [] and loop.applying and len(app.held) == 1

    app.release()
    assert waited == [None] and not loop.applying
    assert syncer.block_store.height == loop.state.last_block_height == 1
    clock.advance(5)
    assert app.held == [] and loop.state.last_block_height == 1  # stopped: no further block is applied
    syncer.close()
