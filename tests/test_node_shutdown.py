"""SIGTERM (and a terminal's Ctrl-C to the process group) at several moments of a syncing `cometsync start`:
it must exit 0 within a bounded time, with its stores closed and reopenable, and resume on the next start.

One solo producer runs throughout; the same follower home is stopped and restarted at each moment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from abci_process import proc_stat
from node_cli import handed_off, producer_and_follower, reached, rpc, spawn_cli, stop_process, wait_for

from cometsync.crypto import load_node_key
from cometsync.state import StateStore
from cometsync.store import BlockStore

EXIT_BOUND_SECONDS = 15.0
POLL_SECONDS = 0.02


@dataclass
class Network:
    producer_home: Path
    follower_home: Path
    base_port: int
    producer_address: str
    logs: Path
    followers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def follower_rpc(self) -> int:
        return self.base_port + 11


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    root = tmp_path_factory.mktemp("shutdown")
    producer_home, follower_home, base = producer_and_follower(root, "30ms")
    producer_id = load_node_key(producer_home / "config" / "node_key.json").node_id
    producer = spawn_cli(["start", "--home", str(producer_home)], root / "node0.log")
    network = Network(producer_home, follower_home, base, f"{producer_id}@127.0.0.1:{base}", root)
    try:
        wait_for(lambda: reached(base + 1, 120), 90, "the producer at height 120")
        yield network
    finally:
        for follower in network.followers:  # left running by a failed test
            if follower.poll() is None:
                follower.kill()
                follower.wait(10)
        assert stop_process(producer) == 0


def _pool_height(port: int) -> int | None:
    status = rpc(port, "blocksync_status", timeout=1.0)
    return None if status is None else int(status["height"])


def _poll(probe: Callable[[], bool], timeout: float, what: str) -> None:
    """A fast poll (the moments being hit are short); fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _log_has(log: Path, text: str) -> bool:
    return log.exists() and text in log.read_text(errors="replace")


def _stop_and_check(
    network: Network, follower: subprocess.Popen[bytes], log: Path, *, group_sigint: bool = False
) -> None:
    """Signal the follower; it must exit 0 within the bound and leave stores that reopen consistent."""
    if group_sigint:
        os.killpg(follower.pid, signal.SIGINT)
    else:
        follower.send_signal(signal.SIGTERM)
    try:
        code = follower.wait(EXIT_BOUND_SECONDS)
    except subprocess.TimeoutExpired:
        follower.kill()
        follower.wait(10)
        raise AssertionError(
            f"no exit within {EXIT_BOUND_SECONDS:.0f}s:\n{log.read_text()[-3000:]}"
        ) from None
    output = log.read_text(errors="replace")
    assert code == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    data = network.follower_home / "data"
    blocks, states = BlockStore.open(data / "blockstore.db"), StateStore.open(data / "state.db")
    try:
        state = states.load()
        assert state is None or state.last_block_height == blocks.height
    finally:
        blocks.close()
        states.close()


def _start_follower(
    network: Network, name: str, *, new_session: bool = False
) -> tuple[subprocess.Popen[bytes], Path]:
    log = network.logs / f"follower-{name}.log"
    follower = spawn_cli(
        ["start", "--home", str(network.follower_home), "--p2p.persistent_peers", network.producer_address],
        log,
        new_session=new_session,
    )
    network.followers.append(follower)
    return follower, log


def _follower_height(network: Network) -> int:
    blocks = BlockStore.open(network.follower_home / "data" / "blockstore.db")
    try:
        return blocks.height
    finally:
        blocks.close()


def _resumes_from(port: int, stored_height: int) -> None:
    """The restarted node's pool starts right after what the stopped one stored: nothing was lost."""
    status = wait_for(lambda: rpc(port, "blocksync_status", timeout=1.0), 60, "the follower's RPC")
    assert int(status["start_height"]) == stored_height + 1


