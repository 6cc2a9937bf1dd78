"""Sync time and peak RSS under attack, as ratios of an honest-only run on the same chain in the same run.

Run: `python benchmarks/attack_bench.py [--blocks N --scenarios honest,flood,... --bomb-txs 5000000]`.
The chain is `sync_bench`'s cached devnet chain (built on first use). Per scenario a fresh syncing node
(default settings, its own process so its peak RSS is its own) dials one honest serving node and the
scenario's attackers, all served by a second process from the cached store:
* `flood`: claims the tip, never answers, sends real blocks nobody asked for (stale, tip, random);
* `txbomb`: answers every request with the real block plus `--bomb-txs` empty txs (2 bytes each);
* `oversized`: answers its first request with a `--oversized-mib` MiB message (above the channel capacity);
* `padded`: a StatusResponse padded to 64 KiB;
* `liar`: claims 10^9 and answers every request with NoBlockResponse;
* `liar-tip`: claims 10^9, serves the real blocks below the tip and refuses the tip and above;
* `lowering`: claims the tip, serves 10 blocks, then lowers its claimed height;
* `mixed`: a `liar-tip`, a bad-block peer (every block with a forged tx) and a `flood` peer at once.
Printed per scenario: seconds to the switch to consensus and to the last block applied, the switch time's
ratio to honest, the syncer's peak RSS, and whether every attacker was banned and disconnected.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet import defer, task

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sync_bench

from cometsync.abci.connect import open_connections
from cometsync.blocksync.handoff import DeferredHandoff
from cometsync.blocksync.reactor import BlocksyncReactor
from cometsync.crypto import PrivKey
from cometsync.crypto.keyfiles import NodeKey
from cometsync.p2p.switch import Switch
from cometsync.state import BlockExecutor, Handshaker, State
from cometsync.store import BlockStore
from cometsync.testing.attack_peers import (
    AttackerFactory,
    Behaviour,
    Corrupt,
    Flood,
    Liar,
    Lowering,
    Oversized,
    Padded,
    RequestFlood,
    TxBomb,
)

SCENARIOS = (
    "honest",
    "flood",
    "reqflood",
    "txbomb",
    "oversized",
    "padded",
    "liar",
    "liar-tip",
    "lowering",
    "mixed",
)
ATTACKER_SEED = 77
RESULT = "result "

Maker = Callable[[BlockStore], Behaviour]


def behaviours(scenario: str, args: argparse.Namespace) -> list[Maker]:
    """The attackers of `scenario`, one Behaviour maker each (none for `honest`)."""
    makers: dict[str, list[Maker]] = {
        "honest": [],
        "flood": [Flood],
        "reqflood": [RequestFlood],
        "txbomb": [lambda store: TxBomb(store, args.bomb_txs)],
        "oversized": [lambda store: Oversized(store, args.oversized_mib * 1024 * 1024)],
        "padded": [lambda store: Padded(store, 64 * 1024)],
        "liar": [lambda store: Liar(store, refuse_from=1)],
        "liar-tip": [Liar],
        "lowering": [Lowering],
        "mixed": [Liar, Corrupt, Flood],
    }
    return makers[scenario]


def attacker_ids(count: int) -> list[str]:
    return [PrivKey(bytes([ATTACKER_SEED + i]) * 32).pub_key.address().hex() for i in range(count)]


async def serve(reactor: Any, folder: Path, scenario: str, args: argparse.Namespace) -> None:
    """One honest node and the scenario's attackers listening, until SIGTERM."""
    block_store, state_store = sync_bench.open_stores(folder)
    state = state_store.load()
    assert state is not None
    served = BlocksyncReactor(
        state, block_store, sync_bench.ServeOnlyExecutor(), sync_bench.NoHandoff(), reactor
    )
    switch = Switch(NodeKey(PrivKey(bytes([100]) * 32)), state.chain_id, "honest", reactor=reactor)
    switch.add_reactor("BLOCKSYNC", served)
    port = switch.listen("127.0.0.1", 0)
    served.start(blocksync=False)
    addresses = [f"{switch.node_key.node_id}@127.0.0.1:{port}"]
    makers = behaviours(scenario, args)
    for i, (make, attacker_id) in enumerate(zip(makers, attacker_ids(len(makers)), strict=True)):
        factory = AttackerFactory(ATTACKER_SEED + i, state.chain_id, functools.partial(make, block_store))
        listening = reactor.listenTCP(0, factory, interface="127.0.0.1")
        addresses.append(f"{attacker_id}@127.0.0.1:{listening.getHost().port}")
    print(sync_bench.SERVING + ",".join(addresses), flush=True)
    stopped: defer.Deferred[None] = defer.Deferred()
    reactor.addSystemEventTrigger("before", "shutdown", lambda: stopped.called or stopped.callback(None))
    await stopped


class LastBlockClock:
    """When the store's height last grew (polled): the sync's end, whatever the switch decision waits for."""

    def __init__(self, store: BlockStore, began: float) -> None:
        self.store = store
        self.height = store.height
        self.at = began
        self.loop = task.LoopingCall(self._poll)
        self.loop.start(0.02)

    def _poll(self) -> None:
        if self.store.height > self.height:
            self.height, self.at = self.store.height, time.perf_counter()


