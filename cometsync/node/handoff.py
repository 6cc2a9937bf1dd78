"""The node's seam to its consensus engine: look it up by name, build it, and pass it blocksync's hand-off."""

from __future__ import annotations

from collections.abc import Callable

from twisted.python.failure import Failure

from cometsync.blocksync.handoff import DeferredHandoff, Switched
from cometsync.consensus.engine import ConsensusEngine, EngineError, EngineFactory, NodeContext, load_engine
from cometsync.node.errors import NodeStartError
from cometsync.state import State


def load_engine_factory(name: str) -> EngineFactory:
    """The engine registered as `name` (entry-point group `cometsync.consensus`)."""
    try:
        return load_engine(name)
    except EngineError as exc:
        raise NodeStartError(str(exc)) from None


def build_engine(factory: EngineFactory, context: NodeContext) -> ConsensusEngine:
    try:
        return factory(context)
    except EngineError as exc:
        raise NodeStartError(str(exc)) from None


def start_engine(engine: ConsensusEngine) -> None:
    try:
        engine.start()
    except EngineError as exc:
        raise NodeStartError(str(exc)) from None


def connect_engine(
    handoff: DeferredHandoff[State],
    engine: ConsensusEngine,
    on_switch: Callable[[int], None],
    on_refused: Callable[[str], None],
) -> None:
    """At the switch the engine gets the state, then the node hears of it; an engine that raises there
    (e.g. `solo` without enough signing power) fails the node instead of leaving it idle."""

    def switched(result: Switched[State]) -> None:
        engine.switch_to_consensus(result.state, result.blocks_synced)
        on_switch(result.blocks_synced)

    def refused(failure: Failure) -> None:
        on_refused(f"the consensus engine refused the hand-off: {failure.getErrorMessage()}")

    handoff.switched.addCallback(switched).addErrback(refused)
