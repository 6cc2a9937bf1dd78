"""`cometsync demo`: a two-node network on embedded defaults that shows blocksync end to end.

node0 (the only validator, engine `solo`) builds a chain while txs arrive over RPC; node1 (fresh,
engine `follow`) fast-syncs it, hands off and keeps up. Both run as `cometsync start` child processes;
the demo exits 0 only if both nodes hold the same block and app hash at a common height.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from cometsync.cli.init_cmd import fail
from cometsync.cli.status_cmd import RPCUnavailable, fetch_result
from cometsync.config import (
    ConfigError,
    HomeError,
    TestnetNode,
    free_starting_port,
    make_testnet,
    save_config,
)

T = TypeVar("T")
POLL_SECONDS = 0.2
STOP_TIMEOUT_SECONDS = 30.0
PROGRESS_LOG_SECONDS = 2.0


class DemoError(Exception):
    """The demo could not run to its comparison (a node failed to start, a wait timed out)."""


@dataclass(frozen=True)
class NodeReading:
    """What the final table shows of one node, read at the common height."""

    name: str
    latest_height: int
    block_hash: str
    app_hash: str


def _rpc(port: int, path: str) -> Any:
    """The `result` of a GET to the node's RPC, or None when it does not answer (yet)."""
    try:
        return fetch_result(f"http://127.0.0.1:{port}", path)
    except RPCUnavailable:
        return None


def _wait(probe: Callable[[], T | None], timeout: float, what: str, nodes: list[_Child]) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in nodes:
            child.check_alive()
        value = probe()
        if value is not None:
            return value
        time.sleep(POLL_SECONDS)
    raise DemoError(f"timed out after {timeout:.0f}s waiting for {what}")


class _Child:
    """One `cometsync start` process whose output goes to `<home>/node.log`."""

    def __init__(self, node: TestnetNode) -> None:
        self.node = node
        self.name = node.config.home.name
        self.log = node.config.home / "node.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [sys.executable, "-m", "cometsync", "start", "--home", str(self.node.config.home)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            lines = self.log.read_text(errors="replace").strip().splitlines()
            raise DemoError(
                f"{self.name} exited with code {self.process.returncode}: {lines[-1] if lines else ''}"
            )

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_SECONDS)
        return self.process.returncode

    @property
    def rpc_port(self) -> int:
        return self.node.ports.rpc

    def height(self) -> int | None:
        status = _rpc(self.rpc_port, "status")
        return None if status is None else int(status["sync_info"]["latest_block_height"])

    def catching_up(self) -> bool | None:
        status = _rpc(self.rpc_port, "status")
        return None if status is None else bool(status["sync_info"]["catching_up"])

    def reading_at(self, height: int) -> NodeReading:
        block = _rpc(self.rpc_port, f"block?height={height}")
        latest = self.height()
        if block is None or latest is None:
            raise DemoError(f"{self.name} did not answer /block?height={height}")
        return NodeReading(self.name, latest, block["block_id"]["hash"], block["block"]["header"]["app_hash"])


class _TxSender:
    """Sends `demo-N=value-N` txs to a node's broadcast_tx_sync, a few per poll."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sent = 0
        self.accepted = 0

    def send(self, count: int = 3) -> None:
        for _ in range(count):
            tx = f"demo-{self.sent}=value-{self.sent}"
            self.sent += 1
            result = _rpc(self.port, "broadcast_tx_sync?tx=" + urllib.parse.quote(f'"{tx}"'))
            if result is not None and int(result.get("code", 1)) == 0:
                self.accepted += 1


def _testnet(directory: Path, timeout_commit: str) -> list[TestnetNode]:
    """node0 = solo validator, node1 = non-validator dialling node0; both run the built-in kvstore over
    gRPC (the brief's demo; new homes default to CometBFT's socket transport)."""
    nodes = make_testnet(
        directory, 1, 1, starting_port=free_starting_port(2), populate_persistent_peers=False
    )
    producer, follower = nodes
    for node in nodes:
        node.config.override("consensus.timeout_commit", timeout_commit)
        node.config.override("proxy_app", "kvstore")
        node.config.override("abci", "grpc")
    follower.config.override("p2p.persistent_peers", f"{producer.node_id}@127.0.0.1:{producer.ports.p2p}")
    for node in nodes:
        save_config(node.config)
    return nodes


@dataclass(frozen=True)
class SyncReading:
    """The follower's `/blocksync_status`: blocks it holds, the best peer's height, rate and ETA."""

    height: int
    target: int
    blocks_per_second: float
    eta_seconds: float | None
    peers: int

    @classmethod
    def from_rpc(cls, result: dict[str, Any]) -> SyncReading:
        """The pool's `height` is the next block to apply, so the node holds one less."""
        eta = result.get("eta_seconds")
        return cls(
            height=max(0, int(result["height"]) - 1),
            target=int(result["max_peer_height"]),
            blocks_per_second=float(result["blocks_per_second"]),
            eta_seconds=None if eta is None else float(eta),
            peers=len(result["peers"]),
        )

    def line(self, name: str) -> str:
        target = max(self.target, self.height)
        share = f" ({100.0 * self.height / target:.1f}%)" if target else ""
        eta = "-" if self.eta_seconds is None else f"{self.eta_seconds:.0f}s"
        return (
            f"{name}: height {self.height}/{target}{share}  {self.blocks_per_second:.1f} blocks/s  "
            f"ETA {eta}  peers {self.peers}"
        )


