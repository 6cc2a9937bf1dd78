"""Entry point of the built-in kvstore app's child process: detached from the terminal, tied to its node.

Its own session keeps a terminal's Ctrl-C away from it (the node stops the app last, once the block being
applied is committed); the parent-death signal makes it stop cleanly, releasing its port and LevelDB lock,
when the node is killed outright (SIGKILL, OOM killer) and never gets to stop it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

PARENT_PID_ENV = "COMETSYNC_NODE_PID"
PR_SET_PDEATHSIG = 1


def _stop_when_parent_dies(parent_pid: int) -> None:
    """Linux only (prctl); elsewhere the app outlives a killed node, as CometBFT's own apps do."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return
    if os.getppid() != parent_pid:  # the node died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def main(home: str, listen: str, transport: str = "socket") -> None:
    """Serve the kvstore under `home` on `listen` over `transport` (the node passes all three), exiting
    with its status."""
    os.setsid()
    parent = os.environ.get(PARENT_PID_ENV, "")
    if parent.isdigit():
        _stop_when_parent_dies(int(parent))
    from cometsync.abci.kvstore.serve import main_with_errors

    sys.exit(main_with_errors(Path(home), listen, transport=transport))
