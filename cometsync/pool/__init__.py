"""Sans-IO block pool: which height to ask from which peer, when to drop a peer, when we are caught up."""

from cometsync.pool.actions import Action, PeerBanned, PeerError, RequestStatus, SendRequest
from cometsync.pool.config import PoolConfig
from cometsync.pool.pool import AddBlockOutcome, BlockPool, PoolError
from cometsync.pool.requester import HasHeight
from cometsync.pool.status import BanStatus, CaughtUp, PeerStatus, PoolStatus
from cometsync.pool.sync_tracker import SyncTracker

__all__ = [
    "Action",
    "AddBlockOutcome",
    "BanStatus",
    "BlockPool",
    "CaughtUp",
    "HasHeight",
    "PeerBanned",
    "PeerError",
    "PeerStatus",
    "PoolConfig",
    "PoolError",
    "PoolStatus",
    "RequestStatus",
    "SendRequest",
    "SyncTracker",
]
