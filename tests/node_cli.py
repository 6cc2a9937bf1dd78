"""Helpers for tests that run `cometsync` as a subprocess: free port blocks, bounded waits, RPC reads."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from cometsync.config import free_starting_port as free_port_block

T = TypeVar("T")
CLI = [sys.executable, "-m", "cometsync"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


def run_cli(args: Sequence[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env=cli_env(), check=False
    )


def spawn_cli(args: Sequence[str], log: Path, *, new_session: bool = False) -> subprocess.Popen[bytes]:
    """A long-running command with stdout+stderr going to `log` (read it with `log.read_text()`);
    `new_session` makes it a process group of its own (a terminal's Ctrl-C reaches the whole group)."""
    out = log.open("wb")
    try:
        return subprocess.Popen(
            [*CLI, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=cli_env(),
            start_new_session=new_session,
        )
    finally:
        out.close()


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM, wait; SIGKILL if it does not exit in time. Returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    return int(process.returncode)


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll `probe` until it returns something other than None; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value is not None:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def rpc(port: int, path: str, timeout: float = 5.0) -> Any:
    """GET http://127.0.0.1:port/path; the `result` of the JSON-RPC envelope, or None if unreachable."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/{path}", timeout=timeout) as response:
            return json.loads(response.read())["result"]
    except (OSError, ValueError, KeyError):
        return None


def height_of(port: int) -> int | None:
    status = rpc(port, "status")
    return None if status is None else int(status["sync_info"]["latest_block_height"])


def reached(port: int, height: int) -> int | None:
    """The node's height once it is at least `height` (for `wait_for`)."""
    current = height_of(port)
    return current if current is not None and current >= height else None


def handed_off(port: int) -> bool | None:
    """True once the node's RPC says it is no longer catching up (for `wait_for`)."""
    status = rpc(port, "status")
    return True if status is not None and not status["sync_info"]["catching_up"] else None


def producer_and_follower(root: Path, timeout_commit: str) -> tuple[Path, Path, int]:
    """`cometsync testnet` with one solo producer (node0) and one follower (node1) on free ports.

    Returns both homes and the base port (node0 p2p = base, node0 rpc = base + 1, node1 rpc = base + 11).
    """
    from cometsync.config import load_config, save_config

    base = free_port_block(2)
    made = run_cli(
        [
            "testnet",
            "--v",
            "1",
            "--n",
            "1",
            "--o",
            str(root),
            "--starting-port",
            str(base),
            "--no-populate-persistent-peers",
        ]
    )
    assert made.returncode == 0, made.stderr
    producer, follower = root / "node0", root / "node1"
    for home in (producer, follower):
        config = load_config(home)
        config.override("consensus.timeout_commit", timeout_commit)
        save_config(config)
    return producer, follower, base


def start_with_app(home: Path, app_port: int, p2p_port: int, rpc_port: int) -> list[str]:
    """`cometsync start` arguments for a home whose app runs apart (`cometsync kvstore --listen`), with
    the ports given as CometBFT's flags (the home's config.toml stays untouched)."""
    return [
        "start",
        "--home",
        str(home),
        "--proxy_app",
        f"tcp://127.0.0.1:{app_port}",
        "--p2p.laddr",
        f"tcp://127.0.0.1:{p2p_port}",
        "--rpc.laddr",
        f"tcp://127.0.0.1:{rpc_port}",
    ]
