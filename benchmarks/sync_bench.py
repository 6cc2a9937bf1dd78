"""Blocksync throughput end to end: a fresh node syncs an N-block devnet chain over TCP + SecretConnection.

Run: `python benchmarks/sync_bench.py [--blocks N --validators V --txs T --tx-size B --peers P
--verify-workers W --app {auto,cometsync,abci-cli} --abci {socket,grpc} --flush-throttle-ms F
--cometbft {auto,off}]`. The chain
is built once by `cometsync.testing.ChainBuilder` through the kvstore app and cached under
`benchmarks/.cache/`. A subprocess serves it from P Switches on 127.0.0.1 that flush like CometBFT v0.38
peers (100 ms flush throttle, 5 MB/s send rate); this process is the syncing node (default node settings:
[p2p] rates, pool with 20 requests in flight per peer, reactor) executing into a fresh kvstore: CometBFT's
own (`abci-cli kvstore`, when ABCI_CLI names it) or cometsync's, over the socket protocol or gRPC (the node's
four `AppConns` connections). A per-stage breakdown is timed
on the syncing node. Where COMETBFT_BIN names a CometBFT binary, CometBFT's own syncer then syncs the same
chain from the same servers and the ratio is printed. Afterwards the synced commits are verified in tight
loops (`verify_commit`, and ed25519-zebra alone on the same signatures), so the sync rate is also reported
as a ratio of the raw verification rate measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import ed25519_zebra
from cometbft_peer import CometBFTLikeReactor, CometBFTResult, cometbft_servers, run_cometbft_syncer
from sync_stages import StageClock, TimedApp, TimedExecutor, TimedStateStore, TimedStore, per_block_rows
from twisted.internet import defer, task

from cometsync.abci import GrpcABCIClient
from cometsync.abci.connect import AppConns, open_connections
from cometsync.blocksync.handoff import DeferredHandoff, Switched
from cometsync.blocksync.reactor import BlocksyncReactor
from cometsync.crypto import PrivKey
from cometsync.crypto.keyfiles import NodeKey
from cometsync.node.verify_pool import verify_pool
from cometsync.p2p.switch import Switch
from cometsync.pool import PoolConfig
from cometsync.state import BlockExecutor, Handshaker, State, StateStore
from cometsync.store import BlockStore
from cometsync.store.blocking import run_in_thread
from cometsync.store.db import PendingWrite
from cometsync.testing import BlockPlan, ChainBuilder, DevnetSpec, kvstore_txs
from cometsync.types import Block, BlockID, Commit, ValidatorSet

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "benchmarks" / ".cache"
READY_TIMEOUT_SECONDS = 60.0
SYNC_TIMEOUT_SECONDS = 600.0
SERVING = "serving "
KVSTORE_READY = " listening on "


@dataclass(frozen=True)
class ChainParams:
    """What a cached chain is keyed by."""

    blocks: int
    validators: int
    txs: int
    tx_size: int

    @property
    def spec(self) -> DevnetSpec:
        return DevnetSpec(chain_id=f"bench-{self.validators}v", powers=(10,) * self.validators)

    @property
    def folder(self) -> Path:
        return CACHE / f"chain-n{self.blocks}-v{self.validators}-t{self.txs}-b{self.tx_size}"

    def plan(self, height: int) -> BlockPlan:
        return BlockPlan(txs=kvstore_txs(height, self.txs, self.tx_size))


# ---------------------------------------------------------------------------------------- subprocesses


def python_argv(*args: str) -> list[str]:
    return [sys.executable, *args]


def start_process(argv: list[str], marker: str) -> tuple[subprocess.Popen[str], str]:
    """Start `argv` and return it with the rest of its first stdout line containing `marker`."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while (remaining := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([proc.stdout], [], [], remaining)
        line = proc.stdout.readline() if readable else ""
        if not line:
            break
        if marker in line:
            return proc, line.strip().split(marker, 1)[1]
    stop_process(proc)
    raise RuntimeError(f"{argv[1:3]} did not print {marker.strip()!r}")


