"""A real CometBFT node as a subprocess: `cometbft init`, loopback-only config edits, start, stop, RPC."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

BIN_ENV = "COMETBFT_BIN"


def cometbft_bin() -> str:
    """The binary from COMETBFT_BIN; the test is skipped (with the reason) where none is configured."""
    path = os.environ.get(BIN_ENV, "")
    if not path or not Path(path).is_file() or not os.access(path, os.X_OK):
        pytest.skip(f"{BIN_ENV} does not point at a CometBFT v0.38 binary (set it to run interop tests)")
    return path


def run(binary: str, *args: str) -> str:
    done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def init_home(binary: str, home: Path) -> None:
    run(binary, "init", "--home", str(home))


def node_id(binary: str, home: Path) -> str:
    return run(binary, "show-node-id", "--home", str(home))


def configure(home: Path, *, p2p_port: int, rpc_port: int, peers: str = "", **extra: str) -> None:
    """Loopback addresses and local-network settings, as CometBFT's own localnet does; `extra` sets
    other top-level-unique keys (e.g. proxy_app='"kvstore"', timeout_commit='"100ms"')."""
    settings = {
        "persistent_peers": f'"{peers}"',
        "addr_book_strict": "false",
        "allow_duplicate_ip": "true",
        "pprof_laddr": '""',
        **extra,
    }
    path = home / "config" / "config.toml"
    text = path.read_text()
    text = re.sub(r'(?m)^laddr = "tcp://0\.0\.0\.0:26656"$', f'laddr = "tcp://127.0.0.1:{p2p_port}"', text)
    text = re.sub(r'(?m)^laddr = "tcp://127\.0\.0\.1:26657"$', f'laddr = "tcp://127.0.0.1:{rpc_port}"', text)
    for key, value in settings.items():
        text, count = re.subn(rf"(?m)^{re.escape(key)} = .*$", f"{key} = {value}", text)
        assert count == 1, f"{key} is not a unique key of CometBFT's config.toml"
    path.write_text(text)


def spawn(binary: str, home: Path, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    try:
        return subprocess.Popen([binary, "start", "--home", str(home)], stdout=out, stderr=subprocess.STDOUT)
    finally:
        out.close()
