"""The node: everything `cometsync start` runs, assembled from one `Config` in one place.

Start order: keys and genesis, stores, the app (child kvstore or `proxy_app`), the handshake, then the
blocksync reactor on a p2p switch, RPC and metrics, and the consensus engine it hands off to. Any failure
a user can cause becomes a `NodeStartError` after whatever was already started has been stopped again.
"""

from __future__ import annotations

import errno
import logging
import multiprocessing
import signal
import sys
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any, TextIO

from twisted.internet import defer
from twisted.internet.error import CannotListenError

from cometsync.abci import ABCIError, GrpcABCIClient, RetryPolicy
from cometsync.blocksync.reactor import BlocksyncReactor, ReactorConfig
from cometsync.config import Config, HomeError, load_genesis
from cometsync.consensus.engine import ConsensusEngine, EngineError, NodeContext
from cometsync.crypto import KeyFileError, NodeKey, PrivValidatorKey, load_node_key, load_priv_validator_key
from cometsync.mempool import Mempool
from cometsync.metrics import BlocksyncMetrics, listen_metrics
from cometsync.metrics.p2p import register_p2p_metrics
from cometsync.node.app_process import KVStoreProcess
from cometsync.node.errors import NodeStartError
from cometsync.node.handoff import NotifyingHandoff, build_engine
from cometsync.node.progress import ProgressReporter, ProgressSnapshot, measure
from cometsync.p2p.mconnection import MConnConfig
from cometsync.p2p.switch import Switch, SwitchConfig
from cometsync.pool import PoolConfig
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.rpc import BlocksyncView, ListenAddress, RPCEnvironment, SyncProgress, listen_rpc
from cometsync.state import BlockExecutor, HandshakeError, Handshaker, State, StateError, StateStore
from cometsync.store import BlockStore, StoreError
from cometsync.types import Genesis

log = logging.getLogger(__name__)

BLOCKSTORE_DB = "blockstore.db"
STATE_DB = "state.db"
APP_PROBE_BUDGET_SECONDS = 5.0
BUILTIN_APP = "kvstore"
APPLY_DRAIN_SECONDS = 30.0
ENGINE_STOP_SECONDS = 30.0
P2P_STOP_SECONDS = 10.0
APP_STOP_SECONDS = 15.0
"""Longer than the child's own SIGTERM-then-SIGKILL delay (`app_process.STOP_TIMEOUT_SECONDS`)."""
ENGINES_WITHOUT_MEMPOOL = frozenset({"follow"})
"""Engines that never reap or update a mempool: their RPC broadcasts only run the app's CheckTx."""


