"""Applies a real fixture chain into a cometsync home the way blocksync does: block h+1 is saved while the
app commits h, then executed once that Commit returned; or (every even height) its write only ends after
the app answered its FinalizeBlock, as when the loop's write outlasts that Commit.

Run as a script by the crash tests (`python crash_driver.py HOME ADDRESS UPTO`, with COMETSYNC_CRASH_AT
set to SIGKILL it at a named point); imported by the state tests for `open_stores` and `sync_chain`.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from state_fixtures import LOCALNET_CHAIN, FixtureChain
from twisted.internet import defer, reactor, task
from twisted.internet.interfaces import IReactorCore

from cometsync.abci import ABCIClient
from cometsync.abci.connect import open_connections
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.state import BlockExecutor, ConsensusApp, Handshaker, State, StateStore
from cometsync.state.handshake import info_request
from cometsync.store import BlockStore
from cometsync.types import BlockID, PartSet


class DoubleExecution(Exception):
    """The app was asked to execute a block it had already committed, or a commit skipped a height."""


class GuardedApp:
    """A `ConsensusApp` that asks the app its committed height around every FinalizeBlock and Commit.

    FinalizeBlock h is only sent to an app that committed exactly h-1, and every Commit must advance the
    app's committed height by exactly one: committed heights are strictly sequential, across restarts.
    """

    def __init__(self, app: ABCIClient) -> None:
        self._app = app

    async def _committed_height(self) -> int:
        info = await self._app.info(info_request())
        height: int = info.last_block_height
        return height

    def info(self, request: abci_pb2.RequestInfo) -> defer.Deferred[abci_pb2.ResponseInfo]:
        return self._app.info(request)

    def init_chain(self, request: abci_pb2.RequestInitChain) -> defer.Deferred[abci_pb2.ResponseInitChain]:
        return self._app.init_chain(request)

    async def _finalize_block(self, request: abci_pb2.RequestFinalizeBlock) -> abci_pb2.ResponseFinalizeBlock:
        committed = await self._committed_height()
        if committed != request.height - 1:
            raise DoubleExecution(f"FinalizeBlock {request.height} sent to an app that committed {committed}")
        return await self._app.finalize_block(request)

    def finalize_block(
        self, request: abci_pb2.RequestFinalizeBlock
    ) -> defer.Deferred[abci_pb2.ResponseFinalizeBlock]:
        return defer.ensureDeferred(self._finalize_block(request))

    async def _commit(self, request: abci_pb2.RequestCommit) -> abci_pb2.ResponseCommit:
        before = await self._committed_height()
        response = await self._app.commit(request)
        after = await self._committed_height()
        if after != before + 1:
            raise DoubleExecution(f"Commit moved the app's committed height from {before} to {after}")
        return response

    def commit(self, request: abci_pb2.RequestCommit) -> defer.Deferred[abci_pb2.ResponseCommit]:
        return defer.ensureDeferred(self._commit(request))


class SaveAfterFinalize:
    """The app, with a block write left `pending` until the app has answered the next FinalizeBlock (and
    the executor has gone on to wait for that write: the write runs on the next reactor turn)."""

    def __init__(self, app: ConsensusApp) -> None:
        self._app = app
        self.pending: Callable[[], None] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)

    def finalize_block(
        self, request: abci_pb2.RequestFinalizeBlock
    ) -> defer.Deferred[abci_pb2.ResponseFinalizeBlock]:
        def answered(response: abci_pb2.ResponseFinalizeBlock) -> abci_pb2.ResponseFinalizeBlock:
            pending, self.pending = self.pending, None
            if pending is not None:
                reactor.callLater(0, pending)  # type: ignore[attr-defined]
            return response

        return self._app.finalize_block(request).addCallback(answered)


def open_stores(home: Path) -> tuple[BlockStore, StateStore]:
    data = home / "data"
    return BlockStore.open(data / "blockstore.db"), StateStore.open(data / "state.db")


async def sync_chain(
    home: Path,
    app: ConsensusApp,
    chain: FixtureChain,
    upto: int,
    after_block: Callable[[State], None] | None = None,
) -> State:
    """Handshake, then save and apply blocks store.height+1..upto; returns the final state.

    `after_block`, if given, sees the state after every block this call applies.
    """
    block_store, state_store = open_stores(home)
    try:
        state = await Handshaker(state_store, block_store, chain.genesis(), app).handshake()
        overlapping = SaveAfterFinalize(app)
        executor = BlockExecutor(state_store, block_store, overlapping)  # type: ignore[arg-type]
        for height in range(state.last_block_height + 1, upto + 1):
            block = chain.block(height)
            part_set = PartSet.from_data(block.to_proto_bytes())
            executor.validate_block(state, block)
            block_id = BlockID(block.hash(), part_set.header())
            stored: defer.Deferred[None] | None = None
            if block_store.height < height:
                seen, ext = chain.seen_commit(height), chain.ext_commit(height)
                save = functools.partial(block_store.save_block, block, part_set, seen, ext)
                if height % 2:  # while the app may still be committing height - 1
                    save()
                else:  # once the app has executed it: its state must still wait for the block
                    stored = defer.Deferred()
                    overlapping.pending = lambda save=save, stored=stored: (save(), stored.callback(None))
            state = await executor.execute_verified_block(state, block_id, block, stored)
            if after_block is not None:
                after_block(state)
        await executor.settled()
        return state
    finally:
        block_store.close()
        state_store.close()


def main(reactor: IReactorCore, home: str, address: str, upto: str, transport: str) -> defer.Deferred[None]:
    async def run() -> None:
        client = await open_connections(address, transport)
        try:
            state = await sync_chain(Path(home), GuardedApp(client), LOCALNET_CHAIN, int(upto))
            print(f"synced {state.last_block_height} {state.app_hash.hex()}", flush=True)
        finally:
            client.close()

    return defer.ensureDeferred(run())


if __name__ == "__main__":
    task.react(main, sys.argv[1:])
