"""Children that must not outlive their node: Linux's parent-death signal (`prctl(PR_SET_PDEATHSIG)`).

A node killed outright (SIGKILL, the OOM killer) never gets to stop its kvstore app or its verify workers;
with this the kernel signals them as their parent exits, so no orphan keeps a port, a LevelDB lock or a CPU.
"""

from __future__ import annotations

import ctypes
import os
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, signum: int) -> None:
    """Get `signum` when the parent exits; sent at once if `parent_pid` died before the request took effect.

    Linux only; elsewhere a child outlives a killed node, as CometBFT's own apps do.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        return
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signum)
