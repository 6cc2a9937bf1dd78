"""What takes over once blocksync is done: the hand-off interface (consensus engines plug in here)."""

from cometsync.consensus.handoff import ConsensusHandoff, DeferredHandoff, Switched

__all__ = ["ConsensusHandoff", "DeferredHandoff", "Switched"]
