"""A home bootstrapped by state sync (state and app at H, empty block store, CometBFT's
`offlineStateSyncHeightKey`) starts blocksync at H+1 and syncs the rest from a peer."""

from __future__ import annotations

import shutil
from pathlib import Path

import plyvel
from blocksync_fixtures import LOCALNET_CHAIN, Network, Node, make_reactor, run_until, start_clock

from cometsync.proto.wire import zigzag_varint
from cometsync.state import State
from cometsync.state.stores_check import check_stores

SNAPSHOT = 120
TIP = LOCALNET_CHAIN.tip


def state_synced_node(home: Path) -> Node:
    """What CometBFT's BootstrapState leaves: state.db at SNAPSHOT plus the marker, no blocks; the app
    (in memory) holds the snapshot's state. The returned node has reopened the stores and handshaken."""
    node = Node(home, LOCALNET_CHAIN)
    node.apply_chain(SNAPSHOT)
    node.close()
    shutil.rmtree(home / "blockstore.db")
    raw = plyvel.DB(str(home / "state.db"))
    raw.put(b"offlineStateSyncHeightKey", zigzag_varint(SNAPSHOT))
    raw.close()
    return Node(home, LOCALNET_CHAIN, app=node.app)


def test_blocksync_starts_above_the_snapshot_and_syncs_the_rest(tmp_path: Path) -> None:
    synced = state_synced_node(tmp_path / "synced")
    server = Node(tmp_path / "server", LOCALNET_CHAIN)
    server.apply_chain(TIP)
    try:
        check_stores(synced.block_store, synced.state_store, synced.state_store.load())
        assert synced.state.last_block_height == SNAPSHOT and synced.block_store.height == 0
        clock = start_clock(LOCALNET_CHAIN)
        network = Network(clock)
        syncing, handoff = make_reactor(synced, clock)
        serving, _ = make_reactor(server, clock)
        assert syncing.pool.height == SNAPSHOT + 1
        network.connect(serving, "server", syncing, "synced")
        serving.start(blocksync=False)
        syncing.start()
        assert run_until(clock, lambda: handoff.switched.called, max_seconds=60)
        final: State = handoff.switched.result.state
        assert final.last_block_height == TIP - 1
        assert synced.block_store.base == SNAPSHOT + 1 and synced.block_store.height == TIP - 1
        assert final.app_hash == LOCALNET_CHAIN.block(TIP).header.app_hash
        assert network.disconnects == []
    finally:
        synced.close()
        server.close()
