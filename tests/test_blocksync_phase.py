"""The blocksync reactor's one lifecycle (`Phase`) on `task.Clock`, real LevelDB and the real executor:
each phase drives the filter, `metrics.syncing`, the pool and the periodic calls; a block the app refuses
is FAILED for good, with nothing left scheduled."""

from __future__ import annotations

from pathlib import Path

import pytest
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

from cometsync.abci import ABCIError
from cometsync.blocksync.msg_filter import SyncState
from cometsync.blocksync.phase import Phase, SyncFailure
from cometsync.blocksync.reactor import BlocksyncReactor
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.rpc import InternalError, handlers
from cometsync.rpc.params import Params
from cometsync.state import State
from tests.rpc_fixtures import make_env

FAIL_AT = 5


class RefusesBlockApp(InProcessApp):
    """The kvstore, except that FinalizeBlock at one height fails as an app error reaches the executor."""

    def finalize_block(
        self, request: abci_pb2.RequestFinalizeBlock
    ) -> defer.Deferred[abci_pb2.ResponseFinalizeBlock]:
        if request.height == FAIL_AT:
            return defer.fail(ABCIError(f"app refuses block {request.height}"))
        return super().finalize_block(request)


def _syncing_pair(tmp_path: Path, app: InProcessApp | None = None) -> tuple[BlocksyncReactor[State], Network]:
    clock = start_clock(LOCALNET_CHAIN)
    syncer, _ = make_reactor(Node(tmp_path / "syncer", LOCALNET_CHAIN, app), clock)
    server, _ = make_reactor(serving_node(tmp_path / "server", 20), clock)
    network = Network(clock)
    network.connect(server, "server", syncer, "syncer")
    server.start(blocksync=False)
    return syncer, network


def test_a_refused_block_is_failed_for_good_with_nothing_scheduled(tmp_path: Path) -> None:
    syncer, network = _syncing_pair(tmp_path, RefusesBlockApp())
    clock = network.clock
    failures: list[SyncFailure] = []
    syncer.failed.addCallback(failures.append)
    syncer.start()
    assert syncer.phase is Phase.SYNCING and syncer.metrics.syncing and syncer.pool.is_running

    assert run_until(clock, lambda: syncer.phase is Phase.FAILED, max_seconds=30)
    assert failures == [syncer.failure]
    assert str(syncer.failure) == f"blocksync failed at height {FAIL_AT}: app refuses block {FAIL_AT}"
    assert syncer.state.last_block_height == FAIL_AT - 1
    assert not syncer.pool.is_running and not syncer.metrics.syncing
    assert syncer.filter.state is SyncState.STOPPED_AFTER_SWITCH
    assert not syncer.phase.catching_up and not syncer.phase.handed_off

    # No status poll, caught-up check or pool timer is left: the syncer never sends again.
    clock.advance(0)
    to_server = next(link for link in network.links if link.local_id == "syncer")
    sent = len(to_server.sent)
    for _ in range(60):
        clock.advance(1)
    assert len(to_server.sent) == sent
    assert clock.getDelayedCalls() == []
    syncer.stop()  # the node's shutdown keeps the failure
    assert syncer.phase is Phase.FAILED and syncer.state.last_block_height == FAIL_AT - 1


def test_phases_drive_the_filter_metrics_and_pool(tmp_path: Path) -> None:
    syncer, network = _syncing_pair(tmp_path)
    assert syncer.phase is Phase.IDLE and syncer.phase.catching_up
    assert syncer.filter.state is SyncState.INACTIVE and not syncer.pool.is_running
    syncer.start()
    assert syncer.filter.state is SyncState.ACTIVE and syncer.metrics.syncing
    assert run_until(network.clock, lambda: syncer.phase.handed_off, max_seconds=30)
    assert syncer.phase is Phase.SWITCHED and not syncer.phase.catching_up
    assert syncer.filter.state is SyncState.STOPPED_AFTER_SWITCH
    assert not syncer.pool.is_running and not syncer.metrics.syncing
    assert syncer.failure is None and not syncer.failed.called
    syncer.stop()
    assert syncer.phase is Phase.STOPPED
    assert network.clock.getDelayedCalls() == []


def test_health_fails_and_catching_up_ends_once_failed(tmp_path: Path) -> None:
    """CometBFT's node is unhealthy once it stopped working: `/health` errors with the reason, and a
    failed node no longer claims to be catching up (it stops and exits moments later)."""
    syncer, network = _syncing_pair(tmp_path, RefusesBlockApp())
    env = make_env(
        syncer.store,
        catching_up=lambda: syncer.phase.catching_up,
        failure=lambda: str(syncer.failure) if syncer.failure else None,
    )
    syncer.start()
    assert handlers.health(env, Params({}, uri=True)) == {}
    assert handlers.status(env, Params({}, uri=True))["sync_info"]["catching_up"] is True
    assert run_until(network.clock, lambda: syncer.phase is Phase.FAILED, max_seconds=30)
    with pytest.raises(InternalError, match=rf"^blocksync failed at height {FAIL_AT}: app refuses"):
        handlers.health(env, Params({}, uri=True))
    assert handlers.status(env, Params({}, uri=True))["sync_info"]["catching_up"] is False
