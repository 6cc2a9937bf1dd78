"""The node's single seam to its consensus engine: look it up by name, and hear about the hand-off."""

from __future__ import annotations

from collections.abc import Callable

from cometsync.consensus.engine import ConsensusEngine, EngineError, NodeContext, load_engine
from cometsync.node.errors import NodeStartError
from cometsync.state import State


def build_engine(name: str, context: NodeContext) -> ConsensusEngine:
    """The engine registered as `name` (entry-point group `cometsync.consensus`), built on `context`."""
    try:
        return load_engine(name)(context)
    except EngineError as exc:
        raise NodeStartError(str(exc)) from None


class NotifyingHandoff:
    """Blocksync's hand-off target: passes the state to the engine, then tells the node (for its logs)."""

    def __init__(self, engine: ConsensusEngine, on_switch: Callable[[int], None]) -> None:
        self.engine = engine
        self._on_switch = on_switch

    def switch_to_consensus(self, state: State, blocks_synced: int) -> None:
        self.engine.switch_to_consensus(state, blocks_synced)
        self._on_switch(blocks_synced)
