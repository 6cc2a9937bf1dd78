"""CometBFT's side of `sync_bench.py`: serving peers that flush like CometBFT, and CometBFT's own syncer.

CometBFT's MConnection writes packets into a 64 KiB buffer that a 100 ms throttle timer flushes (or the
buffer filling up); cometsync's flushes at the end of the reactor turn. `CometBFTLikeReactor` gives the
serving Switch inbound connections that hold their post-handshake bytes the same way, so a served block
waits for the flush as long as it would on a CometBFT peer (the send rate, 5 MB/s, is the Switch's own).
`run_cometbft_syncer` syncs the same chain with a fresh `cometbft start` home (proxy_app = "kvstore",
blocksync on) peered with those servers, timing it from its own "committed state" log lines.
`cometbft_servers` serves the chain from real CometBFT nodes instead (`sync_bench.py --servers cometbft`).
"""

from __future__ import annotations

import os
import re
import select
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from twisted.protocols import policies

from cometsync.config.genesis_doc import GenesisValidator, genesis_document, write_genesis
from cometsync.crypto import PubKey
from cometsync.types import Genesis

REPO = Path(__file__).resolve().parent.parent
COMETBFT_WRITE_BUFFER = 65536
"""`minWriteBufferSize` of CometBFT's MConnection: a full buffer goes out at once."""
COMMITTED = re.compile(r"^I\[(\d{4}-\d\d-\d\d\|\d\d:\d\d:\d\d\.\d{3})\] committed state .*\bheight=(\d+)")


class FlushThrottle(policies.ProtocolWrapper):
    """Holds a connection's bytes after the handshake until the factory's `throttle` seconds passed or
    64 KiB queued (CometBFT's flush timer and write buffer)."""

    factory: _ThrottlingFactory

    def __init__(self, factory: _ThrottlingFactory, wrapped: Any) -> None:
        super().__init__(factory, wrapped)
        self._pending: list[bytes] = []
        self._size = 0
        self._timer: Any = None

    def write(self, data: bytes) -> None:
        if getattr(self.wrappedProtocol, "mconn", None) is None:  # CometBFT writes the handshake directly
            self.transport.write(data)
            return
        self._pending.append(data)
        self._size += len(data)
        if self._size >= COMETBFT_WRITE_BUFFER:
            self.flush()
        elif self._timer is None:
            self._timer = self.factory.clock.callLater(self.factory.throttle, self.flush)

    def writeSequence(self, data: list[bytes]) -> None:
        self.write(b"".join(data))

    def flush(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._pending:
            out, self._pending, self._size = b"".join(self._pending), [], 0
            self.transport.write(out)

    def loseConnection(self) -> None:
        self.flush()
        super().loseConnection()


class _ThrottlingFactory(policies.WrappingFactory):
    protocol = FlushThrottle

    def __init__(self, wrapped: Any, clock: Any, throttle: float) -> None:
        super().__init__(wrapped)
        self.clock = clock
        self.throttle = throttle


class CometBFTLikeReactor:
    """The serving Switch's reactor: every inbound connection flushes like a CometBFT MConnection."""

    def __init__(self, reactor: Any, flush_throttle: float) -> None:
        self._reactor = reactor
        self._flush_throttle = flush_throttle

    def listenTCP(self, port: int, factory: Any, backlog: int = 50, interface: str = "") -> Any:
        if self._flush_throttle > 0:
            factory = _ThrottlingFactory(factory, self._reactor, self._flush_throttle)
        return self._reactor.listenTCP(port, factory, backlog, interface)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)


# ---------------------------------------------------------------------------------------- the syncer


@dataclass(frozen=True)
class CometBFTResult:
    first_height: int
    last_height: int
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float

    @property
    def blocks_per_second(self) -> float:
        return (self.last_height - self.first_height) / self.seconds


def genesis_json(genesis: Genesis) -> dict[str, Any]:
    """The chain's genesis as CometBFT writes it (the same initial state as `genesis`)."""
    validators = [GenesisValidator(PubKey(val.pub_key), val.voting_power) for val in genesis.validators]
    return genesis_document(
        genesis.chain_id,
        validators,
        genesis_time=genesis.genesis_time,
        initial_height=genesis.initial_height,
        params=genesis.consensus_params,
    )


