"""Attacks over real TCP + SecretConnection: a fresh node syncs the 500-block builder chain from one honest
cometsync peer while attacker peers (cometsync/testing/attack_peers.py) flood, bomb, pad, lower their
height or, all at once, lie about their height, forge blocks and flood; each time the sync finishes with
the chain's app hash, every attacker is disconnected and banned in the switch and the honest peer is not."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from e2e_harness import ServedChain, SyncHarness, address_of
from twisted.internet import defer

from cometsync.blocksync.handoff import Switched
from cometsync.store import BlockStore
from cometsync.testing.attack_peers import (
    AttackPeer,
    Behaviour,
    Corrupt,
    Flood,
    Liar,
    Lowering,
    Padded,
    TxBomb,
    connect_attacker,
)

Maker = Callable[[BlockStore], Behaviour]


class AttacksEndToEnd(SyncHarness):
    @defer.inlineCallbacks
    def _sync_under_attack(self, make: Maker) -> Generator[Any, Any, tuple[ServedChain, AttackPeer]]:
        chain, [attacker] = yield self._sync_under_attacks([make])
        return chain, attacker

    @defer.inlineCallbacks
    def _sync_under_attacks(
        self, makers: list[Maker]
    ) -> Generator[Any, Any, tuple[ServedChain, list[AttackPeer]]]:
        """Every attacker dials the node before it starts syncing from the honest peer."""
        chain = yield self._builder_chain()
        honest = self._server(2, chain)
        syncer, handoff, switch = yield self._syncer(chain.genesis)
        self.syncer, self.syncer_switch = syncer, switch
        port = int(switch.listen_addr.rsplit(":", 1)[1])
        network, node_id = chain.genesis.chain_id, switch.node_key.node_id
        attackers = [AttackPeer(50 + i, network, node_id, make(chain.store)) for i, make in enumerate(makers)]
        for attacker in attackers:
            connect_attacker(port, attacker)
            yield attacker.ready
        syncer.start()
        switch.dial_peers([address_of(honest)], persistent=False)
        switched = yield handoff.switched
        assert isinstance(switched, Switched)
        self._check_synced(chain, switched, syncer)
        for attacker in attackers:
            yield attacker.lost
            self.assertTrue(switch.is_banned(attacker.node_id))
            self.assertNotIn(attacker.node_id, [p.id for p in switch.peers])
        self._check_honest_kept(honest)
        return chain, attackers

    def _check_honest_kept(self, honest: Any) -> None:
        honest_id = honest.node_key.node_id
        self.assertFalse(self.syncer_switch.is_banned(honest_id))
        self.assertFalse(self.syncer.pool.is_peer_banned(honest_id))

    @defer.inlineCallbacks
    def test_flood_of_unsolicited_block_responses(self) -> Generator[Any, Any, None]:
        _, attacker = yield self._sync_under_attack(Flood)
        assert isinstance(attacker.behaviour, Flood)
        self.assertGreater(attacker.behaviour.sent, 0)
        self.assertGreater(self.syncer_switch.rejections.bans["unsolicited"], 0)

    @defer.inlineCallbacks
    def test_transaction_bomb(self) -> Generator[Any, Any, None]:
        _, attacker = yield self._sync_under_attack(lambda store: TxBomb(store, extra_txs=300_000))
        assert isinstance(attacker.behaviour, TxBomb)
        self.assertGreater(attacker.behaviour.bombs, 0)
        self.assertGreater(self.syncer_switch.rejections.bans["budget"], 0)

    @defer.inlineCallbacks
    def test_oversized_small_message(self) -> Generator[Any, Any, None]:
        yield self._sync_under_attack(lambda store: Padded(store, size=64 * 1024))
        self.assertGreater(self.syncer_switch.rejections.bans["oversized"], 0)

    @defer.inlineCallbacks
    def test_peer_lowering_its_height(self) -> Generator[Any, Any, None]:
        _, attacker = yield self._sync_under_attack(Lowering)
        assert isinstance(attacker.behaviour, Lowering)
        self.assertTrue(attacker.behaviour.lowered)
        self.assertTrue(self.syncer.pool.is_peer_banned(attacker.node_id))

    @defer.inlineCallbacks
    def test_mixed_liar_forger_and_flooder_at_once(self) -> Generator[Any, Any, None]:
        """Issue 13's mixed run: a liar claiming 10^9 that refuses the tip and above, a peer serving every
        block with a forged tx, and a flooder, next to one honest peer."""
        _, attackers = yield self._sync_under_attacks([Liar, Corrupt, Flood])
        liar, corrupt, flood = (attacker.behaviour for attacker in attackers)
        assert isinstance(liar, Liar) and isinstance(corrupt, Corrupt) and isinstance(flood, Flood)
        self.assertGreater(liar.refused, 0)
        self.assertGreater(corrupt.served, 0)
        self.assertGreater(flood.sent, 0)
        self.assertTrue(self.syncer.pool.is_peer_banned(attackers[0].node_id))  # its refusals, at the tip
        self.assertGreater(self.syncer_switch.rejections.bans["invalid_block"], 0)
        self.assertGreater(self.syncer_switch.rejections.bans["unsolicited"], 0)
