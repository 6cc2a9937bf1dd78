"""ABCI addresses as CometBFT's `proxy_app` spells them, for the gRPC and the socket transports."""

from __future__ import annotations

from cometsync.endpoint import UNIX_SCHEME, Endpoint

_TCP_SCHEMES = ("grpc://", "tcp://")
BUILTIN_APPS = ("kvstore", "persistent_kvstore")
"""CometBFT's built-in app names that cometsync serves with its own kvstore in a child process (persistent
under the home, like CometBFT's `persistent_kvstore`)."""


def _host_port(address: str, text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"ABCI address {address!r} is not host:port (e.g. 127.0.0.1:26658)")
    return host, int(port)


def _unix_path(address: str, text: str) -> str:
    path = text[len(UNIX_SCHEME) :]
    if not path:
        raise ValueError(f"ABCI address {address!r} has an empty unix socket path")
    return path


def grpc_target(address: str) -> str:
    """`grpc://host:port`, `tcp://host:port`, `host:port` -> `host:port`; `unix://path` stays a unix target.

    Raises ValueError with the reason when the address cannot name a gRPC endpoint.
    """
    text = address.strip()
    if text.startswith(UNIX_SCHEME):
        _unix_path(address, text)
        return text
    for scheme in _TCP_SCHEMES:
        if text.startswith(scheme):
            text = text[len(scheme) :]
            break
    else:
        if "://" in text:
            raise ValueError(f"ABCI address {address!r}: unsupported scheme (use grpc://, tcp:// or unix://)")
    host, port = _host_port(address, text)
    return f"{host}:{port}"


def split_host_port(target: str) -> tuple[str, int]:
    """`host:port` (as returned by `grpc_target`) -> (host without IPv6 brackets, port)."""
    host, _, port = target.rpartition(":")
    return host.strip("[]"), int(port)


class SocketAddress(Endpoint):
    """Where a socket-protocol app listens: a TCP host and port, or a unix socket path (`path` set)."""

    @classmethod
    def parse(cls, address: str) -> SocketAddress:
        """`tcp://host:port`, `host:port` or `unix:///path`; ValueError with the reason otherwise."""
        return cls.parse_as(address, "ABCI address", used_by="the socket transport")