class Node:
    """One cometsync node. `start()` fires once everything listens and blocksync runs; `stop()` undoes
    it all in reverse (p2p, reactor, engine, RPC, ABCI client, LevelDB, kvstore child).
    """

    def __init__(self, config: Config, *, reactor: Any = None, out: TextIO | None = None, tty: bool = False):
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self.config = config
        self.reactor = reactor
        self._out = out
        self._tty = tty
        self.genesis: Genesis | None = None
        self.node_key: NodeKey | None = None
        self.validator_key: PrivValidatorKey | None = None
        self.block_store: BlockStore | None = None
        self.state_store: StateStore | None = None
        self.app_process: KVStoreProcess | None = None
        self.app: GrpcABCIClient | None = None
        self.blocksync: BlocksyncReactor[State] | None = None
        self.switch: Switch | None = None
        self.engine: ConsensusEngine | None = None
        self.mempool: Mempool | None = None
        self.progress = SyncProgress()
        self.reporter: ProgressReporter | None = None
        self.p2p_port = 0
        self.rpc_port = 0
        self.metrics_port = 0
        self._ports: list[Any] = []
        self._verify_pool: ProcessPoolExecutor | None = None
        self._stopping: defer.Deferred[None] | None = None

    # ------------------------------------------------------------------ start

    def start(self) -> defer.Deferred[None]:
        """Fires when the node runs; errbacks with NodeStartError (everything started is stopped again)."""

        def failed(failure: Any) -> Any:
            return self.stop().addBoth(lambda _: failure)

        return defer.ensureDeferred(self._start()).addErrback(failed)

    async def _start(self) -> None:
        self._load_identity()
        self._open_stores()
        await self._connect_app()
        state = await self._handshake()
        self._build_reactor(state)
        self._listen_p2p()
        self._listen_rpc()
        self._listen_metrics()
        self._start_reporter()
        assert self.switch is not None and self.blocksync is not None
        self.switch.dial_peers(_peer_list(self.config.p2p.persistent_peers))
        self.blocksync.start(blocksync=True)

    def _load_identity(self) -> None:
        config = self.config
        try:
            self.genesis = load_genesis(config.genesis_path)
            self.node_key = load_node_key(config.node_key_path)
            if config.priv_validator_key_path.exists():
                self.validator_key = load_priv_validator_key(config.priv_validator_key_path)
        except (HomeError, KeyFileError) as exc:
            raise NodeStartError(str(exc)) from None

    def _open_stores(self) -> None:
        data = self.config.db_path
        try:
            self.block_store = BlockStore.open(data / BLOCKSTORE_DB)
            self.state_store = StateStore.open(data / STATE_DB)
            stored = self.state_store.load()
        except StoreError as exc:
            raise NodeStartError(_data_dir_message(str(exc), data)) from None
        assert self.genesis is not None
        if stored is not None and stored.chain_id != self.genesis.chain_id:
            raise NodeStartError(
                f"genesis chain id {self.genesis.chain_id} does not match the stored state's "
                f"{stored.chain_id} (data in {data}); use the genesis this data was synced with, "
                "or a fresh data directory"
            )

    async def _connect_app(self) -> None:
        address = self.config.base.proxy_app
        if address == BUILTIN_APP:
            self.app_process = KVStoreProcess(
                self.config.home, self.config.cometsync.kvstore_laddr, self.reactor
            )
            address = await self.app_process.start()
        await _probe_app(address, self.reactor)
        self.app = GrpcABCIClient(address, reactor=self.reactor)

    async def _handshake(self) -> State:
        assert self.state_store and self.block_store and self.genesis and self.app
        handshaker = Handshaker(self.state_store, self.block_store, self.genesis, self.app)
        try:
            state = await handshaker.handshake()
        except HandshakeError as exc:
            raise NodeStartError(f"handshake with the app failed: {exc}") from None
        except (ABCIError, StateError, StoreError) as exc:
            raise NodeStartError(f"handshake with the app at {self.app.address} failed: {exc}") from None
        if handshaker.blocks_replayed:
            log.info("replayed %d stored blocks into the app", handshaker.blocks_replayed)
        return state

    def _build_reactor(self, state: State) -> None:
        """Engine first (blocksync hands off to it), then blocksync on a switch; the engine starts last."""
        assert self.state_store and self.block_store and self.app and self.node_key and self.genesis
        config = self.config
        executor = BlockExecutor(self.state_store, self.block_store, self.app)
        if config.cometsync.consensus_engine not in ENGINES_WITHOUT_MEMPOOL:
            self.mempool = Mempool(self.app, height=state.last_block_height)
        context = NodeContext(
            clock=self.reactor,
            config=config,
            genesis=self.genesis,
            state_store=self.state_store,
            block_store=self.block_store,
            executor=executor,
            app=self.app,
            mempool=self.mempool,
            priv_validator=self.validator_key,
        )
        self.engine = build_engine(config.cometsync.consensus_engine, context)
        pool = PoolConfig(
            window_bytes=config.cometsync.window_bytes,
            max_pending_per_peer=config.cometsync.max_pending_per_peer,
        )
        self.blocksync = BlocksyncReactor(
            state,
            self.block_store,
            executor,
            NotifyingHandoff(self.engine, self.handed_off),
            self.reactor,
            local_address=self.validator_key.address if self.validator_key else None,
            verify_executor=self._verify_executor(),
            call_from_thread=self.reactor.callFromThread,
            config=ReactorConfig(pool=pool),
        )
        self.switch = Switch(
            self.node_key, state.chain_id, config.base.moniker, _switch_config(config), self.reactor
        )
        self.switch.add_reactor("BLOCKSYNC", self.blocksync)
        context.blocksync = self.blocksync
        context.switch = self.switch
        try:
            self.engine.start()
        except EngineError as exc:
            raise NodeStartError(str(exc)) from None

    def _verify_executor(self) -> Executor | None:
        workers = self.config.cometsync.verify_workers
        if workers == 0:
            return None
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        self._verify_pool = ProcessPoolExecutor(workers, mp_context=context, initializer=ignore_interrupts)
        return self._verify_pool

    def _listen_p2p(self) -> None:
        assert self.switch is not None
        laddr = self.config.p2p.laddr
        address = ListenAddress.parse(laddr)
        self.p2p_port = _listen(
            lambda: self.switch.listen(address.host or "0.0.0.0", address.port),  # type: ignore[union-attr]
            "p2p.laddr",
            laddr,
        )
        external = self.config.p2p.external_address
        if external:
            self.switch.listen_addr = external if "://" in external else f"tcp://{external}"

    def _listen_rpc(self) -> None:
        laddr = self.config.rpc.laddr
        if not laddr:
            return
        port = _listen(lambda: listen_rpc(laddr, self._rpc_environment(), self.reactor), "rpc.laddr", laddr)
        self._ports.append(port)
        self.rpc_port = _bound_port(port)

    def _listen_metrics(self) -> None:
        instrumentation = self.config.instrumentation
        if not instrumentation.prometheus or not instrumentation.prometheus_listen_addr:
            return
        assert self.blocksync is not None and self.genesis is not None
        metrics = BlocksyncMetrics(
            self.genesis.chain_id,
            self.blocksync.metrics,
            self.reactor,
            pool=self.blocksync.pool,
            progress=self.progress,
            namespace=instrumentation.namespace,
        )
        assert self.switch is not None
        register_p2p_metrics(metrics.registry, self.switch.rejections, self.genesis.chain_id)
        laddr = instrumentation.prometheus_listen_addr
        port = _listen(lambda: listen_metrics(laddr, metrics, self.reactor), "prometheus_listen_addr", laddr)
        self._ports.append(port)
        self.metrics_port = _bound_port(port)

    def _rpc_environment(self) -> RPCEnvironment:
        assert self.block_store and self.state_store and self.app and self.switch and self.blocksync
        switch, blocksync = self.switch, self.blocksync
        return RPCEnvironment(
            block_store=self.block_store,
            state_store=self.state_store,
            node_info=lambda: switch.node_info,
            peers=lambda: switch.peers,
            catching_up=lambda: not blocksync.switched,
            abci=self.app,
            clock=self.reactor,
            mempool=self.mempool,
            validator_pub_key=self.validator_key.pub_key.key if self.validator_key else None,
            blocksync=BlocksyncView(blocksync.pool, self.progress, blocksync.metrics),
        )

    def _start_reporter(self) -> None:
        if self._out is None:
            return
        self.reporter = ProgressReporter(self, self._out, tty=self._tty, clock=self.reactor)
        self.reporter.start()

    # ------------------------------------------------------------------ reading

    @property
    def state(self) -> State | None:
        """The latest state: the engine's once it took over, else blocksync's."""
        if self.engine is not None and self.engine.last_state is not None:
            return self.engine.last_state
        return self.blocksync.state if self.blocksync is not None else None

    @property
    def phase(self) -> str:
        if self.blocksync is None or not self.blocksync.switched:
            return "blocksync"
        return self.config.cometsync.consensus_engine

    def progress_snapshot(self) -> ProgressSnapshot:
        state = self.state
        height = state.last_block_height if state is not None else 0
        target = height
        if self.blocksync is not None and self.blocksync.pool.is_running:
            target = self.blocksync.pool.status().max_peer_height
        peers = len(self.switch.peers) if self.switch is not None else 0
        return measure(self.progress, self.reactor.seconds(), self.phase, height, target, peers)

    def handed_off(self, blocks_synced: int) -> None:
        """Called by the engine adapter when blocksync hands over: one log line says so."""
        if self.reporter is not None:
            self.reporter.event(
                "handoff", engine=self.config.cometsync.consensus_engine, synced=blocks_synced
            )

    # ------------------------------------------------------------------ stop

    def stop(self) -> defer.Deferred[None]:
        """Idempotent clean shutdown; fires when every store is closed and the child app has exited."""
        if self._stopping is None:
            self._stopping = defer.ensureDeferred(self._stop())
            self._stopping.addErrback(lambda failure: log.error("shutdown: %s", failure.getErrorMessage()))
        waiter: defer.Deferred[None] = defer.Deferred()

        def relay(_: None) -> None:
            waiter.callback(None)

        self._stopping.addCallback(relay)
        return waiter

    async def _stop(self) -> None:
        """Every step is bounded: one that hangs is logged and skipped, so a signal always ends the node."""
        if self.reporter is not None:
            self.reporter.stop()
        if self.blocksync is not None:
            self.blocksync.stop()
        if self.engine is not None:
            await self._bounded(self.engine.stop(), ENGINE_STOP_SECONDS, "the consensus engine to stop")
        if self.switch is not None:
            await self._bounded(self.switch.stop(), P2P_STOP_SECONDS, "the p2p switch to stop")
        for port in self._ports:
            await self._bounded(defer.maybeDeferred(port.stopListening), P2P_STOP_SECONDS, "a listener")
        self._ports.clear()
        if self.blocksync is not None:
            await self._bounded(self.blocksync.loop.idle(), APPLY_DRAIN_SECONDS, "the block being applied")
        if self._verify_pool is not None:
            self._verify_pool.shutdown(wait=False, cancel_futures=True)
        if self.app is not None:
            self.app.close()
        for store in (self.block_store, self.state_store):
            if store is not None:
                store.close()
        if self.app_process is not None:
            await self._bounded(self.app_process.stop(), APP_STOP_SECONDS, "the kvstore app to exit")

    async def _bounded(self, step: defer.Deferred[Any], seconds: float, what: str) -> None:
        """Wait for `step` at most `seconds`; a failure or a timeout is logged, never raised."""
        try:
            await step.addTimeout(seconds, self.reactor)
        except defer.TimeoutError:
            log.warning("shutdown: gave up waiting for %s after %.0fs", what, seconds)
        except Exception as exc:
            log.warning("shutdown: %s failed: %s", what, exc)