async def sync_once(reactor: Any, params: sync_bench.ChainParams, servers: str) -> dict[str, Any]:
    """The syncing node (this process): default settings, persistent peers, until the switch."""
    home = Path(tempfile.mkdtemp(prefix="cometsync-attack-"))
    block_store, state_store = sync_bench.open_stores(home / "node")
    try:
        with sync_bench.kvstore(home / "kvstore", "socket") as address:
            app = await open_connections(address, "socket", reactor=reactor)
            try:
                state = await Handshaker(state_store, block_store, params.spec.genesis(), app).handshake()
                handoff: DeferredHandoff[State] = DeferredHandoff()
                syncer = BlocksyncReactor(
                    state,
                    block_store,
                    BlockExecutor(state_store, block_store, app),
                    handoff,
                    reactor,
                    call_from_thread=reactor.callFromThread,
                )
                switch = Switch(NodeKey(PrivKey(bytes([1]) * 32)), state.chain_id, "syncer", reactor=reactor)
                switch.add_reactor("BLOCKSYNC", syncer)
                switch.listen("127.0.0.1", 0)
                began = time.perf_counter()
                last_block = LastBlockClock(block_store, began)
                syncer.start()
                switch.dial_peers(servers.split(","))
                timeout = reactor.callLater(sync_bench.SYNC_TIMEOUT_SECONDS, handoff.switched.cancel)
                switched = await handoff.switched
                timeout.cancel()
                seconds = time.perf_counter() - began
                last_block.loop.stop()
                attackers = attacker_ids(len(servers.split(",")) - 1)
                connected = {peer.id for peer in switch.peers}
                result = {
                    "seconds": seconds,
                    "last_block_seconds": last_block.at - began,
                    "height": switched.state.last_block_height,
                    "peak_rss_mib": sync_bench._peak_rss_mib(),
                    "attackers_banned": sum(switch.is_banned(a) for a in attackers),
                    "attackers_connected": sum(a in connected for a in attackers),
                    "attackers": len(attackers),
                    "bans": dict(switch.rejections.bans),
                }
                await switch.stop()
                syncer.stop()
                return result
            finally:
                app.close()
    finally:
        block_store.close()
        state_store.close()
        shutil.rmtree(home, ignore_errors=True)


async def run_scenario(reactor: Any, args: argparse.Namespace, params: sync_bench.ChainParams) -> None:
    serve_argv = [__file__, "--serve", str(params.folder), *_options(args), "--scenario", args.scenario]
    server, addresses = sync_bench.start_process(sync_bench.python_argv(*serve_argv), sync_bench.SERVING)
    try:
        result = await sync_once(reactor, params, addresses)
    finally:
        sync_bench.stop_process(server)
    print(RESULT + json.dumps(result), flush=True)


def _options(args: argparse.Namespace) -> list[str]:
    return [
        "--blocks",
        str(args.blocks),
        "--bomb-txs",
        str(args.bomb_txs),
        "--oversized-mib",
        str(args.oversized_mib),
    ]


def run_all(args: argparse.Namespace, params: sync_bench.ChainParams) -> dict[str, dict[str, Any]]:
    """Each scenario in its own process (a fresh peak RSS); returns their results by name."""
    if not params.folder.exists():
        print(f"building {params.folder.name} (cached for later runs) ...", flush=True)
        build = [str(Path(__file__).parent / "sync_bench.py"), "--build", "--blocks", str(args.blocks)]
        subprocess.run(sync_bench.python_argv(*build), check=True, timeout=sync_bench.SYNC_TIMEOUT_SECONDS)
    results: dict[str, dict[str, Any]] = {}
    for name in args.scenarios.split(","):
        argv = sync_bench.python_argv(__file__, *_options(args), "--scenario", name)
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=2 * sync_bench.SYNC_TIMEOUT_SECONDS, check=False
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"scenario {name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        results[name] = json.loads(lines[-1].removeprefix(RESULT))
        print(f"{name}: {results[name]}", flush=True)
    return results


def report(results: dict[str, dict[str, Any]]) -> None:
    honest = results.get("honest")
    print(
        f"{'scenario':<10} {'switch s':>8} {'x honest':>9} {'last block s':>12} {'peak RSS MiB':>13} "
        f"{'height':>7}  banned/disconnected of attackers"
    )
    for name, result in results.items():
        ratio = result["seconds"] / honest["seconds"] if honest else float("nan")
        count = result["attackers"]
        gone = count - result["attackers_connected"]
        verdict = "-" if count == 0 else f"{result['attackers_banned']}/{gone} of {count}"
        print(
            f"{name:<10} {result['seconds']:>8.2f} {ratio:>9.2f} {result['last_block_seconds']:>12.2f} "
            f"{result['peak_rss_mib']:>13.0f} {result['height']:>7}  {verdict} {result['bans'] or ''}"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=1000, help="chain length (default 1000)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated, honest first")
    parser.add_argument("--bomb-txs", type=int, default=5_000_000, help="empty txs per tx bomb")
    parser.add_argument("--oversized-mib", type=int, default=100, help="size of the oversized answers")
    parser.add_argument("--scenario", help=argparse.SUPPRESS)  # internal: one run in a subprocess
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


async def main_async(reactor: Any, args: argparse.Namespace, params: sync_bench.ChainParams) -> None:
    if args.serve is not None:
        await serve(reactor, args.serve, args.scenario, args)
    else:
        await run_scenario(reactor, args, params)


def main() -> None:
    args = parse_args()
    params = sync_bench.ChainParams(args.blocks, 4, 10, 64)
    if args.serve is None and args.scenario is None:
        report(run_all(args, params))
        return
    task.react(lambda reactor: defer.ensureDeferred(main_async(reactor, args, params)))


if __name__ == "__main__":
    main()
