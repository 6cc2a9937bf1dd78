"""Issue 14's Commit-retried bug, over both transports with a recording proxy between client and app: the
app dies (SIGKILL) or stalls (SIGSTOP) between FinalizeBlock and Commit. Commit must never reach the
restarted app, the failure must be typed, and a stall is waited for unless a deadline is configured."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from abci_process import ServerProcess, start_kvstore, start_recording_app, temp_home
from abci_proxy import RecordingProxy
from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from cometsync.abci import ABCIConnectionLost, ABCITimeout
from cometsync.abci.connect import AppConns, open_connections
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2

STALL_SECONDS = 1.0


def wait_until(condition: Callable[[], bool], seconds: float = 20.0) -> defer.Deferred[None]:
    """Polls `condition` on the reactor every 10 ms, failing after `seconds`."""

    async def poll() -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {seconds:.0f}s")
            await task.deferLater(reactor, 0.01, lambda: None)

    return defer.ensureDeferred(poll())


class _NoResend(unittest.TestCase):
    transport = ""
    timeout = 120

    def start_app(self, home: Path) -> ServerProcess:
        app = start_kvstore(home, transport=self.transport)
        self.addCleanup(app.kill)
        self.addCleanup(app.thaw)
        return app

    @defer.inlineCallbacks
    def connect(self, proxy: RecordingProxy, **options: Any) -> Generator[defer.Deferred[Any], Any, AppConns]:
        conns = yield defer.ensureDeferred(open_connections(proxy.address, self.transport, **options))
        self.addCleanup(conns.close)
        return conns

    def lost(self, conns: AppConns) -> bool:
        """Has the consensus client noticed its connection is gone (socket: at once; gRPC: its channel)?"""
        client: Any = conns.consensus
        return bool(getattr(client, "error", None) or getattr(client, "connection_lost", False))

    @defer.inlineCallbacks
    def test_commit_is_not_resent_to_a_restarted_app(self) -> Generator[defer.Deferred[Any], Any, None]:
        home = temp_home(self.addCleanup)
        first = self.start_app(home)
        proxy = RecordingProxy(first.port)
        self.addCleanup(proxy.close)
        conns = yield self.connect(proxy)
        block = yield conns.finalize_block(abci_pb2.RequestFinalizeBlock(height=1, txs=[b"k=v"]))
        self.assertEqual(len(block.tx_results), 1)

        first.kill()  # between FinalizeBlock and Commit
        proxy.wait_all_closed(first.port)
        yield wait_until(lambda: self.lost(conns))
        log = home / "second.log"
        second = start_recording_app(self.transport, log)
        self.addCleanup(second.kill)
        proxy.upstream_port = second.port

        failure = yield self.assertFailure(conns.commit(abci_pb2.RequestCommit()), ABCIConnectionLost)
        self.assertIn("Commit", str(failure))
        later = yield self.assertFailure(
            conns.finalize_block(abci_pb2.RequestFinalizeBlock(height=2)), ABCIConnectionLost
        )
        self.assertIn("FinalizeBlock", str(later))
        yield self.after_loss(conns, log)
        received = log.read_text().split() if log.exists() else []
        self.assertNotIn("commit", received)
        self.assertNotIn("finalize_block", received)
        self.assertNotIn("commit", proxy.requests_to(second.port))

    def after_loss(self, conns: AppConns, log: Path) -> defer.Deferred[None]:
        raise NotImplementedError

    @defer.inlineCallbacks
    def test_stalled_commit_is_waited_for(self) -> Generator[defer.Deferred[Any], Any, None]:
        app = self.start_app(temp_home(self.addCleanup))
        proxy = RecordingProxy(app.port)
        self.addCleanup(proxy.close)
        conns = yield self.connect(proxy)
        yield conns.finalize_block(abci_pb2.RequestFinalizeBlock(height=1, txs=[b"k=v"]))
        app.freeze()
        commit = conns.commit(abci_pb2.RequestCommit())
        yield task.deferLater(reactor, STALL_SECONDS, lambda: None)
        self.assertFalse(commit.called)  # no deadline on the consensus connection by default
        app.thaw()
        yield commit
        info = yield conns.info(abci_pb2.RequestInfo())
        self.assertEqual(info.last_block_height, 1)

    @defer.inlineCallbacks
    def test_configured_consensus_deadline_fails_loudly(self) -> Generator[defer.Deferred[Any], Any, None]:
        app = self.start_app(temp_home(self.addCleanup))
        proxy = RecordingProxy(app.port)
        self.addCleanup(proxy.close)
        conns = yield self.connect(proxy, consensus_timeout=0.5)
        yield conns.finalize_block(abci_pb2.RequestFinalizeBlock(height=1, txs=[b"k=v"]))
        app.freeze()
        failure = yield self.assertFailure(conns.commit(abci_pb2.RequestCommit()), ABCITimeout)
        self.assertIn("Commit", str(failure))


class SocketNoResendTest(_NoResend):
    transport = "socket"

    @defer.inlineCallbacks
    def after_loss(self, conns: AppConns, log: Path) -> Generator[defer.Deferred[Any], Any, None]:
        """CometBFT's socket client never reconnects: a dead query connection stays dead too."""
        yield self.assertFailure(conns.info(abci_pb2.RequestInfo()), ABCIConnectionLost)
        self.assertFalse(log.exists() and log.read_text())


class GrpcNoResendTest(_NoResend):
    transport = "grpc"

    @defer.inlineCallbacks
    def after_loss(self, conns: AppConns, log: Path) -> Generator[defer.Deferred[Any], Any, None]:
        """Info is safe to repeat: it retries and reaches the restarted app through the same proxy."""
        info = yield conns.info(abci_pb2.RequestInfo())
        self.assertEqual(info.last_block_height, 0)
        self.assertIn("info", log.read_text().split())


del _NoResend
