"""`benchmarks/cometbft_peer.py`: serving peers that flush like CometBFT (real TCP on 127.0.0.1), and the
genesis and config.toml handed to CometBFT's own syncer describing the very chain cometsync syncs."""

from __future__ import annotations

import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

from test_p2p_switch import ECHO, FAST, NETWORK, EchoReactor
from twisted.internet import defer, reactor
from twisted.trial import unittest

from cometsync.crypto import PrivKey
from cometsync.crypto.keyfiles import NodeKey
from cometsync.p2p.switch import Switch, SwitchConfig
from cometsync.testing import DevnetSpec
from cometsync.types import Genesis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from cometbft_peer import CometBFTLikeReactor, genesis_json, set_toml_key

THROTTLE = 0.4


def _node(seed: int, throttle: float | None = None) -> tuple[Switch, EchoReactor]:
    clock: Any = reactor if throttle is None else CometBFTLikeReactor(reactor, throttle)
    key = NodeKey(PrivKey(bytes([seed]) * 32))
    switch = Switch(key, NETWORK, f"n{seed}", SwitchConfig(mconn=FAST), clock)
    echo = EchoReactor()
    switch.add_reactor("echo", echo)
    return switch, echo


class FlushThrottleTest(unittest.TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def connected(self, throttle: float | None) -> Generator[Any, Any, tuple[EchoReactor, Any]]:
        server, _ = _node(31, throttle)
        client, echo = _node(32)
        port = server.listen("127.0.0.1", 0)
        self.addCleanup(server.stop)
        self.addCleanup(client.stop)
        client.dial_peers([f"{server.node_key.node_id}@127.0.0.1:{port}"], persistent=False)
        yield echo.when(lambda: len(client.peers) == 1)
        return echo, client.peers[0]

    @defer.inlineCallbacks
    def round_trip(self, echo: EchoReactor, peer: Any, payload: bytes) -> Generator[Any, Any, float]:
        count = len(echo.received)
        began = time.monotonic()
        self.assertTrue(peer.send(ECHO, b"ping:" + payload))
        yield echo.when(lambda: len(echo.received) > count)
        self.assertEqual(echo.received[-1][1], b"pong:" + payload)
        return time.monotonic() - began

    @defer.inlineCallbacks
    def test_a_small_answer_waits_for_the_flush_throttle(self) -> Generator[Any, Any, None]:
        echo, peer = yield self.connected(THROTTLE)
        for _ in range(2):
            waited = yield self.round_trip(echo, peer, b"small")
            self.assertGreaterEqual(waited, THROTTLE)

    @defer.inlineCallbacks
    def test_no_throttle_leaves_the_switch_as_it_is(self) -> Generator[Any, Any, None]:
        echo, peer = yield self.connected(0.0)
        yield self.round_trip(echo, peer, b"small")


def test_cometbfts_genesis_is_the_benchmark_chains_genesis() -> None:
    genesis = DevnetSpec(chain_id="bench-100v", powers=(10,) * 100).genesis()
    parsed = Genesis.from_json(genesis_json(genesis))
    assert parsed.chain_id == genesis.chain_id and parsed.genesis_time == genesis.genesis_time
    assert parsed.initial_height == genesis.initial_height
    assert parsed.consensus_params == genesis.consensus_params
    assert parsed.validator_set().hash() == genesis.validator_set().hash()
    assert parsed.validator_set().proposer == genesis.validator_set().proposer


def test_config_keys_are_replaced_inside_their_section_only() -> None:
    text = 'proxy_app = "tcp://127.0.0.1:26658"\n[rpc]\nladdr = "tcp://127.0.0.1:26657"\n[p2p]\nladdr = "x"\n'
    changed = set_toml_key(set_toml_key(text, "p2p", "laddr", '"y"'), "", "proxy_app", '"kvstore"')
    assert changed == 'proxy_app = "kvstore"\n[rpc]\nladdr = "tcp://127.0.0.1:26657"\n[p2p]\nladdr = "y"\n'
    try:
        set_toml_key(text, "mempool", "size", "1")
    except ValueError as err:
        assert "no size in [mempool]" in str(err)
    else:
        raise AssertionError("a missing key must be reported")
