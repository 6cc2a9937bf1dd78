"""CometBFT v0.38 state: the State, its LevelDB store, block validation, execution and the app handshake."""

from cometsync.state.app_conn import ConsensusApp, ReplayedResponseApp
from cometsync.state.errors import (
    AppAheadOfStore,
    AppHashMismatch,
    HandshakeError,
    InvalidABCIResponse,
    InvalidBlockForState,
    StateError,
)
from cometsync.state.executor import BlockExecutor
from cometsync.state.handshake import Handshaker
from cometsync.state.state import State
from cometsync.state.store import StateStore
from cometsync.state.validation import median_time, validate_block

__all__ = [
    "AppAheadOfStore",
    "AppHashMismatch",
    "BlockExecutor",
    "ConsensusApp",
    "HandshakeError",
    "Handshaker",
    "InvalidABCIResponse",
    "InvalidBlockForState",
    "ReplayedResponseApp",
    "State",
    "StateError",
    "StateStore",
    "median_time",
    "validate_block",
]