def stop_process(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    if proc.stdout is not None:
        proc.stdout.close()


@contextmanager
def kvstore(home: Path, transport: str = "grpc") -> Iterator[str]:
    """CometBFT's kvstore (our `cometsync kvstore`) in a subprocess; yields its address."""
    argv = python_argv(
        "-c",
        "from cometsync.cli.main import main; main()",
        "kvstore",
        "--home",
        str(home),
        "--listen",
        "127.0.0.1:0",
        "--abci",
        transport,
    )
    proc, address = start_process(argv, KVSTORE_READY)
    try:
        yield address
    finally:
        stop_process(proc)


@contextmanager
def abci_cli_kvstore(binary: str, transport: str) -> Iterator[str]:
    """CometBFT's own kvstore (Go, in-memory like `proxy_app = "kvstore"`); yields its address."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    address = f"tcp://127.0.0.1:{port}"
    argv = [binary, "kvstore", "--abci", transport, "--address", address, "--log_level", "error"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                stop_process(proc)
                raise RuntimeError("abci-cli kvstore did not start listening") from None
            time.sleep(0.05)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(proc)


def app_kind(requested: str) -> str:
    if requested == "auto":
        return "abci-cli" if os.environ.get("ABCI_CLI") else "cometsync"
    if requested == "abci-cli" and not os.environ.get("ABCI_CLI"):
        raise SystemExit("--app abci-cli needs ABCI_CLI to name CometBFT's abci-cli binary")
    return requested


def application(kind: str, home: Path, transport: str) -> contextlib.AbstractContextManager[str]:
    """The syncing node's app process, serving `transport`; yields the address to dial."""
    if kind == "abci-cli":
        return abci_cli_kvstore(os.environ["ABCI_CLI"], transport)
    return kvstore(home, transport)


def open_stores(folder: Path) -> tuple[BlockStore, StateStore]:
    folder.mkdir(parents=True, exist_ok=True)
    return BlockStore.open(folder / "blockstore.db"), StateStore.open(folder / "state.db")


# ---------------------------------------------------------------------------------------- build (cached)


async def build_chain(params: ChainParams) -> None:
    """Produce the chain through a real kvstore into `params.folder`, marked complete only when done."""
    work = Path(tempfile.mkdtemp(prefix="cometsync-bench-build-"))
    try:
        with kvstore(work / "kvstore") as address:
            app = GrpcABCIClient(address)
            block_store, state_store = open_stores(work / "chain")
            try:
                spec = params.spec
                builder = ChainBuilder(spec.genesis(), spec.keys(), app, block_store, state_store)
                await builder.build(params.blocks, params.plan)
            finally:
                app.close()
                block_store.close()
                state_store.close()
        shutil.rmtree(params.folder, ignore_errors=True)
        shutil.move(work / "chain", params.folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------------------- serving process


class ServeOnlyExecutor:
    """A serving node never runs blocksync, so it never executes; being asked to is a bug."""

    def validate_block(self, state: State, block: Block, skip_last_commit: bool = False) -> None:
        raise RuntimeError("the serving node does not execute blocks")

    def execute_verified_block(
        self, state: State, block_id: BlockID, block: Block, block_write: PendingWrite | None = None
    ) -> defer.Deferred[State]:
        raise RuntimeError("the serving node does not execute blocks")

    def settled(self) -> defer.Deferred[None]:
        return defer.succeed(None)


class NoHandoff:
    def switch_to_consensus(self, state: State, blocks_synced: int) -> None:
        raise RuntimeError("the serving node does not sync")


async def serve(reactor: Any, folder: Path, peers: int, flush_throttle: float) -> None:
    """P nodes (own keys, one shared store) serve the chain until SIGTERM, flushing like CometBFT's."""
    block_store, state_store = open_stores(folder)
    state = state_store.load()
    assert state is not None
    addresses = []
    peer_reactor = CometBFTLikeReactor(reactor, flush_throttle)
    for seed in range(peers):
        served = BlocksyncReactor(state, block_store, ServeOnlyExecutor(), NoHandoff(), reactor)
        node_key = NodeKey(PrivKey(bytes([100 + seed]) * 32))
        switch = Switch(node_key, state.chain_id, f"server{seed}", reactor=peer_reactor)
        switch.add_reactor("BLOCKSYNC", served)
        port = switch.listen("127.0.0.1", 0)
        served.start(blocksync=False)
        addresses.append(f"{switch.node_key.node_id}@127.0.0.1:{port}")
    print(SERVING + ",".join(addresses), flush=True)
    stopped: defer.Deferred[None] = defer.Deferred()

    def shutting_down() -> None:
        if not stopped.called:
            stopped.callback(None)

    reactor.addSystemEventTrigger("before", "shutdown", shutting_down)
    await stopped


# ---------------------------------------------------------------------------------------- syncing node


@dataclass
class SyncResult:
    switched: Switched[State]
    seconds: float
    cpu_seconds: float
    reactor_cpu_seconds: float
    peak_rss_mib: float
    txs: int
    block_bytes: int
    stages: StageClock = field(default_factory=StageClock)


def verify_executor(workers: int) -> Executor | None:
    """As the node builds it: a process pool whose workers die with this process, or None (inline)."""
    return verify_pool(workers)


async def sync(
    reactor: Any, params: ChainParams, home: Path, servers: str, workers: int, app_name: str, transport: str
) -> SyncResult:
    """A fresh node with default settings syncs from the servers; returns when it switched to consensus."""
    stages = StageClock()
    executor_pool = verify_executor(workers)
    block_store, state_store = open_stores(home / "node")
    try:
        with application(app_name, home / "kvstore", transport) as address:
            app = await open_connections(address, transport, reactor=reactor)
            try:
                return await _sync_with(
                    reactor, params, servers, app, stages, executor_pool, block_store, state_store
                )
            finally:
                app.close()
    finally:
        block_store.close()
        state_store.close()
        if executor_pool is not None:
            executor_pool.shutdown(cancel_futures=True)


async def _sync_with(
    reactor: Any,
    params: ChainParams,
    servers: str,
    app: AppConns,
    stages: StageClock,
    executor_pool: Executor | None,
    block_store: BlockStore,
    state_store: StateStore,
) -> SyncResult:
    """The sync itself, on an app already connected (its connections are the node's: `AppConns`)."""
    state = await Handshaker(state_store, block_store, params.spec.genesis(), app).handshake()
    timed_states = cast(StateStore, TimedStateStore(state_store, stages))
    executor = BlockExecutor(
        timed_states,
        block_store,
        TimedApp(app, stages),
        run_in_thread(reactor),
        pipeline_commit=app.answers_in_order,
    )
    handoff: DeferredHandoff[State] = DeferredHandoff()
    syncer = BlocksyncReactor(
        state,
        TimedStore(block_store, stages),
        TimedExecutor(executor, stages),
        handoff,
        reactor,
        verify_executor=executor_pool,
        call_from_thread=reactor.callFromThread,
    )
    syncer.loop.on_stage = stages.on_stage
    switch = Switch(NodeKey(PrivKey(bytes([1]) * 32)), state.chain_id, "syncer", reactor=reactor)
    switch.add_reactor("BLOCKSYNC", syncer)
    switch.listen("127.0.0.1", 0)
    cpu_before, reactor_cpu_before = _cpu_seconds(), time.thread_time()
    syncer.start()
    switch.dial_peers(servers.split(","), persistent=False)
    timeout = reactor.callLater(SYNC_TIMEOUT_SECONDS, handoff.switched.cancel)
    switched = await handoff.switched
    timeout.cancel()
    cpu, reactor_cpu = _cpu_seconds() - cpu_before, time.thread_time() - reactor_cpu_before
    peak_rss = _peak_rss_mib()
    await switch.stop()
    syncer.stop()
    if syncer.failure is not None:
        raise RuntimeError(f"sync failed: {syncer.failure}")
    assert stages.first_apply is not None
    return SyncResult(
        switched=switched,
        seconds=stages.last_applied - stages.first_apply,
        cpu_seconds=cpu,
        reactor_cpu_seconds=reactor_cpu,
        peak_rss_mib=peak_rss,
        txs=syncer.metrics.txs_synced,
        block_bytes=syncer.metrics.bytes_synced,
        stages=stages,
    )


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mib() -> float:
    """VmHWM of this process (ru_maxrss is the same figure, in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------------- tight loops


@dataclass(frozen=True)
class LoopRate:
    per_second: float
    sigs_per_second: float = 0.0


VerifyJob = tuple[ValidatorSet, BlockID, int, Commit]


def load_verify_jobs(home: Path, upto: int) -> list[VerifyJob]:
    """Each synced height's validators, block id and the commit proving it (from the next block)."""
    block_store, state_store = open_stores(home / "node")
    try:
        jobs = []
        sets: dict[bytes, ValidatorSet] = {}  # loading a set replays priorities: once per distinct set
        for height in range(1, upto):
            meta, proof = block_store.load_block_meta(height), block_store.load_block(height + 1)
            assert meta is not None and proof is not None and proof.last_commit is not None
            set_hash = meta.header.validators_hash
            if set_hash not in sets:
                sets[set_hash] = state_store.load_validators(height)
            jobs.append((sets[set_hash], meta.block_id, height, proof.last_commit))
        return jobs
    finally:
        block_store.close()
        state_store.close()


def _loop_rate(jobs: list[VerifyJob], step: Any, min_seconds: float) -> LoopRate:
    signatures = sum(sum(1 for sig in commit.signatures if sig.signature) for *_, commit in jobs)
    rounds, began = 0, time.perf_counter()
    while time.perf_counter() - began < min_seconds or rounds == 0:
        for job in jobs:
            step(job)
        rounds += 1
    elapsed = time.perf_counter() - began
    return LoopRate(rounds * len(jobs) / elapsed, rounds * signatures / elapsed)


def verify_rate(jobs: list[VerifyJob], chain_id: str, min_seconds: float = 3.0) -> LoopRate:
    """`ValidatorSet.verify_commit` on the synced chain's commits, round after round, in one thread."""

    def step(job: VerifyJob) -> None:
        validators, block_id, height, commit = job
        validators.verify_commit(chain_id, block_id, height, commit)

    return _loop_rate(jobs, step, min_seconds)


def raw_verify_rate(jobs: list[VerifyJob], chain_id: str, min_seconds: float = 3.0) -> LoopRate:
    """ed25519-zebra alone on the same signatures (sign bytes built beforehand): the floor of verification."""
    items: dict[int, list[tuple[bytes, bytes, bytes]]] = {}
    for validators, _, height, commit in jobs:
        present = [i for i, sig in enumerate(commit.signatures) if sig.signature]
        messages = commit.all_vote_sign_bytes(chain_id, present)
        items[height] = [
            (commit.signatures[i].signature, message, validators.validators[i].pub_key)
            for i, message in zip(present, messages, strict=True)
        ]
    verify = ed25519_zebra.ed_verify

    def step(job: VerifyJob) -> None:
        for signature, message, pub_key in items[job[2]]:
            verify(signature, message, pub_key)

    return _loop_rate(jobs, step, min_seconds)


def decode_rate(home: Path, upto: int) -> LoopRate:
    """Blocks/s of `Block.from_proto_bytes` + `validate_basic` on the synced blocks' stored bytes."""
    block_store, state_store = open_stores(home / "node")
    try:
        raw = [block_store.load_block_bytes(h) for h in range(1, upto + 1)]
    finally:
        block_store.close()
        state_store.close()
    began = time.perf_counter()
    for data in raw:
        assert data is not None
        Block.from_proto_bytes(data).validate_basic()
    return LoopRate(len(raw) / (time.perf_counter() - began))


# ---------------------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Loops:
    verify: LoopRate
    raw_verify: LoopRate
    decode: LoopRate


def report(
    params: ChainParams,
    args: argparse.Namespace,
    result: SyncResult,
    loops: Loops,
    cometbft: CometBFTResult | None,
) -> None:
    synced = result.switched.blocks_synced
    seconds = result.seconds
    blocks_per_s = _blocks_per_second(result)
    verify, raw = loops.verify, loops.raw_verify
    throttle = f"{args.flush_throttle_ms:g} ms flush throttle" if args.flush_throttle_ms else "no throttle"
    servers = "CometBFT-like peers"
    if args.servers == "cometbft":
        servers, throttle = "real CometBFT nodes", "CometBFT's defaults: 100 ms flush throttle"
    rows: list[tuple[str, str]] = [
        (
            "chain",
            f"{params.blocks} blocks, {params.validators} validators, {params.txs} txs/block "
            f"of {params.tx_size} B",
        ),
        (
            "setup",
            f"{args.peers} serving {servers} ({throttle}, 5 MB/s); pool {PoolConfig().max_pending_per_peer} "
            f"requests/peer; verify workers {args.verify_workers}; app {args.app} over {args.abci}",
        ),
        ("blocks synced", f"{synced} (switched at height {result.switched.state.last_block_height})"),
        ("sync time", f"{seconds:.2f} s (first to last apply)"),
        ("blocks/s", f"{blocks_per_s:.0f}"),
        ("txs/s", f"{result.txs / seconds:.0f}"),
        ("MB/s (block bytes)", f"{result.block_bytes / seconds / 1e6:.2f}"),
        ("CPU, syncer", f"{result.cpu_seconds:.1f} s = {result.cpu_seconds / seconds:.0%} of a core"),
        (
            "CPU, reactor thread",
            f"{result.reactor_cpu_seconds:.1f} s = "
            f"{result.reactor_cpu_seconds / synced * 1e3:.2f} ms per block",
        ),
        ("peak RSS, syncer", f"{result.peak_rss_mib:.0f} MiB"),
        ("verify_commit loop", f"{verify.per_second:.0f} commits/s, {verify.sigs_per_second:.0f} sigs/s"),
        ("raw ed25519-zebra loop", f"{raw.per_second:.0f} commits/s, {raw.sigs_per_second:.0f} sigs/s"),
        ("sync rate / verify_commit rate", f"{blocks_per_s / verify.per_second:.2f}"),
        ("sync rate / raw verify rate", f"{blocks_per_s / raw.per_second:.2f}"),
        ("decode + validate_basic (loop)", f"{1000 / loops.decode.per_second:.2f} ms/block"),
    ]
    if cometbft is not None:
        rows += [
            (
                "CometBFT v0.38 syncer",
                f"{cometbft.blocks_per_second:.0f} blocks/s (heights {cometbft.first_height}-"
                f"{cometbft.last_height} in {cometbft.seconds:.2f} s), CPU {cometbft.cpu_seconds:.1f} s, "
                f"peak RSS {cometbft.peak_rss_mib:.0f} MiB",
            ),
            ("sync rate / CometBFT", f"{blocks_per_s / cometbft.blocks_per_second:.2f}x"),
        ]
    else:
        why = "--cometbft off" if args.cometbft == "off" else "set COMETBFT_BIN to a CometBFT v0.38 binary"
        rows.append(("sync rate / CometBFT", f"not measured ({why})"))
    stages = result.stages
    rows.append((f"per block: wall time (over {stages.blocks} blocks)", f"{1000 / blocks_per_s:.2f} ms"))
    counted = max(stages.blocks, 1)
    loop_rows = per_block_rows(stages.loop, counted)
    rows += [(f"  {name}", f"{ms:.2f} ms") for name, ms in loop_rows]
    unstaged = 1000 / blocks_per_s - sum(ms for _, ms in loop_rows)
    rows.append(("  (not in a step: the first block's start-up, timer turns)", f"{unstaged:.2f} ms"))
    rows.append(("timed apart (block write beside the loop, state write in execute other, app Commit)", ""))
    rows += [(f"  {name}", f"{ms:.2f} ms") for name, ms in per_block_rows(stages.beside, counted)]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=2000, help="chain length (default 2000)")
    parser.add_argument("--validators", type=int, default=4, help="validators, power 10 each (default 4)")
    parser.add_argument("--txs", type=int, default=10, help="kvstore txs per block (default 10)")
    parser.add_argument("--tx-size", type=int, default=64, help="bytes per tx (default 64)")
    parser.add_argument("--peers", type=int, default=4, help="serving peers (default 4)")
    parser.add_argument(
        "--verify-workers",
        type=int,
        default=2,
        help="verify-ahead processes, [cometsync] verify_workers (default 2, the node's)",
    )
    parser.add_argument(
        "--app",
        choices=("auto", "cometsync", "abci-cli"),
        default="auto",
        help="the syncing node's kvstore: CometBFT's abci-cli (auto: when ABCI_CLI is set) or cometsync's",
    )
    parser.add_argument(
        "--abci",
        choices=("socket", "grpc"),
        default="socket",
        help="ABCI transport of the syncing node (default socket, a new home's [base] abci)",
    )
    parser.add_argument(
        "--flush-throttle-ms",
        type=float,
        default=100.0,
        help="serving peers' flush throttle, CometBFT's flush_throttle_timeout (default 100; 0: none)",
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=1,
        help="run cometsync then CometBFT this many times on the same peers and print every ratio and the "
        "median (the report is the last pair's; default 1)",
    )
    parser.add_argument(
        "--servers",
        choices=("cometsync", "cometbft"),
        default="cometsync",
        help="serving peers: cometsync Switches flushing like CometBFT (default), or real CometBFT nodes "
        "(COMETBFT_BIN) holding the chain",
    )
    parser.add_argument(
        "--cometbft",
        choices=("auto", "off"),
        default="auto",
        help="also sync with CometBFT's own syncer when COMETBFT_BIN is set (default auto)",
    )
    # internal: the build and serving subprocesses
    parser.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.blocks < 3 or args.validators < 1 or args.txs < 0 or args.tx_size < 8 or args.peers < 1:
        parser.error("need blocks >= 3, validators >= 1, txs >= 0, tx-size >= 8, peers >= 1")
    if args.pairs < 1:
        parser.error("need pairs >= 1")
    return args


def ensure_chain(params: ChainParams) -> None:
    if params.folder.exists():
        return
    print(f"building {params.folder.name} in a subprocess (cached for later runs) ...", flush=True)
    began = time.perf_counter()
    size_args: tuple[str, ...] = ("--blocks", str(params.blocks), "--validators", str(params.validators))
    size_args += ("--txs", str(params.txs), "--tx-size", str(params.tx_size))
    subprocess.run(python_argv(__file__, "--build", *size_args), check=True, timeout=SYNC_TIMEOUT_SECONDS)
    print(f"built in {time.perf_counter() - began:.1f} s", flush=True)


@contextmanager
def serving_peers(params: ChainParams, args: argparse.Namespace) -> Iterator[str]:
    """The serving peers' addresses: CometBFT-like cometsync Switches in a subprocess, or real CometBFT."""
    if args.servers == "cometbft":
        binary = os.environ.get("COMETBFT_BIN")
        if not binary:
            raise SystemExit("--servers cometbft needs COMETBFT_BIN to name a CometBFT v0.38 binary")
        print(
            f"starting {args.peers} CometBFT servers (each replays the chain into its kvstore) ...",
            flush=True,
        )
        with cometbft_servers(
            binary, params.spec.genesis(), params.folder, args.peers, SYNC_TIMEOUT_SECONDS
        ) as addresses:
            yield addresses
        return
    serve_args: tuple[str, ...] = ("--serve", str(params.folder), "--peers", str(args.peers))
    serve_args += ("--flush-throttle-ms", str(args.flush_throttle_ms))
    server, addresses = start_process(python_argv(__file__, *serve_args), SERVING)
    try:
        yield addresses
    finally:
        stop_process(server)


async def run(reactor: Any, args: argparse.Namespace) -> None:
    params = ChainParams(args.blocks, args.validators, args.txs, args.tx_size)
    if args.serve is not None:
        await serve(reactor, args.serve, args.peers, args.flush_throttle_ms / 1000)
        return
    if args.build:
        await build_chain(params)
        return
    args.app = app_kind(args.app)
    ensure_chain(params)
    pairs: list[tuple[float, float]] = []
    with serving_peers(params, args) as addresses:
        for pair in range(args.pairs):
            home = Path(tempfile.mkdtemp(prefix="cometsync-bench-sync-"))
            result = await sync(reactor, params, home, addresses, args.verify_workers, args.app, args.abci)
            cometbft = _cometbft_after(params, args, addresses, result)
            if cometbft is not None:
                pairs.append((_blocks_per_second(result), cometbft.blocks_per_second))
            if pair < args.pairs - 1:
                shutil.rmtree(home, ignore_errors=True)
    try:
        upto = result.switched.state.last_block_height
        jobs = load_verify_jobs(home, upto)
        chain_id = params.spec.chain_id
        loops = Loops(verify_rate(jobs, chain_id), raw_verify_rate(jobs, chain_id), decode_rate(home, upto))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    report(params, args, result, loops, cometbft)
    if len(pairs) > 1:
        ratios = sorted(ours / theirs for ours, theirs in pairs)
        shown = ", ".join(f"{ours:.0f}/{theirs:.0f} = {ours / theirs:.2f}x" for ours, theirs in pairs)
        print(f"pairs (cometsync/CometBFT blocks/s, one after the other): {shown}")
        print(f"median sync rate / CometBFT over {len(pairs)} pairs: {ratios[len(ratios) // 2]:.2f}x")


def _cometbft_after(
    params: ChainParams, args: argparse.Namespace, addresses: str, result: SyncResult
) -> CometBFTResult | None:
    """CometBFT's syncer on the same chain and peers, right after ours (when COMETBFT_BIN is set)."""
    binary = os.environ.get("COMETBFT_BIN")
    if not binary or args.cometbft != "auto":
        return None
    target = result.switched.state.last_block_height
    print(f"cometsync done; CometBFT's syncer on the same chain and peers ({binary}) ...", flush=True)
    return run_cometbft_syncer(binary, params.spec.genesis(), addresses, target, SYNC_TIMEOUT_SECONDS)


def _blocks_per_second(result: SyncResult) -> float:
    return (result.switched.blocks_synced - 1) / result.seconds  # from the first apply to the last


def main() -> None:
    args = parse_args()
    if args.serve is None and not args.build:
        print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}", flush=True)
    task.react(lambda reactor: defer.ensureDeferred(run(reactor, args)))


if __name__ == "__main__":
    main()
