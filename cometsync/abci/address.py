"""ABCI addresses as CometBFT's `proxy_app` spells them, turned into gRPC targets."""

from __future__ import annotations

_TCP_SCHEMES = ("grpc://", "tcp://")


def grpc_target(address: str) -> str:
    """`grpc://host:port`, `tcp://host:port`, `host:port` -> `host:port`; `unix://path` stays a unix target.

    Raises ValueError with the reason when the address cannot name a gRPC endpoint.
    """
    text = address.strip()
    if text.startswith("unix://"):
        if len(text) == len("unix://"):
            raise ValueError(f"ABCI address {address!r} has an empty unix socket path")
        return text
    for scheme in _TCP_SCHEMES:
        if text.startswith(scheme):
            text = text[len(scheme) :]
            break
    else:
        if "://" in text:
            raise ValueError(f"ABCI address {address!r}: unsupported scheme (use grpc://, tcp:// or unix://)")
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"ABCI address {address!r} is not host:port (e.g. 127.0.0.1:26658)")
    return f"{host}:{int(port)}"


def split_host_port(target: str) -> tuple[str, int]:
    """`host:port` (as returned by `grpc_target`) -> (host without IPv6 brackets, port)."""
    host, _, port = target.rpartition(":")
    return host.strip("[]"), int(port)
