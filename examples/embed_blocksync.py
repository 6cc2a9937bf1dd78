"""Embedding cometsync's blocksync reactor in your own Twisted application node.

The application (here the example kvstore, in-process) owns its p2p Switch, its stores and its executor;
cometsync contributes the `BlocksyncReactor` on channel 0x40. The node dials a peer, fast-syncs the chain
into `<data>/blockstore.db` and `<data>/state.db`, and prints the height and app hash at the hand-off.

    python examples/embed_blocksync.py --genesis G.json --peer ID@127.0.0.1:26656 --data DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from twisted.internet import defer, task

from cometsync.abci.kvstore.app import KVStoreApp
from cometsync.abci.kvstore.store import MemoryStorage
from cometsync.blocksync.handoff import DeferredHandoff, Switched
from cometsync.blocksync.reactor import BlocksyncReactor
from cometsync.crypto import PrivKey
from cometsync.crypto.keyfiles import NodeKey
from cometsync.p2p.switch import Switch
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.state import BlockExecutor, Handshaker, State, StateStore
from cometsync.store import BlockStore
from cometsync.types import Genesis


class InProcessKVStore:
    """Your ABCI application, called directly: each ABCI method answers with an already-fired Deferred."""

    def __init__(self) -> None:
        self.app = KVStoreApp(MemoryStorage())

    def info(self, request: abci_pb2.RequestInfo) -> defer.Deferred[abci_pb2.ResponseInfo]:
        return defer.succeed(self.app.info(request))

    def init_chain(self, request: abci_pb2.RequestInitChain) -> defer.Deferred[abci_pb2.ResponseInitChain]:
        return defer.succeed(self.app.init_chain(request))

    def finalize_block(
        self, request: abci_pb2.RequestFinalizeBlock
    ) -> defer.Deferred[abci_pb2.ResponseFinalizeBlock]:
        return defer.succeed(self.app.finalize_block(request))

    def commit(self, request: abci_pb2.RequestCommit) -> defer.Deferred[abci_pb2.ResponseCommit]:
        return defer.succeed(self.app.commit(request))


async def sync(reactor: Any, genesis_path: Path, peer: str, data: Path) -> Switched[State]:
    genesis = Genesis.load(genesis_path)
    app = InProcessKVStore()
    block_store = BlockStore.open(data / "blockstore.db")
    state_store = StateStore.open(data / "state.db")
    try:
        # 1. Reconcile the app with the stores (InitChain on a fresh start, replay after a crash).
        state = await Handshaker(state_store, block_store, genesis, app).handshake()
        # 2. The blocksync reactor, handing off to whatever runs next (here: a Deferred we wait on).
        handoff: DeferredHandoff[State] = DeferredHandoff()
        executor = BlockExecutor(state_store, block_store, app)
        blocksync = BlocksyncReactor(state, block_store, executor, handoff, reactor)
        # 3. Your own switch: add the reactor next to your other reactors, listen, dial.
        switch = Switch(NodeKey(PrivKey.generate()), genesis.chain_id, "embedded", reactor=reactor)
        switch.add_reactor("BLOCKSYNC", blocksync)
        switch.listen("127.0.0.1", 0)
        switch.dial_peers([peer])
        blocksync.start(blocksync=True)
        try:
            return await handoff.switched
        finally:
            blocksync.stop()
            await switch.stop()
    finally:
        block_store.close()
        state_store.close()


def main(reactor: Any, *argv: str) -> defer.Deferred[None]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genesis", type=Path, required=True)
    parser.add_argument("--peer", required=True, help="id@host:port of a node serving the chain")
    parser.add_argument("--data", type=Path, required=True, help="directory for blockstore.db and state.db")
    args = parser.parse_args(argv)

    async def run() -> None:
        switched = await sync(reactor, args.genesis, args.peer, args.data)
        state = switched.state
        print(
            f"synced {switched.blocks_synced} blocks: height {state.last_block_height} "
            f"app_hash {state.app_hash.hex().upper()}"
        )

    return defer.ensureDeferred(run())


if __name__ == "__main__":
    task.react(main, sys.argv[1:])
