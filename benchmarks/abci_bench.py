"""ABCI transport cost: FinalizeBlock+Commit round trips per second over the socket protocol vs gRPC.

Run: `python benchmarks/abci_bench.py [--blocks N --txs T --tx-size B]`. One app process serves the
built-in kvstore (in memory) over both transports at once, the same `KVStoreApp` behind each, so the only
difference measured is the transport and its client. This process drives N blocks of T txs through each
client in turn (FinalizeBlock then Commit, sequential, as a syncing node does), on the node's real
connection set (`cometsync.abci.connect.open_connections`), and prints rates and their ratio from the run.
"""

from __future__ import annotations

import argparse
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from twisted.internet import defer, task

from cometsync.abci.connect import open_connections
from cometsync.abci.kvstore.serve import READY_PREFIX
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2

READY_TIMEOUT_SECONDS = 60.0
APP_MAIN = """
import signal
from cometsync.abci.kvstore.app import KVStoreApp
from cometsync.abci.kvstore.serve import STOP_SIGNALS, announce_ready, server_for
from cometsync.abci.kvstore.store import MemoryStorage
signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
app = KVStoreApp(MemoryStorage())
servers = [server_for(transport, "127.0.0.1:0") for transport in ("socket", "grpc")]
addresses = [server.start(app) for server in servers]
announce_ready(" ".join(addresses))
signal.sigwait(STOP_SIGNALS)
for server in servers:
    server.stop(1.0)
"""


def start_app() -> tuple[subprocess.Popen[str], dict[str, str]]:
    """The two-transport app process and its address per transport."""
    proc = subprocess.Popen([sys.executable, "-c", APP_MAIN], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    readable, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT_SECONDS)
    line = proc.stdout.readline() if readable else ""
    if not line.startswith(READY_PREFIX):
        proc.kill()
        raise SystemExit(f"the app did not start: {line!r}")
    socket_address, grpc_address = line[len(READY_PREFIX) :].split()
    return proc, {"socket": socket_address, "grpc": f"grpc://{grpc_address}"}


async def round_trips(address: str, transport: str, blocks: int, txs: Sequence[bytes], first: int) -> float:
    """Blocks per second of FinalizeBlock+Commit, from heights `first`.. on."""
    conns = await open_connections(address, transport)
    try:
        started = time.perf_counter()
        for height in range(first, first + blocks):
            await conns.finalize_block(abci_pb2.RequestFinalizeBlock(height=height, txs=txs))
            await conns.commit(abci_pb2.RequestCommit())
        return blocks / (time.perf_counter() - started)
    finally:
        conns.close()


def main(reactor: Any, args: argparse.Namespace) -> defer.Deferred[None]:
    proc, addresses = start_app()

    async def run() -> None:
        try:
            height = 1
            rates: dict[str, float] = {}
            for transport in ("grpc", "socket"):
                txs = [f"k{height}-{n}=".encode().ljust(args.tx_size, b"v") for n in range(args.txs)]
                rates[transport] = await round_trips(
                    addresses[transport], transport, args.blocks, txs, height
                )
                height += args.blocks
            print(f"{args.blocks} blocks of {args.txs} txs of {args.tx_size} B, FinalizeBlock+Commit:")
            for transport, rate in rates.items():
                print(f"  {transport:6} {rate:10.1f} blocks/s")
            print(f"  socket/grpc ratio {rates['socket'] / rates['grpc']:.2f}")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)

    return defer.ensureDeferred(run())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--txs", type=int, default=10)
    parser.add_argument("--tx-size", type=int, default=64)
    return parser.parse_args()


if __name__ == "__main__":
    task.react(main, [parse_args()])
