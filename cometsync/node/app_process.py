"""The built-in kvstore app as a child process (`proxy_app = "kvstore"`): spawn it, wait for its ready
line, and terminate it on shutdown or when the node fails to start.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from twisted.internet import defer, error, protocol
from twisted.python.failure import Failure

from cometsync.abci.kvstore.serve import READY_PREFIX
from cometsync.node.app_child import PARENT_PID_ENV
from cometsync.node.errors import NodeStartError
from cometsync.node.reactor_types import NodeReactor, ProcessTransport, reactor_time

CHILD_MAIN = "import sys; from cometsync.node.app_child import main; main(*sys.argv[1:])"
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
MAX_LINE_BYTES = 64 * 1024


class _KVStoreProtocol(protocol.ProcessProtocol):
    """Reads the child's output line by line; fires `ready` with its address and `ended` on exit."""

    def __init__(self) -> None:
        self.ready: defer.Deferred[str] = defer.Deferred()
        self.ended: defer.Deferred[None] = defer.Deferred()
        self.last_error = ""
        self._stdout = b""
        self._stderr = b""

    def outReceived(self, data: bytes) -> None:
        self._stdout = (self._stdout + data)[-MAX_LINE_BYTES:]
        while b"\n" in self._stdout:
            line, self._stdout = self._stdout.split(b"\n", 1)
            text = line.decode(errors="replace").strip()
            if text.startswith(READY_PREFIX) and not self.ready.called:
                self.ready.callback(text[len(READY_PREFIX) :])

    def errReceived(self, data: bytes) -> None:
        self._stderr = (self._stderr + data)[-MAX_LINE_BYTES:]
        lines = [line.strip() for line in self._stderr.decode(errors="replace").splitlines() if line.strip()]
        if lines:
            self.last_error = lines[-1].removeprefix("error: ")

    def processEnded(self, reason: Failure) -> None:
        if not self.ready.called:
            detail = self.last_error or f"it exited ({reason.value})"
            self.ready.errback(NodeStartError(f"the built-in kvstore app could not start: {detail}"))
        self.ended.callback(None)


class KVStoreProcess:
    """`cometsync kvstore --home HOME --listen LADDR --abci TRANSPORT` in a child of this node's process."""

    def __init__(self, home: Path, listen: str, reactor: NodeReactor, transport: str = "socket") -> None:
        self._reactor = reactor
        self._home = home
        self._listen = listen
        self._transport_name = transport
        self._protocol = _KVStoreProtocol()
        self._transport: ProcessTransport | None = None
        self.address = ""

    def start(self) -> defer.Deferred[str]:
        """Spawn the child; fires with its address once it accepts calls (`grpc://host:port` for gRPC,
        `tcp://host:port` or `unix://path` for the socket transport)."""
        argv = [
            sys.executable,
            "-c",
            CHILD_MAIN,
            str(self._home),
            self._listen,
            self._transport_name,
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", PARENT_PID_ENV: str(os.getpid())}
        self._transport = self._reactor.spawnProcess(self._protocol, sys.executable, argv, env=env)
        ready = self._protocol.ready
        ready.addTimeout(READY_TIMEOUT_SECONDS, reactor_time(self._reactor))

        def announced(address: str) -> str:
            scheme = "grpc" if self._transport_name == "grpc" else "tcp"
            self.address = address if address.startswith("unix:") else f"{scheme}://{address}"
            return self.address

        def timed_out(failure: Failure) -> Failure:
            if isinstance(failure.value, defer.TimeoutError):
                message = f"the built-in kvstore app did not report ready within {READY_TIMEOUT_SECONDS:.0f}s"
                raise NodeStartError(message)
            return failure

        return ready.addCallbacks(announced, timed_out)

    @property
    def running(self) -> bool:
        return self._transport is not None and not self._protocol.ended.called

    def stop(self) -> defer.Deferred[None]:
        """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_SECONDS; fires once it is gone."""
        if not self.running:
            return defer.succeed(None)
        self._signal(signal.SIGTERM)
        ended = self._protocol.ended
        kill = self._reactor.callLater(STOP_TIMEOUT_SECONDS, self._signal, signal.SIGKILL)

        def cancel_kill(result: None) -> None:
            if kill.active():
                kill.cancel()

        return ended.addBoth(cancel_kill)

    def _signal(self, signum: int) -> None:
        if self.running and self._transport is not None:
            try:
                self._transport.signalProcess(signum)
            except (OSError, error.ProcessExitedAlready):
                return
