"""BlocksyncReactor + sync loop on real fixture chains, real LevelDB stores and the real executor,
driven deterministically by `task.Clock` (ports of CometBFT's reactor_test.go scenarios)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from blocksync_fixtures import (
    LOCALNET_CHAIN,
    VOTEEXT_CHAIN,
    InflatingReactor,
    LyingReactor,
    Network,
    Node,
    RecordedApp,
    make_reactor,
    run_until,
    start_clock,
    tampered_store,
    with_bad_commit_signature,
    with_flipped_tx,
)

from cometsync.blocksync.codec import (
    BLOCKSYNC_CHANNEL,
    BlockRequest,
    NoBlockResponse,
    StatusRequest,
    StatusResponse,
    decode,
    encode,
    encode_block_response,
)
from cometsync.blocksync.reactor import BlocksyncReactor
from cometsync.state import State
from cometsync.types import Block

LOCALNET_WIRE = LOCALNET_CHAIN.folder / "wire"
VOTEEXT_WIRE = VOTEEXT_CHAIN.folder / "wire"


def serving_node(home: Path, height: int, voteext: bool = False) -> Node:
    chain = VOTEEXT_CHAIN if voteext else LOCALNET_CHAIN
    node = Node(home, chain, RecordedApp(chain) if voteext else None)
    node.apply_chain(height)
    return node


def test_no_block_response(tmp_path: Path) -> None:
    """TestNoBlockResponse: a 65-block node serves an empty one; the syncer has 1 and 10, not 67 or 100."""
    clock = start_clock(LOCALNET_CHAIN)
    server = serving_node(tmp_path / "server", 65)
    syncer = Node(tmp_path / "syncer", LOCALNET_CHAIN)
    server_reactor, _ = make_reactor(server, clock)
    syncer_reactor, handoff = make_reactor(syncer, clock)
    network = Network(clock)
    network.connect(server_reactor, "server", syncer_reactor, "syncer")
    server_reactor.start(blocksync=False)
    syncer_reactor.start()

    assert run_until(clock, lambda: handoff.switched.called, max_seconds=30)
    store = syncer.block_store
    assert store.load_block_bytes(1) == LOCALNET_CHAIN.block_bytes(1)
    assert store.load_block_bytes(10) == LOCALNET_CHAIN.block_bytes(10)
    assert store.load_block_bytes(67) is None and store.load_block_bytes(100) is None
    assert syncer_reactor.state.last_block_height >= 63
    assert network.disconnects == []

    peer = network.links[1]  # the syncer's view of the server
    sent_before = len(network.links[0].sent)
    peer.send(BLOCKSYNC_CHANNEL, encode(BlockRequest(100)))
    clock.advance(0)
    assert decode(network.links[0].sent[sent_before]) == NoBlockResponse(100)


def test_sync_localnet_chain_to_the_same_app_hash_and_switch(tmp_path: Path) -> None:
    """Two servers holding the 310-block localnet chain (txs, multi-part blocks, a validator change)."""
    clock = start_clock(LOCALNET_CHAIN)
    network = Network(clock)
    syncer = Node(tmp_path / "syncer", LOCALNET_CHAIN)
    syncer_reactor, handoff = make_reactor(syncer, clock)
    for name in ("a", "b"):
        server_reactor, _ = make_reactor(serving_node(tmp_path / name, 310), clock)
        network.connect(server_reactor, name, syncer_reactor, "syncer")
        server_reactor.start(blocksync=False)
    syncer_reactor.start()

    assert run_until(clock, lambda: handoff.switched.called, max_seconds=60)
    switched = handoff.switched.result
    state: State = switched.state
    assert state.last_block_height >= 308
    assert switched.blocks_synced == state.last_block_height
    assert state.app_hash == LOCALNET_CHAIN.block(state.last_block_height + 1).header.app_hash
    assert state.validators.hash() == LOCALNET_CHAIN.block(state.last_block_height + 1).header.validators_hash
    assert syncer.block_store.height == state.last_block_height
    assert syncer_reactor.metrics.blocks_synced == state.last_block_height
    assert syncer_reactor.metrics.txs_synced > 190
    assert syncer_reactor.metrics.verify_seconds.count == state.last_block_height
    assert syncer_reactor.metrics.apply_seconds.count == state.last_block_height
    assert syncer_reactor.metrics.peer_bans == 0
    assert network.disconnects == []


def test_serves_stored_bytes_exactly_as_cometbft(tmp_path: Path) -> None:
    """BlockResponse bytes equal those a CometBFT v0.38.25 node sent (with the ext commit from height 5)."""
    clock = start_clock(VOTEEXT_CHAIN)
    voteext = serving_node(tmp_path / "voteext", 45, voteext=True)
    reactor, _ = make_reactor(voteext, clock)
    probe = _Probe()
    reactor.add_peer(probe)
    assert decode(probe.sent[0]) == StatusResponse(height=45, base=1)
    for message in (BlockRequest(5), StatusRequest(), BlockRequest(46)):
        reactor.receive(BLOCKSYNC_CHANNEL, probe, encode(message))
    assert probe.sent[1] == (VOTEEXT_WIRE / "block_response_5.pb").read_bytes()
    assert decode(probe.sent[2]) == StatusResponse(height=45, base=1)
    assert decode(probe.sent[3]) == NoBlockResponse(46)

    localnet = serving_node(tmp_path / "localnet", 62)
    reactor, _ = make_reactor(localnet, clock)
    probe = _Probe()
    reactor.add_peer(probe)
    reactor.receive(BLOCKSYNC_CHANNEL, probe, (LOCALNET_WIRE / "block_request_1.pb").read_bytes())
    reactor.receive(BLOCKSYNC_CHANNEL, probe, encode(BlockRequest(62)))
    assert probe.sent[1] == encode_block_response(LOCALNET_CHAIN.block_bytes(1))
    assert probe.sent[2] == (LOCALNET_WIRE / "block_response_62.pb").read_bytes()


def test_missing_extended_commit_is_not_served(tmp_path: Path) -> None:
    """With extensions on at h and no EC:h stored, nothing is sent (as Go's respondToPeer)."""
    clock = start_clock(VOTEEXT_CHAIN)
    node = serving_node(tmp_path / "node", 6, voteext=True)
    store = tampered_store(tmp_path / "bare.db", VOTEEXT_CHAIN, 6, {})
    reactor = BlocksyncReactor(node.state, _WithoutExtCommits(store), node.executor, _NoHandoff(), clock)
    probe = _Probe()
    reactor.receive(BLOCKSYNC_CHANNEL, probe, encode(BlockRequest(6)))
    reactor.receive(BLOCKSYNC_CHANNEL, probe, encode(BlockRequest(4)))
    assert len(probe.sent) == 1
    assert probe.sent[0] == encode_block_response(VOTEEXT_CHAIN.block_bytes(4))


@pytest.mark.parametrize(
    "tamper", [with_flipped_tx, with_bad_commit_signature], ids=["flipped-tx", "corrupted-commit-signature"]
)
def test_bad_block_stops_peer(tmp_path: Path, tamper: Callable[[Block], Block]) -> None:
    """TestBadBlockStopsPeer: 3 honest servers + 1 serving a tampered chain; only the bad one is dropped
    and banned, and the syncer still reaches the tip."""
    clock = start_clock(LOCALNET_CHAIN)
    network = Network(clock)
    honest = serving_node(tmp_path / "honest", 148)
    syncer = Node(tmp_path / "syncer", LOCALNET_CHAIN)
    syncer_reactor, handoff = make_reactor(syncer, clock)
    for name in ("h1", "h2", "h3"):
        server, _ = make_reactor(honest, clock)
        network.connect(server, name, syncer_reactor, "syncer")
    blocks = (LOCALNET_CHAIN.block(h) for h in range(2, 149))
    bad_blocks = {b.height: tamper(b) for b in blocks if b.txs or tamper is with_bad_commit_signature}
    bad_store = tampered_store(tmp_path / "bad.db", LOCALNET_CHAIN, 148, bad_blocks)
    bad = BlocksyncReactor(honest.state, bad_store, honest.executor, _NoHandoff(), clock)
    network.connect(bad, "bad", syncer_reactor, "syncer")
    syncer_reactor.start()
    assert run_until(clock, lambda: handoff.switched.called, max_seconds=120)
    assert syncer_reactor.state.last_block_height >= 146
    assert {peer for local, peer, _ in network.disconnects if local == "syncer"} <= {"bad"}
    assert "bad" not in network.open_peers("syncer")
    assert sorted(network.open_peers("syncer")) == ["h1", "h2", "h3"]
    assert all(
        syncer.block_store.load_block_bytes(h) == LOCALNET_CHAIN.block_bytes(h)
        for h in bad_blocks
        if h <= syncer.block_store.height
    )
    assert syncer_reactor.pool.is_peer_banned("bad")


def test_check_switch_to_consensus_last_height_zero(tmp_path: Path) -> None:
    """TestCheckSwitchToConsensusLastHeightZero: empty node + 45-block voteext node; syncer reaches >= 42."""
    clock = start_clock(VOTEEXT_CHAIN)
    network = Network(clock)
    server, _ = make_reactor(serving_node(tmp_path / "server", 45, voteext=True), clock)
    syncer = Node(tmp_path / "syncer", VOTEEXT_CHAIN, RecordedApp(VOTEEXT_CHAIN))
    syncer_reactor, handoff = make_reactor(syncer, clock)
    network.connect(server, "server", syncer_reactor, "syncer")
    syncer_reactor.start()
    assert run_until(clock, lambda: handoff.switched.called, max_seconds=30)
    assert syncer_reactor.state.last_block_height >= 42
    assert syncer.block_store.load_extended_commit_bytes(42) == VOTEEXT_CHAIN.ext_commit_bytes(42)


def test_peer_not_disconnected_on_late_block_response_after_switch(tmp_path: Path) -> None:
    """TestPeerNotDisconnectedOnLateBlockResponseAfterConsensusSwitch."""
    clock = start_clock(LOCALNET_CHAIN)
    network = Network(clock)
    server, _ = make_reactor(serving_node(tmp_path / "server", 20), clock)
    syncer = Node(tmp_path / "syncer", LOCALNET_CHAIN)
    syncer_reactor, handoff = make_reactor(syncer, clock)
    network.connect(server, "server", syncer_reactor, "syncer")
    syncer_reactor.start()
    assert run_until(clock, lambda: handoff.switched.called, max_seconds=30)
    late = encode_block_response(LOCALNET_CHAIN.block_bytes(20))
    network.links[0].send(BLOCKSYNC_CHANNEL, late)  # server -> syncer, unsolicited now
    clock.advance(1)
    assert network.open_peers("syncer") == ["server"]
    assert network.disconnects == []
    assert syncer.block_store.height == syncer_reactor.state.last_block_height


def test_only_validator_switches_at_once(tmp_path: Path) -> None:
    import dataclasses

    from cometsync.types import ValidatorSet

    clock = start_clock(LOCALNET_CHAIN)
    node = Node(tmp_path / "solo", LOCALNET_CHAIN)
    me = node.state.validators.validators[0]
    node.state = dataclasses.replace(node.state, validators=ValidatorSet([me]))
    reactor, handoff = make_reactor(node, clock, local_address=me.address)
    reactor.start()
    assert handoff.switched.called
    assert handoff.switched.result.blocks_synced == 0
    assert not reactor.pool.is_running


def test_own_third_of_power_switches_without_peers(tmp_path: Path) -> None:
    """v0.38.10+: a validator holding >= 1/3 of the power does not wait in blocksync for peers."""
    import dataclasses

    from cometsync.types import ValidatorSet

    clock = start_clock(LOCALNET_CHAIN)
    node = Node(tmp_path / "big", LOCALNET_CHAIN)
    vals = list(node.state.validators.validators)
    vals[0] = dataclasses.replace(vals[0], voting_power=20)
    node.state = dataclasses.replace(node.state, validators=ValidatorSet(vals))
    reactor, handoff = make_reactor(node, clock, local_address=vals[0].address)
    reactor.start()
    assert not handoff.switched.called
    clock.advance(1.0)
    assert handoff.switched.called


class _Probe:
    """A peer that records what the reactor sends it."""

    id = "probe"

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed: list[str] = []

    def send(self, channel_id: int, msg_bytes: bytes) -> bool:
        self.sent.append(msg_bytes)
        return True

    try_send = send

    def can_send(self, channel_id: int) -> bool:
        return True

    def close(self, reason: str) -> None:
        self.closed.append(reason)


class _NoHandoff:
    def switch_to_consensus(self, state: State, blocks_synced: int) -> None:
        raise AssertionError("a serving-only reactor must not switch")


class _WithoutExtCommits:
    """A store that lost its extended commits (reads only)."""

    def __init__(self, store: object) -> None:
        self._store = store
        self.height = store.height  # type: ignore[attr-defined]
        self.base = store.base  # type: ignore[attr-defined]

    def load_block_bytes(self, height: int) -> bytes | None:
        return self._store.load_block_bytes(height)  # type: ignore[attr-defined, no-any-return]

    def load_extended_commit_bytes(self, height: int) -> None:
        return None

    def save_block(self, *args: object) -> None:
        raise AssertionError("read-only")


def test_sync_completes_with_a_corrupt_and_a_lying_peer(tmp_path: Path) -> None:
    """The issue's 3-peer scenario on the Clock: both bad peers end up banned, the sync completes.

    Regression: a dropped block whose height the honest peer had also answered must be re-asked at once."""
    clock = start_clock(LOCALNET_CHAIN)
    network = Network(clock)
    honest = serving_node(tmp_path / "honest", 310)
    syncer = Node(tmp_path / "syncer", LOCALNET_CHAIN)
    syncer_reactor, handoff = make_reactor(syncer, clock)
    corrupt_blocks = {h: with_flipped_tx(LOCALNET_CHAIN.block(h)) for h in (11, 16, 19, 23, 27, 31)}
    corrupt_store = tampered_store(tmp_path / "corrupt.db", LOCALNET_CHAIN, 310, corrupt_blocks)
    servers = {
        "honest": make_reactor(honest, clock)[0],
        "corrupt": BlocksyncReactor(honest.state, corrupt_store, honest.executor, _NoHandoff(), clock),
        "liar": LyingReactor(honest.state, honest.block_store, honest.executor, _NoHandoff(), clock),
    }
    for name, server in servers.items():
        network.connect(server, name, syncer_reactor, "syncer")
    syncer_reactor.start()
    assert run_until(clock, lambda: handoff.switched.called, max_seconds=60)
    assert syncer_reactor.state.last_block_height >= 308
    assert syncer_reactor.pool.is_peer_banned("corrupt") and syncer_reactor.pool.is_peer_banned("liar")
    assert not syncer_reactor.pool.is_peer_banned("honest")
    assert "honest" in network.open_peers("syncer") and "corrupt" not in network.open_peers("syncer")
    assert "liar" not in network.open_peers("syncer")  # lowering its claim disconnects it too
    assert syncer_reactor.metrics.peer_bans == 2


def test_peer_claiming_heights_it_refuses_is_banned_and_the_node_switches_at_the_tip(tmp_path: Path) -> None:
    """Issue 13 on the Clock: the liar serves the real 310 blocks, claims 10^9 and refuses above 310."""
    clock = start_clock(LOCALNET_CHAIN)
    network = Network(clock)
    honest = serving_node(tmp_path / "honest", 310)
    syncer = Node(tmp_path / "syncer", LOCALNET_CHAIN)
    syncer_reactor, handoff = make_reactor(syncer, clock)
    liar = InflatingReactor(honest.state, honest.block_store, honest.executor, _NoHandoff(), clock)
    network.connect(make_reactor(honest, clock)[0], "honest", syncer_reactor, "syncer")
    network.connect(liar, "liar", syncer_reactor, "syncer")
    syncer_reactor.start()
    assert run_until(clock, lambda: syncer.block_store.height == 309, max_seconds=60)
    at_tip = clock.seconds()
    assert run_until(clock, lambda: handoff.switched.called, max_seconds=60)
    assert clock.seconds() - at_tip <= 2 * 1.0  # the switch check's period, not a SyncTracker timeout
    assert handoff.switched.result.state.last_block_height == 309  # block 310 awaits its commit
    assert syncer_reactor.pool.max_peer_height == 310
    assert syncer_reactor.pool.is_peer_banned("liar") and syncer_reactor.metrics.peer_bans == 1
    assert network.open_peers("syncer") == ["honest"]
    [(_, _, reason)] = [d for d in network.disconnects if d[1] == "liar"]
    assert "[1, 1000000000]" in reason and "refus" in reason  # its status, or in-flight strikes, convict it