def ignore_interrupts() -> None:
    """Verify workers share the node's process group: a terminal's Ctrl-C is the node's to handle, which
    then shuts the pool down (a worker would otherwise die with a KeyboardInterrupt traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


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


def _peer_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _listen(open_port: Callable[[], Any], key: str, laddr: str) -> Any:
    """Run a listen call; a busy or forbidden address becomes one line naming the config key."""
    try:
        return open_port()
    except CannotListenError as exc:
        cause = exc.socketError
        port = exc.port
        if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
            raise NodeStartError(f"port {port} is in use ({key} {laddr})") from None
        raise NodeStartError(f"cannot listen on {laddr} ({key}): {cause}") from None
    except (OSError, ValueError) as exc:
        raise NodeStartError(f"cannot listen on {laddr} ({key}): {exc}") from None


def _bound_port(port: Any) -> int:
    host = port.getHost()
    return int(getattr(host, "port", 0))


def _data_dir_message(reason: str, data: Any) -> str:
    if "locked" in reason:
        return f"data directory {data} is locked by another process: {reason}"
    return reason


async def _probe_app(address: str, reactor: Any) -> None:
    """One Echo with a short retry budget, so an unreachable app is reported in seconds, not minutes."""
    try:
        probe = GrpcABCIClient(
            address, reactor=reactor, retry=RetryPolicy(budget_seconds=APP_PROBE_BUDGET_SECONDS)
        )
    except ValueError as exc:
        raise NodeStartError(f"proxy_app {address!r}: {exc}") from None
    try:
        await probe.echo(abci_pb2.RequestEcho(message="cometsync"))
    except ABCIError as exc:
        raise NodeStartError(f"cannot reach the ABCI app at {address}: {exc}") from None
    finally:
        probe.close()


def default_out() -> tuple[TextIO, bool]:
    """Where progress goes when run from the CLI: stderr, live line only on a terminal."""
    return sys.stderr, sys.stderr.isatty()
