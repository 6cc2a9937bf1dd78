"""Blocksync throughput end to end: a fresh node syncs an N-block devnet chain over TCP + SecretConnection.

Run: `python benchmarks/sync_bench.py [--blocks N --validators V --txs T --tx-size B --peers P
--verify-workers W]`. The chain is built once by `cometsync.testing.ChainBuilder` through the kvstore app
(a subprocess) and cached under `benchmarks/.cache/`. A subprocess serves it from P Switches on 127.0.0.1;
this process is the syncing node (default node settings: [p2p] rates, pool, reactor) executing into a
fresh kvstore subprocess over gRPC. Afterwards the same commits are verified in a tight loop, so the
sync rate is reported as a ratio of the raw verification rate measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.internet import defer, task

from cometsync.abci import GrpcABCIClient
from cometsync.blocksync.handoff import DeferredHandoff, Switched
from cometsync.blocksync.reactor import BlocksyncReactor
from cometsync.crypto import PrivKey
from cometsync.crypto.keyfiles import NodeKey
from cometsync.node.verify_pool import verify_pool
from cometsync.p2p.switch import Switch
from cometsync.state import BlockExecutor, Handshaker, State, StateStore
from cometsync.store import BlockStore
from cometsync.testing import BlockPlan, ChainBuilder, DevnetSpec, kvstore_txs
from cometsync.types import Block, BlockID, Commit, ExtendedCommit, PartSet, ValidatorSet

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
def kvstore(home: Path) -> Iterator[GrpcABCIClient]:
    """CometBFT's kvstore (our `cometsync kvstore`) in a subprocess, and a gRPC client to it."""
    argv = python_argv(
        "-c",
        "from cometsync.cli.main import main; main()",
        "kvstore",
        "--home",
        str(home),
        "--listen",
        "127.0.0.1:0",
        "--abci",
        "grpc",
    )
    proc, address = start_process(argv, KVSTORE_READY)
    client = GrpcABCIClient(address)
    try:
        yield client
    finally:
        client.close()
        stop_process(proc)


def open_stores(folder: Path) -> tuple[BlockStore, StateStore]:
    folder.mkdir(parents=True, exist_ok=True)
    return BlockStore.open(folder / "blockstore.db"), StateStore.open(folder / "state.db")


# ---------------------------------------------------------------------------------------- build (cached)


async def build_chain(params: ChainParams) -> None:
    """Produce the chain through a real kvstore into `params.folder`, marked complete only when done."""
    work = Path(tempfile.mkdtemp(prefix="cometsync-bench-build-"))
    try:
        with kvstore(work / "kvstore") as app:
            block_store, state_store = open_stores(work / "chain")
            try:
                spec = params.spec
                builder = ChainBuilder(spec.genesis(), spec.keys(), app, block_store, state_store)
                await builder.build(params.blocks, params.plan)
            finally:
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

    def apply_verified_block(self, state: State, block_id: BlockID, block: Block) -> defer.Deferred[State]:
        raise RuntimeError("the serving node does not execute blocks")


class NoHandoff:
    def switch_to_consensus(self, state: State, blocks_synced: int) -> None:
        raise RuntimeError("the serving node does not sync")


async def serve(reactor: Any, folder: Path, peers: int) -> None:
    """P nodes (own keys, one shared read-only store) serve the chain until SIGTERM."""
    block_store, state_store = open_stores(folder)
    state = state_store.load()
    assert state is not None
    addresses = []
    for seed in range(peers):
        served = BlocksyncReactor(state, block_store, ServeOnlyExecutor(), NoHandoff(), reactor)
        switch = Switch(
            NodeKey(PrivKey(bytes([100 + seed]) * 32)), state.chain_id, f"server{seed}", reactor=reactor
        )
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
class Timings:
    """Where the syncing node's time goes, measured around the store and executor calls."""

    save_seconds: float = 0.0
    apply_seconds: float = 0.0
    first_apply: float | None = None
    last_applied: float = 0.0


