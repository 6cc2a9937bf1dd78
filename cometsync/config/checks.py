"""Value checks for address-like settings, so a typo fails at load time naming the key, not at dial time."""

from __future__ import annotations

import os
from collections.abc import Callable

from cometsync.abci.address import BUILTIN_APPS, grpc_target
from cometsync.p2p.errors import P2PError
from cometsync.p2p.netaddress import NetAddress, validate_node_id
from cometsync.plugins import available_engines

UNSUPPORTED_BUILTIN_APPS = ("noop", "kvstore_connsync", "persistent_kvstore_connsync", "e2e", "e2e_connsync")
AUTO_ENGINE = "auto"
"""Chosen at start from the state (`cometsync.consensus.choice`)."""


def listen_address(*, optional: bool = False, unix: bool = False) -> Callable[[str], str | None]:
    """A check for `[tcp://]host:port` (host may be empty, meaning all interfaces), or `unix://path`."""

    def check(value: str) -> str | None:
        if not value:
            return None if optional else "must not be empty"
        if value.startswith("unix://"):
            return None if unix and len(value) > len("unix://") else f"{value!r}: use tcp://host:port"
        host_port = value.removeprefix("tcp://")
        if "://" in host_port:
            return f"{value!r}: unsupported scheme (use tcp://host:port)"
        _, sep, port = host_port.rpartition(":")
        if not sep or not port.isdigit() or int(port) > 0xFFFF:
            return f"{value!r} is not host:port (e.g. tcp://127.0.0.1:26657)"
        return None

    return check


def peer_list(value: str) -> str | None:
    """Comma-separated `id@host:port` entries, as in `persistent_peers` and `seeds`."""
    for entry in split_list(value):
        try:
            NetAddress.parse(entry)
        except P2PError as exc:
            return str(exc)
    return None


def node_id_list(value: str) -> str | None:
    """Comma-separated node ids (`unconditional_peer_ids`, `private_peer_ids`)."""
    for entry in split_list(value):
        try:
            validate_node_id(entry)
        except P2PError as exc:
            return str(exc)
    return None


def proxy_app(value: str) -> str | None:
    """A built-in app name (run as a child process) or the address of an ABCI app, for either transport."""
    if value in BUILTIN_APPS:
        return None
    if value in UNSUPPORTED_BUILTIN_APPS:
        return (
            f"CometBFT's built-in app {value!r} is not available in cometsync; use "
            f"{' or '.join(map(repr, BUILTIN_APPS))}, or run the app yourself and give its address"
        )
    try:
        grpc_target(value)
    except ValueError as exc:
        return f"{exc}; or use the built-in app: {', '.join(BUILTIN_APPS)}"
    return None


def consensus_engine(value: str) -> str | None:
    """`auto`, or a name registered in the `cometsync.consensus` entry-point group (built-in or plug-in)."""
    names = [AUTO_ENGINE, *available_engines()]
    if value in names:
        return None
    return f"must be one of {', '.join(map(repr, names))} (registered consensus engines), got {value!r}"


LOG_LEVELS = ("debug", "info", "error", "none")
MAX_VERIFY_WORKERS = 64
WORKERS_PER_CORE = 4


def log_level(value: str) -> str | None:
    """CometBFT's `log_level`: a level, or `module:level` pairs separated by commas (`*` for the rest)."""
    levels = ", ".join(map(repr, LOG_LEVELS))
    if ":" not in value:
        return (
            None if value in LOG_LEVELS else f"must be one of {levels} or module:level pairs, got {value!r}"
        )
    for pair in value.split(","):
        module, sep, level = pair.partition(":")
        if not sep or not module or ":" in level:
            return f'expected "module:level" pairs separated by commas, got {pair!r} in {value!r}'
        if level not in LOG_LEVELS:
            return f"level of {module!r} must be one of {levels}, got {level!r}"
    return None


def max_verify_workers() -> int:
    """Verify processes beyond a few per core only cost memory (each one holds a Python interpreter)."""
    return min(MAX_VERIFY_WORKERS, WORKERS_PER_CORE * (os.cpu_count() or 1))


def verify_workers(value: int) -> str | None:
    limit = max_verify_workers()
    if value <= limit:
        return None
    return (
        f"must be at most {limit} ({WORKERS_PER_CORE} per CPU core on this machine's {os.cpu_count() or 1}, "
        f"never more than {MAX_VERIFY_WORKERS}), got {value}"
    )


def split_list(value: str) -> list[str]:
    """CometBFT's comma-separated lists: blanks around entries and empty entries are ignored."""
    return [entry.strip() for entry in value.split(",") if entry.strip()]


def non_empty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"
