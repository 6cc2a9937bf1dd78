"""RPC cost: `/status` req/s and latency of a running node, and blocksync with and without `/status` load.

Run: `python benchmarks/rpc_bench.py status [--clients C --requests N --seconds S]` starts a one-validator
`cometsync start` node (a `cometsync testnet --v 1` home on free 127.0.0.1 ports), then asks `/status`
over keep-alive connections: one client in sequence, then C concurrent clients, each phase bounded by N
requests and S seconds. With COMETBFT_BIN set, a `cometbft start --proxy_app kvstore` node is measured the
same way in the same run and the ratios printed. Nodes are measured one at a time.

`python benchmarks/rpc_bench.py sync [--blocks N --peers P --clients C --rate R]` syncs a fresh
`cometsync start` node from `sync_bench.py`'s cached chain and serving peers twice: once idle, once while C
clients send `/status` (R req/s in total, 0: as fast as they can), and prints both blocks/s and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cometbft_peer import running

from cometsync.config import (
    GenesisValidator,
    free_starting_port,
    genesis_document,
    load_config,
    make_testnet,
    save_config,
)
from cometsync.types import ConsensusParams

REPO = Path(__file__).resolve().parent.parent
SYNC_BENCH = REPO / "benchmarks" / "sync_bench.py"
READY_SECONDS = 120.0
SYNC_TIMEOUT_SECONDS = 900.0
POLL_SECONDS = 0.1


# ---------------------------------------------------------------------------------------- HTTP client


class KeepAliveClient:
    """One non-blocking keep-alive connection asking `path` again and again."""

    def __init__(self, port: int, path: str = "/status") -> None:
        self.request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self._buffer = b""
        self.sent_at = 0.0

    def send(self) -> None:
        self.sent_at = time.perf_counter()
        self.sock.sendall(self.request)

    def receive(self) -> bytes | None:
        """The body once the whole answer arrived (Content-Length or chunked), else None."""
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the node closed the connection")
        self._buffer += chunk
        body, rest = _split_response(self._buffer)
        if body is None:
            return None
        self._buffer = rest
        return body

    def close(self) -> None:
        self.sock.close()


def _split_response(data: bytes) -> tuple[bytes | None, bytes]:
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return None, data
    status_line, *lines = head.split(b"\r\n")
    if b" 200 " not in status_line + b" ":
        raise ConnectionError(f"unexpected answer {status_line!r}")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(b":", 1) for line in lines)}
    if b"content-length" in headers:
        length = int(headers[b"content-length"])
        return (rest[:length], rest[length:]) if len(rest) >= length else (None, data)
    body = b""
    while True:  # chunked
        size_line, sep, rest = rest.partition(b"\r\n")
        if not sep:
            return None, data
        size = int(size_line.split(b";")[0], 16)
        if len(rest) < size + 2:
            return None, data
        body, rest = body + rest[:size], rest[size + 2 :]
        if size == 0:
            return body, rest


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


@dataclass(frozen=True)
class Load:
    """Closed-loop keep-alive clients asking `path`, paced to `rate` req/s in total (0: unpaced)."""

    clients: int = 1
    path: str = "/status"
    rate: float = 0.0


def run_load(
    port: int, load: Load, max_requests: int, max_seconds: float, stop: threading.Event | None = None
) -> LoadResult:
    """Run `load` until `max_requests` answers, `max_seconds` or `stop`, whichever comes first."""
    result = LoadResult()
    selector = selectors.DefaultSelector()
    connections = [KeepAliveClient(port, load.path) for _ in range(load.clients)]
    interval = load.clients / load.rate if load.rate > 0 else 0.0
    began = time.perf_counter()
    due = {client: began + index * interval / load.clients for index, client in enumerate(connections)}
    idle = set(connections)
    try:
        for client in connections:
            selector.register(client.sock, selectors.EVENT_READ, client)
        deadline = began + max_seconds
        while len(result.latencies) < max_requests and (now := time.perf_counter()) < deadline:
            if stop is not None and stop.is_set():
                break
            for client in [c for c in idle if due[c] <= now]:
                idle.discard(client)
                client.send()
            waits = [due[c] - now for c in idle]
            for key, _ in selector.select(max(0.0, min(waits, default=0.05))):
                client = key.data
                if client.receive() is not None:
                    done = time.perf_counter()
                    result.latencies.append(done - client.sent_at)
                    due[client] = max(done, client.sent_at + interval)
                    idle.add(client)
        result.seconds = time.perf_counter() - began
    finally:
        selector.close()
        for client in connections:
            client.close()
    return result


def status_of(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as answer:
            result: dict[str, object] = json.loads(answer.read())["result"]
            return result
    except (OSError, ValueError, KeyError):
        return None


def height_of(port: int) -> int:
    status = status_of(port)
    sync_info = status["sync_info"] if status else None
    return int(sync_info["latest_block_height"]) if isinstance(sync_info, dict) else 0


def wait_until(probe: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(POLL_SECONDS)
    raise RuntimeError(f"timed out after {seconds:.0f} s waiting for {what}")


# ---------------------------------------------------------------------------------------- nodes


def cometsync_argv(*args: str) -> list[str]:
    return [sys.executable, "-c", "from cometsync.cli.main import main; main()", *args]


def testnet_home(root: Path) -> tuple[Path, int]:
    """A one-validator `cometsync testnet` home on free ports; returns it and its RPC port."""
    node = make_testnet(root, 1, starting_port=free_starting_port(1))[0]
    return node.config.home, node.ports.rpc


@contextmanager
def cometsync_node(root: Path, min_height: int) -> Iterator[int]:
    home, rpc_port = testnet_home(root / "cometsync")
    with running(cometsync_argv("start", "--home", str(home)), root / "cometsync.log"):
        wait_until(lambda: height_of(rpc_port) >= min_height, READY_SECONDS, "the cometsync node's blocks")
        yield rpc_port


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def cometbft_node(binary: str, root: Path, min_height: int) -> Iterator[int]:
    home = root / "cometbft"
    subprocess.run([binary, "init", "--home", str(home)], check=True, capture_output=True, timeout=60)
    rpc_port, p2p_port = _free_port(), _free_port()
    argv = [
        binary,
        "start",
        "--home",
        str(home),
        "--proxy_app",
        "kvstore",
        "--rpc.laddr",
        f"tcp://127.0.0.1:{rpc_port}",
        "--p2p.laddr",
        f"tcp://127.0.0.1:{p2p_port}",
        "--log_level",
        "error",
    ]
    with running(argv, root / "cometbft.log"):
        wait_until(lambda: height_of(rpc_port) >= min_height, READY_SECONDS, "the CometBFT node's blocks")
        yield rpc_port


# ---------------------------------------------------------------------------------------- status mode


def measure_status(port: int, args: argparse.Namespace) -> tuple[LoadResult, LoadResult]:
    run_load(port, Load(), min(50, args.requests), args.seconds)  # warm-up: connections, caches
    sequential = run_load(port, Load(), args.requests, args.seconds)
    concurrent = run_load(port, Load(args.clients), args.requests, args.seconds)
    return sequential, concurrent


def _line(name: str, result: LoadResult) -> str:
    return (
        f"  {name:<24} {result.rate:8.0f} req/s   p50 {result.percentile(0.5) * 1e3:6.2f} ms   "
        f"p99 {result.percentile(0.99) * 1e3:6.2f} ms   ({len(result.latencies)} requests)"
    )


def status_mode(args: argparse.Namespace, root: Path) -> None:
    figures: dict[str, tuple[LoadResult, LoadResult]] = {}
    with cometsync_node(root, args.min_height) as port:
        figures["cometsync"] = measure_status(port, args)
    binary = os.environ.get("COMETBFT_BIN")
    if binary:
        with cometbft_node(binary, root, args.min_height) as port:
            figures["cometbft"] = measure_status(port, args)
    for name, (sequential, concurrent) in figures.items():
        print(f"{name} /status:")
        print(_line("sequential (1 client)", sequential))
        print(_line(f"{args.clients} concurrent clients", concurrent))
    if "cometbft" in figures:
        ours, theirs = figures["cometsync"], figures["cometbft"]
        for label, index in (("sequential", 0), ("concurrent", 1)):
            ratio = ours[index].rate / theirs[index].rate if theirs[index].rate else 0.0
            print(f"cometsync / CometBFT req/s, {label}: {ratio:.2f}")
    else:
        print("(set COMETBFT_BIN to measure a CometBFT v0.38 node in the same run)")


# ---------------------------------------------------------------------------------------- sync mode


def _chain_args(args: argparse.Namespace) -> list[str]:
    return ["--blocks", str(args.blocks), "--validators", str(args.validators), "--txs", str(args.txs)]


def chain_folder(args: argparse.Namespace) -> Path:
    """`sync_bench.py`'s cached chain (built there on first use)."""
    folder = REPO / "benchmarks" / ".cache" / f"chain-n{args.blocks}-v{args.validators}-t{args.txs}-b64"
    if not folder.exists():
        print(f"building {folder.name} with sync_bench.py (cached) ...", flush=True)
        subprocess.run([sys.executable, str(SYNC_BENCH), "--build", *_chain_args(args)], check=True)
    return folder


