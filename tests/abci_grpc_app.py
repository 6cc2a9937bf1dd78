"""Test helpers: the kvstore app as a real subprocess, and a minimal Deferred gRPC ConsensusApp for it.

The gRPC adapter is only a test harness for cometsync.state (sync stub calls run in Twisted's thread
pool); the project's own ABCI client lives in cometsync.abci.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import grpc
from twisted.internet import defer, threads

from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.proto.tendermint.abci import types_pb2_grpc as abci_grpc

CALL_TIMEOUT_SECONDS = 30.0
READY_PREFIX = "kvstore listening on "

Req = TypeVar("Req")
Resp = TypeVar("Resp")


def start_kvstore(home: Path) -> tuple[subprocess.Popen[str], str]:
    """Run `cometsync kvstore --home HOME --listen 127.0.0.1:0`; return the process and its address."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from cometsync.cli.main import main; main()",
            "kvstore",
            "--home",
            str(home),
            "--listen",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith(READY_PREFIX):
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise RuntimeError(f"kvstore did not start: {line!r} {err!r}")
    return proc, line[len(READY_PREFIX) :].strip()


def stop_process(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


class GrpcConsensusApp:
    """`cometsync.state.ConsensusApp` over a gRPC channel (blocking stub calls in threads)."""

    def __init__(self, address: str) -> None:
        self._channel = grpc.insecure_channel(address)
        self._stub = abci_grpc.ABCIStub(self._channel)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self._channel.close()

    @staticmethod
    def _call(method: Callable[..., Resp], request: Req) -> defer.Deferred[Resp]:
        return threads.deferToThread(method, request, timeout=CALL_TIMEOUT_SECONDS, wait_for_ready=True)

    def info(self, request: abci_pb2.RequestInfo) -> defer.Deferred[abci_pb2.ResponseInfo]:
        return self._call(self._stub.Info, request)

    def init_chain(self, request: abci_pb2.RequestInitChain) -> defer.Deferred[abci_pb2.ResponseInitChain]:
        return self._call(self._stub.InitChain, request)

    def finalize_block(
        self, request: abci_pb2.RequestFinalizeBlock
    ) -> defer.Deferred[abci_pb2.ResponseFinalizeBlock]:
        return self._call(self._stub.FinalizeBlock, request)

    def commit(self, request: abci_pb2.RequestCommit) -> defer.Deferred[abci_pb2.ResponseCommit]:
        return self._call(self._stub.Commit, request)
