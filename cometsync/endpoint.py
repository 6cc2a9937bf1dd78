"""Addresses as CometBFT's config spells them: `tcp://host:port`, `host:port` or `unix:///path`.

One parser for the ABCI socket address and the RPC/metrics listen addresses, so they read a value alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

UNIX_SCHEME = "unix://"
TCP_SCHEME = "tcp://"


@dataclass(frozen=True)
class Endpoint:
    """A TCP host and port (an empty host: every interface), or a unix socket path (`path` set)."""

    host: str = ""
    port: int = 0
    path: str = ""

    @classmethod
    def parse_as(cls, text: str, what: str, *, any_host: bool = False, used_by: str = "") -> Self:
        """ValueError naming `what` ("ABCI address", "listen address") for anything else; `any_host`
        accepts an empty host, as listen addresses do (`:26660`); `used_by` names who refuses a scheme."""
        value = text.strip()
        if value.startswith(UNIX_SCHEME):
            path = value[len(UNIX_SCHEME) :]
            if not path:
                raise ValueError(f"{what} {text!r} has an empty unix socket path")
            return cls(path=path)
        value = value.removeprefix(TCP_SCHEME)
        if "://" in value:
            refused_by = f" for {used_by}" if used_by else ""
            raise ValueError(f"{what} {text!r}: unsupported scheme{refused_by} (use tcp:// or unix://)")
        host, sep, port = value.rpartition(":")
        if not sep or not (host or any_host) or not port.isdigit() or int(port) > 0xFFFF:
            raise ValueError(f"{what} {text!r} is not host:port (e.g. 127.0.0.1:26658)")
        return cls(host=host.strip("[]"), port=int(port))

    def __str__(self) -> str:
        """`unix://path` or `host:port`: what `parse_as` reads back."""
        return f"{UNIX_SCHEME}{self.path}" if self.path else f"{self.host}:{self.port}"
