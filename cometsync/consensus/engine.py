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
    """The ABCI connection as engines use it (`cometsync.abci.client.GrpcABCIClient` satisfies it)."""


@dataclass
class NodeContext:
    """Everything a node hands its consensus engine.

    The blocksync reactor needs the engine as its hand-off, so a node builds the engine first and fills
    in `blocksync` before calling the engine's `start()`.
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
        """Called once the node is wired (before blocksync starts); raise EngineError to refuse."""

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


EngineFactory = Callable[[NodeContext], ConsensusEngine]


def load_engine(name: str) -> EngineFactory:
    """The engine factory registered as `name` (see `cometsync.plugins`)."""
    return cast(EngineFactory, load_factory(name))
