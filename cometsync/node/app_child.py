"""Entry point of the built-in kvstore app's child process: detached from the terminal, tied to its node.

Its own session keeps a terminal's Ctrl-C away from it (the node stops the app last, once the block being
applied is committed); the parent-death signal makes it stop cleanly, releasing its port and LevelDB lock,
when the node is killed outright (SIGKILL, OOM killer) and never gets to stop it.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from cometsync.node.parent_death import die_with_parent

PARENT_PID_ENV = "COMETSYNC_NODE_PID"


def main(home: str, listen: str, transport: str = "socket") -> None:
    """Serve the kvstore under `home` on `listen` over `transport` (the node passes all three), exiting
    with its status."""
    os.setsid()
    parent = os.environ.get(PARENT_PID_ENV, "")
    if parent.isdigit():
        die_with_parent(int(parent), signal.SIGTERM)
    from cometsync.abci.kvstore.serve import main_with_errors

    sys.exit(main_with_errors(Path(home), listen, transport=transport))