class TimedStore:
    """The node's BlockStore with its writes timed."""

    def __init__(self, store: BlockStore, timings: Timings) -> None:
        self._store = store
        self._timings = timings

    @property
    def height(self) -> int:
        return self._store.height

    @property
    def base(self) -> int:
        return self._store.base

    def load_block_bytes(self, height: int) -> bytes | None:
        return self._store.load_block_bytes(height)

    def load_extended_commit_bytes(self, height: int) -> bytes | None:
        return self._store.load_extended_commit_bytes(height)

    def save_block(
        self, block: Block, part_set: PartSet, seen_commit: Commit, ext_commit: ExtendedCommit | None = None
    ) -> None:
        began = time.perf_counter()
        self._store.save_block(block, part_set, seen_commit, ext_commit)
        self._timings.save_seconds += time.perf_counter() - began


class TimedExecutor:
    """The node's BlockExecutor with FinalizeBlock + Commit + state save timed (wall time to the answer)."""

    def __init__(self, executor: BlockExecutor, timings: Timings) -> None:
        self._executor = executor
        self._timings = timings

    def validate_block(self, state: State, block: Block, skip_last_commit: bool = False) -> None:
        self._executor.validate_block(state, block, skip_last_commit)

    def apply_verified_block(self, state: State, block_id: BlockID, block: Block) -> defer.Deferred[State]:
        began = time.perf_counter()
        if self._timings.first_apply is None:
            self._timings.first_apply = began

        def applied(new_state: State) -> State:
            self._timings.last_applied = time.perf_counter()
            self._timings.apply_seconds += self._timings.last_applied - began
            return new_state

        return self._executor.apply_verified_block(state, block_id, block).addCallback(applied)


@dataclass
class SyncResult:
    switched: Switched[State]
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    txs: int
    block_bytes: int
    timings: Timings = field(default_factory=Timings)


def verify_executor(workers: int) -> Executor | None:
    """As the node builds it: a process pool whose workers die with this process, or None (inline)."""
    return verify_pool(workers)


async def sync(reactor: Any, params: ChainParams, home: Path, servers: str, workers: int) -> SyncResult:
    """A fresh node with default settings syncs from the servers; returns when it switched to consensus."""
    timings = Timings()
    executor_pool = verify_executor(workers)
    block_store, state_store = open_stores(home / "node")
    try:
        with kvstore(home / "kvstore") as app:
            state = await Handshaker(state_store, block_store, params.spec.genesis(), app).handshake()
            executor = TimedExecutor(BlockExecutor(state_store, block_store, app), timings)
            handoff: DeferredHandoff[State] = DeferredHandoff()
            syncer = BlocksyncReactor(
                state,
                TimedStore(block_store, timings),
                executor,
                handoff,
                reactor,
                verify_executor=executor_pool,
                call_from_thread=reactor.callFromThread,
            )
            switch = Switch(NodeKey(PrivKey(bytes([1]) * 32)), state.chain_id, "syncer", reactor=reactor)
            switch.add_reactor("BLOCKSYNC", syncer)
            switch.listen("127.0.0.1", 0)
            cpu_before = _cpu_seconds()
            syncer.start()
            switch.dial_peers(servers.split(","), persistent=False)
            timeout = reactor.callLater(SYNC_TIMEOUT_SECONDS, handoff.switched.cancel)
            switched = await handoff.switched
            timeout.cancel()
            cpu = _cpu_seconds() - cpu_before
            peak_rss = _peak_rss_mib()
            await switch.stop()
            syncer.stop()
            if syncer.failure is not None:
                raise RuntimeError(str(syncer.failure))
            assert timings.first_apply is not None
            return SyncResult(
                switched=switched,
                seconds=timings.last_applied - timings.first_apply,
                cpu_seconds=cpu,
                peak_rss_mib=peak_rss,
                txs=syncer.metrics.txs_synced,
                block_bytes=syncer.metrics.bytes_synced,
                timings=timings,
            )
    finally:
        block_store.close()
        state_store.close()
        if executor_pool is not None:
            executor_pool.shutdown(cancel_futures=True)


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


def verify_rate(home: Path, chain_id: str, upto: int, min_seconds: float = 3.0) -> LoopRate:
    """`ValidatorSet.verify_commit` on the synced chain's commits, round after round, in one thread."""
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
    finally:
        block_store.close()
        state_store.close()
    signatures = sum(sum(1 for sig in c.signatures if sig.signature) for *_, c in jobs)
    rounds, began = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - began) < min_seconds or rounds == 0:
        for validators, block_id, height, commit in jobs:
            validators.verify_commit(chain_id, block_id, height, commit)
        rounds += 1
    elapsed = time.perf_counter() - began
    return LoopRate(rounds * len(jobs) / elapsed, rounds * signatures / elapsed)


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


