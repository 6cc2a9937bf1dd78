"""Attacks over real TCP + SecretConnection: a fresh node syncs the 500-block builder chain from one honest
cometsync peer while an attacker peer (tests/attack_peers.py) floods, bombs or pads; each time the sync
finishes with the chain's app hash and the attacker is disconnected and banned in the switch."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from e2e_harness import ServedChain, SyncHarness, address_of
from twisted.internet import defer

from cometsync.blocksync.handoff import Switched
from cometsync.state import State
from cometsync.testing.attack_peers import AttackPeer, Behaviour, Flood, Padded, TxBomb, connect_attacker


class AttacksEndToEnd(SyncHarness):
    @defer.inlineCallbacks
    def _sync_under_attack(
        self, make: type[Behaviour] | Any, seed: int = 50
    ) -> Generator[Any, Any, tuple[ServedChain, AttackPeer]]:
        chain = yield self._builder_chain()
        honest = self._server(2, chain)
        syncer, handoff, switch = yield self._syncer(chain.genesis)
        self.syncer, self.syncer_switch = syncer, switch
        port = int(switch.listen_addr.rsplit(":", 1)[1])
        attacker = AttackPeer(seed, chain.genesis.chain_id, switch.node_key.node_id, make(chain.store))
        connect_attacker(port, attacker)
        yield attacker.ready
        syncer.start()
        switch.dial_peers([address_of(honest)], persistent=False)
        switched = yield handoff.switched
        assert isinstance(switched, Switched)
        self._check_synced(chain, switched, syncer)
        yield attacker.lost
        self.assertTrue(switch.is_banned(attacker.node_id))
        self.assertNotIn(attacker.node_id, [p.id for p in switch.peers])
        self._check_honest_kept(honest)
        return chain, attacker

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


_ = State
