"""Value checks for address-like settings, so a typo fails at load time naming the key, not at dial time."""

from __future__ import annotations

from collections.abc import Callable

from cometsync.abci.address import BUILTIN_APPS, grpc_target
from cometsync.p2p.errors import P2PError
from cometsync.p2p.netaddress import NetAddress, validate_node_id
from cometsync.plugins import available_engines

UNSUPPORTED_BUILTIN_APPS = ("noop", "kvstore_connsync", "persistent_kvstore_connsync", "e2e", "e2e_connsync")


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
    """A name registered in the `cometsync.consensus` entry-point group (built-in or a plug-in)."""
    names = available_engines()
    if value in names:
        return None
    return f"must be one of {', '.join(map(repr, names))} (registered consensus engines), got {value!r}"


def split_list(value: str) -> list[str]:
    """CometBFT's comma-separated lists: blanks around entries and empty entries are ignored."""
    return [entry.strip() for entry in value.split(",") if entry.strip()]


def non_empty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"