class _Progress:
    """The follower's sync as one refreshed line on a terminal, or a line every few seconds otherwise."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tty = sys.stdout.isatty()
        self._last_print = 0.0
        self.last: SyncReading | None = None

    def show(self, reading: SyncReading) -> None:
        self.last = reading
        now = time.monotonic()
        if self.tty:
            sys.stdout.write("\r\x1b[K" + reading.line(self.name))
            sys.stdout.flush()
        elif now - self._last_print >= PROGRESS_LOG_SECONDS:
            typer.echo(reading.line(self.name))
            self._last_print = now

    def done(self, final: SyncReading | None) -> None:
        """Always end with the reading at hand-off, so even a sync faster than one refresh is shown."""
        reading = final or self.last
        if self.tty:
            if reading is not None:
                sys.stdout.write("\r\x1b[K" + reading.line(self.name))
            sys.stdout.write("\n")
        elif reading is not None:
            typer.echo(reading.line(self.name))


def _sync_reading(child: _Child) -> SyncReading | None:
    result = _rpc(child.rpc_port, "blocksync_status")
    return None if result is None else SyncReading.from_rpc(result)


def _follower_progress(child: _Child, progress: _Progress) -> bool | None:
    """Show one progress reading; True once the follower has handed off (no longer catching up)."""
    reading = _sync_reading(child)
    if reading is not None:
        progress.show(reading)
    return True if child.catching_up() is False else None


def _table(readings: list[NodeReading], height: int) -> str:
    rows = [("node", "latest height", f"block hash @ {height}", f"app hash @ {height}")]
    rows += [(r.name, str(r.latest_height), r.block_hash, r.app_hash) for r in readings]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows
    )


def _run(directory: Path, blocks: int, follow_seconds: float, timeout: float) -> bool:
    nodes = _testnet(directory, "100ms")
    producer, follower = (_Child(node) for node in nodes)
    children = [producer, follower]
    sender = _TxSender(producer.rpc_port)
    try:
        typer.echo(f"demo network in {directory} (logs: node0/node.log, node1/node.log)")
        producer.start()
        _wait(producer.height, timeout, "node0's RPC", children)
        typer.echo(f"node0 (solo validator) is producing blocks; sending txs until height {blocks}")

        def grown() -> int | None:
            sender.send()
            height = producer.height()
            return height if height is not None and height >= blocks else None

        _wait(grown, timeout, f"node0 to reach height {blocks}", children)
        target = producer.height() or blocks
        typer.echo(
            f"node0 at height {target} with {sender.accepted} txs; starting node1 (fresh, engine follow)"
        )
        follower.start()
        progress = _Progress(follower.name)

        def synced() -> bool | None:
            sender.send(1)
            return _follower_progress(follower, progress)

        _wait(synced, timeout, "node1 to catch up and hand off to follow", children)
        progress.done(_sync_reading(follower))
        typer.echo(f"node1 handed off to follow; both run {follow_seconds:.0f}s more while txs arrive")
        deadline = time.monotonic() + follow_seconds
        while time.monotonic() < deadline:
            sender.send(1)
            for child in children:
                child.check_alive()
            time.sleep(POLL_SECONDS)

        def common() -> int | None:
            top, bottom = producer.height(), follower.height()
            return bottom if top is not None and bottom is not None and bottom >= target else None

        height = _wait(common, timeout, "node1 to keep up", children)
        readings = [producer.reading_at(height), follower.reading_at(height)]
    finally:
        codes = [child.stop() for child in children]
    typer.echo(_table(readings, height))
    agree = readings[0].block_hash == readings[1].block_hash and readings[0].app_hash == readings[1].app_hash
    clean = all(code == 0 for code in codes)
    typer.echo(f"{sender.accepted} txs accepted; nodes stopped with exit codes {codes}")
    typer.echo(
        "OK: both nodes agree" if agree and clean else "FAIL: the nodes disagree or did not stop cleanly"
    )
    return agree and clean


def demo(
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Where to create the two node homes [default: a new temporary directory]"),
    ] = None,
    blocks: Annotated[
        int, typer.Option("--blocks", min=2, help="Height node0 reaches before node1 starts")
    ] = 60,
    follow_seconds: Annotated[
        float, typer.Option("--follow-seconds", min=0, help="How long both run after node1's hand-off")
    ] = 5.0,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Bound on every wait, in seconds")
    ] = 120.0,
) -> None:
    """Run a local 2-node demo: a solo producer and a fresh node that fast-syncs it, then follows."""
    base = directory or Path(tempfile.mkdtemp(prefix="cometsync-demo-"))
    try:
        agree = _run(base, blocks, follow_seconds, timeout)
    except (ConfigError, HomeError, DemoError) as exc:
        raise fail(str(exc)) from None
    if not agree:
        raise typer.Exit(code=1)
