"""Assemble a node from one `Config` and what the start-up stages opened: every part built, none started.

The result is a frozen `NodeParts`; `Node` then starts the parts in order. Blocksync hands off through a
`DeferredHandoff`, so it and the switch exist before the engine, whose `NodeContext` is complete when built.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

from cometsync.abci.connect import AppConns
from cometsync.blocksync.handoff import DeferredHandoff
from cometsync.blocksync.phase import Phase
from cometsync.blocksync.reactor import BlocksyncReactor, ReactorConfig
from cometsync.config import Config
from cometsync.consensus.choice import decide_engine
from cometsync.consensus.engine import ConsensusEngine, NodeContext
from cometsync.mempool import Mempool
from cometsync.metrics import BlocksyncMetrics
from cometsync.metrics.p2p import register_p2p_metrics
from cometsync.node.handoff import build_engine, load_engine_factory
from cometsync.node.progress import ProgressSnapshot, measure
from cometsync.node.reactor_types import NodeReactor
from cometsync.node.stages import Identity
from cometsync.p2p.mconnection import MConnConfig
from cometsync.p2p.switch import Switch, SwitchConfig
from cometsync.pool import PoolConfig
from cometsync.rpc import BlocksyncView, RPCEnvironment, SyncProgress
from cometsync.state import BlockExecutor, State, StateStore
from cometsync.store import BlockStore
from cometsync.store.blocking import run_in_thread


@dataclass(frozen=True)
class NodeParts:
    """Every component of one node, wired together and not yet started."""

    config: Config
    reactor: NodeReactor
    identity: Identity
    block_store: BlockStore
    state_store: StateStore
    app: AppConns
    executor: BlockExecutor
    mempool: Mempool | None
    blocksync: BlocksyncReactor[State]
    handoff: DeferredHandoff[State]
    switch: Switch
    engine: ConsensusEngine
    progress: SyncProgress
    rpc: RPCEnvironment
    metrics: BlocksyncMetrics

    @property
    def state(self) -> State:
        return live_state(self.engine, self.blocksync)

    @property
    def phase(self) -> str:
        """What the progress lines call the node's phase: blocksync, the engine's name, failed or stopped."""
        phase = self.blocksync.phase
        if phase.handed_off:
            return self.config.cometsync.consensus_engine
        if phase in (Phase.FAILED, Phase.STOPPED):
            return phase.name.lower()
        return "blocksync"

    def progress_snapshot(self) -> ProgressSnapshot:
        height = self.state.last_block_height
        pool = self.blocksync.pool
        target = pool.status().max_peer_height if pool.is_running else height
        now = self.reactor.seconds()
        return measure(self.progress, now, self.phase, height, target, len(self.switch.peers))


def build_node(
    config: Config,
    reactor: NodeReactor,
    identity: Identity,
    block_store: BlockStore,
    state_store: StateStore,
    app: AppConns,
    state: State,
    verify_executor: Executor | None,
) -> NodeParts:
    """Raises NodeStartError when the configured engine cannot be found or built."""
    chosen = decide_engine(config.cometsync.consensus_engine, state, identity.validator_key)
    config.override("cometsync.consensus_engine", chosen)  # "auto" resolved: logs and RPC show the engine
    factory = load_engine_factory(chosen)
    executor = BlockExecutor(  # block writes off the reactor thread
        state_store, block_store, app, run_in_thread(reactor), pipeline_commit=app.answers_in_order
    )
    mempool = Mempool(app, height=state.last_block_height) if factory.needs_mempool else None
    handoff: DeferredHandoff[State] = DeferredHandoff()
    validator = identity.validator_key
    blocksync = BlocksyncReactor(
        state,
        block_store,
        executor,
        handoff,
        reactor,
        local_address=validator.address if validator else None,
        verify_executor=verify_executor,
        call_from_thread=reactor.callFromThread,
        config=ReactorConfig(pool=_pool_config(config)),
    )
    switch = Switch(identity.node_key, state.chain_id, config.base.moniker, _switch_config(config), reactor)
    switch.add_reactor("BLOCKSYNC", blocksync)
    context = NodeContext(
        clock=reactor,
        config=config,
        genesis=identity.genesis,
        state_store=state_store,
        block_store=block_store,
        executor=executor,
        app=app,
        mempool=mempool,
        priv_validator=validator,
        blocksync=blocksync,
        switch=switch,
    )
    engine = build_engine(factory, context)
    progress = SyncProgress()
    rpc = RPCEnvironment(
        block_store=block_store,
        state_store=state_store,
        node_info=lambda: switch.node_info,
        peers=lambda: switch.peers,
        catching_up=lambda: blocksync.phase.catching_up,
        failure=lambda: str(blocksync.failure) if blocksync.failure is not None else None,
        abci=app,
        clock=reactor,
        mempool=mempool,
        validator_pub_key=validator.pub_key.key if validator else None,
        blocksync=BlocksyncView(blocksync.pool, progress, blocksync.metrics),
        state=lambda: live_state(engine, blocksync),
    )
    metrics = BlocksyncMetrics(
        identity.genesis.chain_id,
        blocksync.metrics,
        reactor,
        pool=blocksync.pool,
        progress=progress,
        namespace=config.instrumentation.namespace,
    )
    register_p2p_metrics(metrics.registry, switch.rejections, identity.genesis.chain_id)
    return NodeParts(
        config=config,
        reactor=reactor,
        identity=identity,
        block_store=block_store,
        state_store=state_store,
        app=app,
        executor=executor,
        mempool=mempool,
        blocksync=blocksync,
        handoff=handoff,
        switch=switch,
        engine=engine,
        progress=progress,
        rpc=rpc,
        metrics=metrics,
    )


def _pool_config(config: Config) -> PoolConfig:
    return PoolConfig(
        window_bytes=config.cometsync.window_bytes,
        max_pending_per_peer=config.cometsync.max_pending_per_peer,
    )


def _switch_config(config: Config) -> SwitchConfig:
    p2p = config.p2p
    max_dial = p2p.persistent_peers_max_dial_period.seconds
    return SwitchConfig(
        max_inbound=p2p.max_num_inbound_peers,
        handshake_timeout=p2p.handshake_timeout.seconds,
        dial_timeout=p2p.dial_timeout.seconds,
        redial_max=max_dial if max_dial > 0 else SwitchConfig.redial_max,
        mconn=MConnConfig(
            send_rate=p2p.send_rate,
            recv_rate=p2p.recv_rate,
            max_packet_msg_payload_size=p2p.max_packet_msg_payload_size,
            flush_throttle=p2p.flush_throttle_timeout.seconds,
        ),
    )


def live_state(engine: ConsensusEngine, blocksync: BlocksyncReactor[State]) -> State:
    """The latest state: the engine's once it took over, else blocksync's."""
    engine_state = engine.last_state
    return engine_state if engine_state is not None else blocksync.state