@contextmanager
def serving_peers(args: argparse.Namespace, folder: Path, log: Path) -> Iterator[str]:
    argv = [sys.executable, str(SYNC_BENCH), "--serve", str(folder), "--peers", str(args.peers)]
    with running(argv, log):
        wait_until(lambda: "serving " in log.read_text(), READY_SECONDS, "the serving peers")
        yield log.read_text().split("serving ", 1)[1].split()[0]


def syncing_home(root: Path, args: argparse.Namespace, servers: str) -> tuple[Path, int]:
    """A fresh non-validator home for the cached chain (genesis as `sync_bench.py`'s DevnetSpec)."""
    from cometsync.testing import DevnetSpec

    home, rpc_port = testnet_home(root)
    spec = DevnetSpec(chain_id=f"bench-{args.validators}v", powers=(10,) * args.validators)
    keys = spec.keys()
    validators = [GenesisValidator(key.pub_key, 10) for key in keys]
    document = genesis_document(
        spec.chain_id,
        validators,
        genesis_time=spec.genesis_time,
        initial_height=1,
        params=ConsensusParams(vote_extensions_enable_height=spec.vote_extensions_enable_height),
    )
    config = load_config(home)
    config.genesis_path.write_text(json.dumps(document, indent=2))
    config.override("p2p.persistent_peers", servers)
    config.override("cometsync.consensus_engine", "follow")
    save_config(config)
    return home, rpc_port


