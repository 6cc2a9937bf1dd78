"""Start-up failures a user can cause (bad config, app unreachable, port in use, locked or corrupt data,
genesis mismatch), each carrying the one line the CLI prints instead of a traceback.
"""

from __future__ import annotations


class NodeStartError(Exception):
    """The node cannot start; `str(error)` is a complete, user-facing sentence."""