def report(
    params: ChainParams, args: argparse.Namespace, result: SyncResult, verify: LoopRate, decode: LoopRate
) -> None:
    synced = result.switched.blocks_synced
    seconds = result.seconds
    blocks_per_s = (synced - 1) / seconds  # the interval runs from the first apply to the last
    per_block_ms = 1000 / blocks_per_s
    rows: list[tuple[str, str]] = [
        (
            "chain",
            f"{params.blocks} blocks, {params.validators} validators, {params.txs} txs/block "
            f"of {params.tx_size} B; {args.peers} serving peers; verify workers {args.verify_workers}",
        ),
        ("blocks synced", f"{synced} (switched at height {result.switched.state.last_block_height})"),
        ("sync time", f"{seconds:.2f} s (first to last apply)"),
        ("blocks/s", f"{blocks_per_s:.0f}"),
        ("txs/s", f"{result.txs / seconds:.0f}"),
        ("MB/s (block bytes)", f"{result.block_bytes / seconds / 1e6:.2f}"),
        ("CPU, syncer", f"{result.cpu_seconds:.1f} s = {result.cpu_seconds / seconds:.0%} of a core"),
        ("peak RSS, syncer", f"{result.peak_rss_mib:.0f} MiB"),
        ("raw verify_commit loop", f"{verify.per_second:.0f} commits/s, {verify.sigs_per_second:.0f} sigs/s"),
        ("sync rate / raw verify rate", f"{blocks_per_s / verify.per_second:.2f}"),
        ("sync rate / CometBFT (~100 blocks/s)", f"{blocks_per_s / 100:.1f}x"),
        ("per block: wall time", f"{per_block_ms:.2f} ms"),
        ("  verify_commit (loop)", f"{1000 / verify.per_second:.2f} ms"),
        ("  decode + validate_basic (loop)", f"{1000 / decode.per_second:.2f} ms"),
        ("  save_block (in sync)", f"{result.timings.save_seconds / synced * 1000:.2f} ms"),
        ("  apply: FinalizeBlock+Commit (in sync)", f"{result.timings.apply_seconds / synced * 1000:.2f} ms"),
    ]
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
    # internal: the build and serving subprocesses
    parser.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.blocks < 3 or args.validators < 1 or args.txs < 0 or args.tx_size < 8 or args.peers < 1:
        parser.error("need blocks >= 3, validators >= 1, txs >= 0, tx-size >= 8, peers >= 1")
    return args


async def run(reactor: Any, args: argparse.Namespace) -> None:
    params = ChainParams(args.blocks, args.validators, args.txs, args.tx_size)
    if args.serve is not None:
        await serve(reactor, args.serve, args.peers)
        return
    if args.build:
        await build_chain(params)
        return
    if not params.folder.exists():
        print(f"building {params.folder.name} in a subprocess (cached for later runs) ...", flush=True)
        began = time.perf_counter()
        size_args = (
            "--blocks",
            str(args.blocks),
            "--validators",
            str(args.validators),
            "--txs",
            str(args.txs),
            "--tx-size",
            str(args.tx_size),
        )
        subprocess.run(python_argv(__file__, "--build", *size_args), check=True, timeout=SYNC_TIMEOUT_SECONDS)
        print(f"built in {time.perf_counter() - began:.1f} s", flush=True)
    server, addresses = start_process(
        python_argv(__file__, "--serve", str(params.folder), "--peers", str(args.peers)), SERVING
    )
    home = Path(tempfile.mkdtemp(prefix="cometsync-bench-sync-"))
    try:
        result = await sync(reactor, params, home, addresses, args.verify_workers)
    finally:
        stop_process(server)
    try:
        upto = result.switched.state.last_block_height
        verify = verify_rate(home, params.spec.chain_id, upto)
        decode = decode_rate(home, upto)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    report(params, args, result, verify, decode)


def main() -> None:
    args = parse_args()
    if args.serve is None and not args.build:
        print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}", flush=True)
    task.react(lambda reactor: defer.ensureDeferred(run(reactor, args)))


if __name__ == "__main__":
    main()
