"""Applies a real fixture chain into a cometsync home the way blocksync does (save block, then apply).

Run as a script by the crash tests (`python crash_driver.py HOME ADDRESS UPTO`, with COMETSYNC_CRASH_AT
set to SIGKILL it at a named point); imported by the state tests for `sync_chain`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from abci_grpc_app import GrpcConsensusApp
from state_fixtures import LOCALNET_CHAIN, FixtureChain
from twisted.internet import defer, task
from twisted.internet.interfaces import IReactorCore

from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.state import BlockExecutor, Handshaker, State, StateStore
from cometsync.state.handshake import info_request
from cometsync.store import BlockStore
from cometsync.types import BlockID, PartSet


class DoubleExecution(Exception):
    """The app was asked to execute a block it had already committed."""


class GuardedApp(GrpcConsensusApp):
    """Asks the app its committed height before every FinalizeBlock and refuses re-execution."""

    async def _guarded_finalize(
        self, request: abci_pb2.RequestFinalizeBlock
    ) -> abci_pb2.ResponseFinalizeBlock:
        info = await self.info(info_request())
        if info.last_block_height >= request.height:
            raise DoubleExecution(f"block {request.height} sent again; app at {info.last_block_height}")
        return await super().finalize_block(request)

    def finalize_block(
        self, request: abci_pb2.RequestFinalizeBlock
    ) -> defer.Deferred[abci_pb2.ResponseFinalizeBlock]:
        return defer.ensureDeferred(self._guarded_finalize(request))


def open_stores(home: Path) -> tuple[BlockStore, StateStore]:
    data = home / "data"
    return BlockStore.open(data / "blockstore.db"), StateStore.open(data / "state.db")


async def sync_chain(home: Path, app: GrpcConsensusApp, chain: FixtureChain, upto: int) -> State:
    """Handshake, then save and apply blocks store.height+1..upto; returns the final state."""
    block_store, state_store = open_stores(home)
    try:
        state = await Handshaker(state_store, block_store, chain.genesis(), app).handshake()
        executor = BlockExecutor(state_store, block_store, app)
        for height in range(state.last_block_height + 1, upto + 1):
            block = chain.block(height)
            part_set = PartSet.from_data(block.to_proto_bytes())
            if block_store.height < height:
                block_store.save_block(block, part_set, chain.seen_commit(height), chain.ext_commit(height))
            state = await executor.apply_block(state, BlockID(block.hash(), part_set.header()), block)
        return state
    finally:
        block_store.close()
        state_store.close()


def main(reactor: IReactorCore, home: str, address: str, upto: str) -> defer.Deferred[None]:
    app = GuardedApp(address)

    async def run() -> None:
        try:
            state = await sync_chain(Path(home), app, LOCALNET_CHAIN, int(upto))
            print(f"synced {state.last_block_height} {state.app_hash.hex()}", flush=True)
        finally:
            app.close()

    return defer.ensureDeferred(run())


if __name__ == "__main__":
    task.react(main, sys.argv[1:])
