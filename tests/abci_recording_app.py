"""Test-only ABCI app: CometBFT's kvstore (in memory) over the given transport, appending the name of every
method it is called with to a log file, so a test can prove what reached a restarted app."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

from cometsync.abci.kvstore.app import KVStoreApp
from cometsync.abci.kvstore.serve import STOP_SIGNALS, announce_ready, server_for
from cometsync.abci.kvstore.store import MemoryStorage


class RecordingApp:
    """Delegates every call to the kvstore, logging its method name first (flushed at once)."""

    def __init__(self, app: KVStoreApp, log: Path) -> None:
        self._app = app
        self._log = log.open("a", buffering=1)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._app, name)

        def recorded(request: Any) -> Any:
            self._log.write(f"{name}\n")
            return method(request)

        return recorded


def main(transport: str, log: str) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    server = server_for(transport, "127.0.0.1:0")
    announce_ready(server.start(RecordingApp(KVStoreApp(MemoryStorage()), Path(log))))  # type: ignore[arg-type]
    signal.sigwait(STOP_SIGNALS)
    server.stop(1.0)


if __name__ == "__main__":
    main(*sys.argv[1:])
