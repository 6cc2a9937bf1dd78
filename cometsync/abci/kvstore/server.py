"""Serving an `ABCIServicer` over gRPC on a TCP address, failing with a readable reason when it can't bind."""

from __future__ import annotations

import os
import socket
from concurrent.futures import ThreadPoolExecutor

import grpc

from cometsync.abci.address import split_host_port
from cometsync.proto.tendermint.abci import types_pb2_grpc as abci_grpc


class ServerStartError(Exception):
    """The gRPC server could not listen on the requested address."""


def _bind_failure_reason(target: str) -> str | None:
    """Why a plain socket cannot bind `target` (None if it can): gRPC itself only says "failed"."""
    if target.startswith("unix:"):
        path = target.removeprefix("unix:").removeprefix("//")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(path)
            except OSError as exc:
                return exc.strerror or str(exc)
        os.unlink(path)
        return None
    host, port = split_host_port(target)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"address lookup failed: {exc}"
    family, kind, proto, _, sockaddr = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(sockaddr)
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


class ABCIGrpcServer:
    """A `tendermint.abci.ABCI` gRPC server; `start()` returns the bound port (useful with port 0)."""

    def __init__(self, servicer: abci_grpc.ABCIServicer, target: str, workers: int = 8) -> None:
        self._target = target
        # SO_REUSEPORT (gRPC's default) would let a second app silently share a port already in use.
        self._server = grpc.server(
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="abci-server"),
            options=[("grpc.so_reuseport", 0)],
        )
        abci_grpc.add_ABCIServicer_to_server(servicer, self._server)  # type: ignore[no-untyped-call]

    def start(self) -> int:
        """Bind and serve; the address is probed first so gRPC's C core never logs its own bind error."""
        reason = _bind_failure_reason(self._target)
        if reason is None:
            try:
                port: int = self._server.add_insecure_port(self._target)
            except RuntimeError:
                reason = _bind_failure_reason(self._target) or "gRPC could not bind it"
        if reason is not None:
            raise ServerStartError(f"cannot listen on {self._target}: {reason}")
        self._server.start()
        return port

    def stop(self, grace_seconds: float) -> None:
        """Refuse new calls, let running ones finish for up to `grace_seconds`, then close."""
        self._server.stop(grace_seconds).wait()