def set_toml_key(text: str, section: str, key: str, value: str) -> str:
    """Replace `key = ...` inside `[section]` ("" for the top level) of a config.toml CometBFT wrote."""
    lines = text.split("\n")
    current = ""
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stripped[1:-1]
        elif current == section and re.match(rf"^{re.escape(key)}\s*=", stripped):
            lines[index] = f"{key} = {value}"
            return "\n".join(lines)
    raise ValueError(f"config.toml has no {key} in [{section}]")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _configure(
    binary: str, home: Path, genesis: Genesis, peers: str, moniker: str = "cometbft-syncer"
) -> tuple[int, int]:
    """A `cometbft init` home for the chain (in-process kvstore, pex off); returns (p2p, rpc) ports."""
    subprocess.run([binary, "init", "--home", str(home)], check=True, capture_output=True, timeout=60)
    write_genesis(home / "config" / "genesis.json", genesis_json(genesis))
    path = home / "config" / "config.toml"
    text = path.read_text()
    p2p_port, rpc_port = _free_port(), _free_port()
    for section, key, value in (
        ("", "proxy_app", '"kvstore"'),
        ("", "moniker", f'"{moniker}"'),
        ("", "log_level", '"state:info,*:error"'),
        ("rpc", "laddr", f'"tcp://127.0.0.1:{rpc_port}"'),
        ("p2p", "laddr", f'"tcp://127.0.0.1:{p2p_port}"'),
        ("p2p", "persistent_peers", f'"{peers}"'),
        ("p2p", "pex", "false"),
        ("p2p", "addr_book_strict", "false"),
        ("p2p", "allow_duplicate_ip", "true"),
    ):
        text = set_toml_key(text, section, key, value)
    path.write_text(text)
    return p2p_port, rpc_port


@contextmanager
def cometbft_servers(binary: str, genesis: Genesis, chain: Path, count: int, timeout: float) -> Iterator[str]:
    """`count` real CometBFT nodes serving the chain stored at `chain` (its LevelDB stores copied into
    each home; each replays the chain into its in-process kvstore at start, then stays in blocksync with
    no peers of its own, answering BlockRequests); yields their `id@host:port` addresses."""
    base = Path(tempfile.mkdtemp(prefix="cometsync-bench-servers-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, base, True)
        addresses, rpc_ports = [], []
        for index in range(count):
            home = base / f"server{index}"
            p2p_port, rpc_port = _configure(binary, home, genesis, "", moniker=f"server{index}")
            for name in ("blockstore.db", "state.db"):
                shutil.copytree(chain / name, home / "data" / name)
            shown = subprocess.run(
                [binary, "show-node-id", "--home", str(home)], check=True, capture_output=True, text=True
            )
            stack.enter_context(running([binary, "start", "--home", str(home)], base / f"server{index}.log"))
            addresses.append(f"{shown.stdout.strip()}@127.0.0.1:{p2p_port}")
            rpc_ports.append(rpc_port)
        deadline = time.monotonic() + timeout
        for port in rpc_ports:
            while _rpc_height(port) is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"a CometBFT server did not finish its start-up ({base})")
                time.sleep(0.5)
        yield ",".join(addresses)


def _rpc_height(port: int) -> int | None:
    """The node's latest block height once its RPC answers (after the handshake replayed the chain)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as answer:
            body = answer.read()
    except OSError:
        return None
    match = re.search(rb'"latest_block_height":\s*"(\d+)"', body)
    return int(match.group(1)) if match else None


@contextmanager
def running(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`argv` started from the repository root with its output in `log`; terminated (killed after 30 s)
    when the block ends."""
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _proc_usage(pid: int) -> tuple[float, float]:
    """(CPU seconds, peak RSS MiB) of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return ticks / os.sysconf("SC_CLK_TCK"), (int(match.group(1)) / 1024 if match else 0.0)


def run_cometbft_syncer(
    binary: str, genesis: Genesis, peers: str, target_height: int, timeout: float
) -> CometBFTResult:
    """Sync to `target_height` with a fresh CometBFT node; rates from its first to its last commit."""
    home = Path(tempfile.mkdtemp(prefix="cometsync-bench-cometbft-"))
    try:
        _configure(binary, home, genesis, peers)
        argv = [binary, "start", "--home", str(home)]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            return _follow(proc, target_height, time.monotonic() + timeout)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            assert proc.stdout is not None
            proc.stdout.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _follow(proc: subprocess.Popen[str], target_height: int, deadline: float) -> CometBFTResult:
    assert proc.stdout is not None
    first: tuple[int, float] | None = None
    while (remaining := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([proc.stdout], [], [], remaining)
        line = proc.stdout.readline() if readable else ""
        if not line:
            break
        match = COMMITTED.match(line)
        if match is None:
            continue
        when = datetime.strptime(match.group(1), "%Y-%m-%d|%H:%M:%S.%f").timestamp()
        height = int(match.group(2))
        if first is None:
            first = (height, when)
        if height >= target_height:
            cpu, rss = _proc_usage(proc.pid)
            return CometBFTResult(first[0], height, when - first[1], cpu, rss)
    raise RuntimeError(f"CometBFT did not reach height {target_height} (exit code {proc.poll()})")