def test_sigterm_at_every_moment_exits_cleanly(network: Network) -> None:
    port = network.follower_rpc
    # 1. During the sync: the pool has started applying blocks but is far from the producer's height.
    follower, log = _start_follower(network, "during-sync")
    _poll(lambda: (_pool_height(port) or 0) > 2, 60, "the follower to apply blocks")
    _stop_and_check(network, follower, log)
    stored = _follower_height(network)
    assert stored >= 1

    # 2. Right at hand-off (the log line is written as the switch happens).
    follower, log = _start_follower(network, "handoff")
    _resumes_from(port, stored)
    _poll(lambda: _log_has(log, "event=handoff"), 60, "the hand-off")
    _stop_and_check(network, follower, log)
    stored = _follower_height(network)

    # 3. While following the producer.
    follower, log = _start_follower(network, "following")
    _resumes_from(port, stored)
    wait_for(lambda: handed_off(port), 60, "the hand-off")
    target = _follower_height_rpc(port) + 5
    wait_for(lambda: reached(port, target), 60, "the follower to follow")
    _stop_and_check(network, follower, log)

    # 4. As soon as the RPC answers (the pool still waits for peers to report).
    follower, log = _start_follower(network, "just-started")
    wait_for(lambda: rpc(port, "health", timeout=1.0), 60, "the follower's RPC")
    _stop_and_check(network, follower, log)


def _follower_height_rpc(port: int) -> int:
    status = rpc(port, "status")
    assert status is not None
    return int(status["sync_info"]["latest_block_height"])


def test_ctrl_c_to_the_process_group_while_syncing(network: Network) -> None:
    """A terminal's Ctrl-C reaches the node and its kvstore child at once: still exit 0 and resumable."""
    port = network.follower_rpc
    for moment in ("syncing", "following"):
        follower, log = _start_follower(network, f"ctrl-c-{moment}", new_session=True)
        if moment == "syncing":
            wait_for(lambda: rpc(port, "health", timeout=1.0), 60, "the follower's RPC")
        else:
            wait_for(lambda: handed_off(port), 60, "the hand-off")
        _stop_and_check(network, follower, log, group_sigint=True)


def _children(pid: int) -> list[int]:
    """Pids whose parent is `pid`, from /proc (Linux)."""
    entries = (entry for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return [int(entry.name) for entry in entries if (proc_stat(entry) or ["", ""])[1] == str(pid)]


def _gone(pid: int) -> bool:
    """Exited: no /proc entry, or a zombie not yet reaped by init."""
    fields = proc_stat(Path(f"/proc/{pid}"))
    return fields is None or fields[0] == "Z"


def _descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        children = _children(frontier.pop())
        found += children
        frontier += children
    return found


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _verify_workers(pid: int) -> list[int] | None:
    """The node's verify worker processes once there are two (`verify_workers` = 2), else None."""
    workers = [
        child
        for child in _descendants(pid)
        if "multiprocessing" in (line := _command_line(child)) and "resource_tracker" not in line
    ]
    return workers if len(workers) >= 2 else None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="the parent-death signal is Linux only")
def test_sigkilled_node_leaves_no_child_behind(network: Network) -> None:
    """No orphan (kvstore app, signature-verifier workers) keeps the app's port and LevelDB lock or a
    CPU: the next start of the same home works at once."""
    port = network.follower_rpc
    follower, log = _start_follower(network, "sigkill")
    wait_for(lambda: rpc(port, "health", timeout=1.0), 60, "the follower's RPC")
    # The workers start with the first commit checked ahead, i.e. once blocks arrive.
    wait_for(lambda: _verify_workers(follower.pid), 60, "the verify workers")
    descendants = _descendants(follower.pid)
    assert any("app_child" in _command_line(child) for child in descendants), "the kvstore app is a child"
    follower.kill()
    follower.wait(10)
    _poll(lambda: all(_gone(child) for child in descendants), EXIT_BOUND_SECONDS, "the orphans to exit")
    stored = _follower_height(network)
    follower, log = _start_follower(network, "after-sigkill")
    _resumes_from(port, stored)
    _stop_and_check(network, follower, log)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the kvstore child through /proc")
def test_sigterm_while_the_kvstore_app_starts_exits_cleanly(network: Network) -> None:
    """A stop that tears down what start-up waits on is a clean stop (exit 0), not a start-up error."""
    follower, log = _start_follower(network, "during-start-up")
    _poll(lambda: bool(_children(follower.pid)), 60, "the kvstore child to be spawned")
    _stop_and_check(network, follower, log)
    output = log.read_text(errors="replace")
    assert "start-up interrupted by SIGTERM" in output, output[-3000:]
    assert "error:" not in output, output[-3000:]