@dataclass
class SyncRun:
    blocks_per_second: float
    load: LoadResult | None


def timed_sync(root: Path, args: argparse.Namespace, servers: str, load: Load | None) -> SyncRun:
    """Blocks/s from the first applied block to the chain's last syncable height, polled at 10 Hz."""
    home, port = syncing_home(root, args, servers)
    target = args.blocks - 1
    stop = threading.Event()
    loads: list[LoadResult] = []

    def hammer() -> None:
        if load is not None:
            loads.append(run_load(port, load, 10**9, SYNC_TIMEOUT_SECONDS, stop))

    worker = threading.Thread(target=hammer)
    with running(cometsync_argv("start", "--home", str(home)), root / "node.log"):
        wait_until(lambda: status_of(port) is not None, READY_SECONDS, "the syncing node's RPC")
        if load is not None:
            worker.start()
        samples: list[tuple[float, int]] = []
        try:
            deadline = time.monotonic() + SYNC_TIMEOUT_SECONDS
            while time.monotonic() < deadline and (not samples or samples[-1][1] < target):
                samples.append((time.perf_counter(), height_of(port)))
                time.sleep(POLL_SECONDS)
        finally:
            stop.set()
            if worker.is_alive():
                worker.join(30)
    started = next((t for t, height in samples if height >= 1), None)
    if started is None or samples[-1][1] < target:
        raise RuntimeError(f"the node did not sync to {target} (see {root / 'node.log'})")
    return SyncRun((samples[-1][1] - 1) / (samples[-1][0] - started), loads[0] if loads else None)


def sync_mode(args: argparse.Namespace, root: Path) -> None:
    """Idle, loaded, idle again: the baseline is the mean of the idle runs (drift on a shared box)."""
    folder = chain_folder(args)
    load = Load(args.clients, args.path, args.rate)
    with serving_peers(args, folder, root / "servers.log") as servers:
        before = timed_sync(root / "idle1", args, servers, None)
        loaded = timed_sync(root / "loaded", args, servers, load)
        after = timed_sync(root / "idle2", args, servers, None)
    idle = (before.blocks_per_second + after.blocks_per_second) / 2
    pace = f"{args.rate:.0f} req/s in total" if args.rate else "unpaced"
    print(f"sync of {args.blocks} blocks from {args.peers} peers:")
    print(
        f"  idle RPC (before, after): {before.blocks_per_second:.1f}, {after.blocks_per_second:.1f} blocks/s"
    )
    print(f"  {args.clients} clients on {args.path} ({pace}): {loaded.blocks_per_second:7.1f} blocks/s")
    if loaded.load is not None:
        print(_line(f"{args.path} during the sync", loaded.load))
    print(
        f"sync slowdown under load: {(1 - loaded.blocks_per_second / idle) * 100:.1f} % (goal: at most 10 %)"
    )


# ---------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("status", "sync"))
    parser.add_argument("--clients", type=int, default=8, help="concurrent keep-alive clients (default 8)")
    parser.add_argument("--requests", type=int, default=5000, help="status: requests per phase at most")
    parser.add_argument("--seconds", type=float, default=10.0, help="status: seconds per phase at most")
    parser.add_argument("--min-height", type=int, default=3, help="status: wait for this height first")
    parser.add_argument("--blocks", type=int, default=2000, help="sync: chain length (default 2000)")
    parser.add_argument("--validators", type=int, default=4, help="sync: chain validators (default 4)")
    parser.add_argument("--txs", type=int, default=10, help="sync: kvstore txs per block (default 10)")
    parser.add_argument("--peers", type=int, default=4, help="sync: serving peers (default 4)")
    parser.add_argument("--rate", type=float, default=0.0, help="sync: load req/s in total, 0 = unpaced")
    parser.add_argument("--path", default="/status", help="sync: what the load asks (default /status)")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.requests < 1 or args.seconds <= 0 or args.blocks < 3 or args.rate < 0:
        parser.error("need clients >= 1, requests >= 1, seconds > 0, blocks >= 3, rate >= 0")
    return args


def main() -> None:
    args = parse_args()
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}", flush=True)
    root = Path(tempfile.mkdtemp(prefix="cometsync-rpc-bench-"))
    try:
        (status_mode if args.mode == "status" else sync_mode)(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
