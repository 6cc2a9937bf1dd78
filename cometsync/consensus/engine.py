"""The consensus-engine plug-in contract: what a node gives an engine and what it expects back.

Engines are found through the entry-point group `cometsync.consensus` (name -> factory), so a third party
ships its own engine as an installed distribution and selects it with `[cometsync] consensus_engine`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

from twisted.internet import defer

from cometsync.blocksync.handoff import ConsensusHandoff
from cometsync.clock import Clock
from cometsync.consensus.block_step import ProducerApp
from cometsync.plugins import ENTRY_POINT_GROUP, EngineError, available_engines, load_factory
from cometsync.state import BlockExecutor, State, StateStore
from cometsync.store import BlockStore
from cometsync.types import Genesis

if TYPE_CHECKING:
    from cometsync.blocksync.reactor import BlocksyncReactor
    from cometsync.config import Config
    from cometsync.crypto.keyfiles import PrivValidatorKey
    from cometsync.mempool import Mempool
    from cometsync.p2p.switch import Switch

__all__ = [
    "ENTRY_POINT_GROUP",
    "ConsensusEngine",
    "EngineApp",
    "EngineError",
    "EngineFactory",
    "NodeContext",
    "available_engines",
    "load_engine",
]


class EngineApp(ProducerApp, Protocol):
    """The ABCI connection as engines use it (both ABCI clients and `abci.connect.AppConns` satisfy it)."""


@dataclass(frozen=True)
class NodeContext:
    """Everything a node hands its consensus engine, complete when the engine is built.

    A node builds blocksync and the switch first (blocksync hands off through a `DeferredHandoff` the node
    connects to the engine), so `blocksync` and `switch` are only None outside a node (engine tests).
    """

    clock: Clock
    config: Config
    genesis: Genesis
    state_store: StateStore
    block_store: BlockStore
    executor: BlockExecutor
    app: EngineApp
    mempool: Mempool | None = None
    priv_validator: PrivValidatorKey | None = None
    blocksync: BlocksyncReactor[State] | None = None
    switch: Switch | None = None


class ConsensusEngine(ConsensusHandoff[State], Protocol):
    """What runs after blocksync: started with the node, told the state at the switch, stopped last."""

    def start(self) -> None:
        """Called once the node is built (before p2p and blocksync start); raise EngineError to refuse."""

    def stop(self) -> defer.Deferred[None]:
        """Fires once no more blocks are being produced or applied by the engine."""

    def status(self) -> dict[str, object]:
        """A JSON-ready view for RPC and logs (always includes "engine" and "height")."""

    @property
    def last_state(self) -> State | None:
        """The state after the last block the engine knows applied (None before the switch)."""

    @property
    def height(self) -> int:
        """Height of the last applied block as the engine sees it."""


@dataclass(frozen=True)
class EngineFactory:
    """An engine's entry point: how to build it, and what the node must provide for it.

    A plain callable registered in the entry-point group still works: it gets the defaults below.
    """

    build: Callable[[NodeContext], ConsensusEngine]
    needs_mempool: bool = True
    """False for engines that never reap or update a mempool: RPC broadcasts then only run CheckTx."""

    def __call__(self, ctx: NodeContext) -> ConsensusEngine:
        return self.build(ctx)


def load_engine(name: str) -> EngineFactory:
    """The engine factory registered as `name` (see `cometsync.plugins`)."""
    factory = load_factory(name)
    if isinstance(factory, EngineFactory):
        return factory
    return EngineFactory(cast(Callable[[NodeContext], ConsensusEngine], factory))
