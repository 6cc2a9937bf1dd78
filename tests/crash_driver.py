"""Applies a real fixture chain into a cometsync home the way blocksync does: block h+1 is written on the
node's writer thread while the app commits h, and FinalizeBlock h+1 runs once that Commit returned; every
even height's write only starts after the app answered its FinalizeBlock, as when a slow disk outlasts
that Commit (its state then waits for it).

Run as a script by the crash tests (`python crash_driver.py HOME ADDRESS UPTO`, with COMETSYNC_CRASH_AT
set to SIGKILL it at a named point); imported by the state tests for `open_stores` and `sync_chain`.
"""

from __future__ import annotations

import sys
import threading
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
from cometsync.store.blocking import WriterThread
from cometsync.store.db import PendingWrite
from cometsync.types import BlockID, PartSet


class DoubleExecution(Exception):
    """The app was asked to execute a block it had already committed, or a commit skipped a height."""


class GuardedApp:
    """A `ConsensusApp` that asks the app its committed height around every FinalizeBlock and Commit.

    FinalizeBlock h is only sent to an app that committed exactly h-1 (or h-2 with Commit h-1 sent ahead of
    it, to an app answering in order), and every Commit must advance the app's committed height by exactly
    one: committed heights are strictly sequential, across restarts.
    """

    def __init__(self, app: ABCIClient) -> None:
        self._app = app
        self._commits_unanswered = 0

    async def _committed_height(self) -> int:
        info = await self._app.info(info_request())
        height: int = info.last_block_height
        return height

    def info(self, request: abci_pb2.RequestInfo) -> defer.Deferred[abci_pb2.ResponseInfo]:
        return self._app.info(request)

    def init_chain(self, request: abci_pb2.RequestInitChain) -> defer.Deferred[abci_pb2.ResponseInitChain]:
        return self._app.init_chain(request)

    async def _finalize_block(self, request: abci_pb2.RequestFinalizeBlock) -> abci_pb2.ResponseFinalizeBlock:
        ahead = self._commits_unanswered
        committed = await self._committed_height()
        if committed != request.height - 1 and not (ahead and committed == request.height - 2):
            raise DoubleExecution(f"FinalizeBlock {request.height} sent to an app that committed {committed}")
        return await self._app.finalize_block(request)

    def finalize_block(
        self, request: abci_pb2.RequestFinalizeBlock
    ) -> defer.Deferred[abci_pb2.ResponseFinalizeBlock]:
        return defer.ensureDeferred(self._finalize_block(request))

    async def _commit(self, request: abci_pb2.RequestCommit) -> abci_pb2.ResponseCommit:
        self._commits_unanswered += 1
        try:
            before = await self._committed_height()
            response = await self._app.commit(request)
        finally:
            self._commits_unanswered -= 1
        after = await self._committed_height()
        if after != before + 1:
            raise DoubleExecution(f"Commit moved the app's committed height from {before} to {after}")
        return response

    def commit(self, request: abci_pb2.RequestCommit) -> defer.Deferred[abci_pb2.ResponseCommit]:
        return defer.ensureDeferred(self._commit(request))


HOLD_SECONDS = 30.0
"""How long a held write waits for its FinalizeBlock answer at most."""


class WriteAfterFinalize:
    """The app, with the writer thread held (on `hold`) until the app has answered the next FinalizeBlock
    and the executor has moved on: the write starts on the next reactor turn after that answer."""

    def __init__(self, app: ConsensusApp) -> None:
        self._app = app
        self.hold: threading.Event | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)

    def finalize_block(
        self, request: abci_pb2.RequestFinalizeBlock
    ) -> defer.Deferred[abci_pb2.ResponseFinalizeBlock]:
        def answered(response: abci_pb2.ResponseFinalizeBlock) -> abci_pb2.ResponseFinalizeBlock:
            hold, self.hold = self.hold, None
            if hold is not None:
                reactor.callLater(0, hold.set)  # type: ignore[attr-defined]
            return response

        return self._app.finalize_block(request).addCallback(answered)


class _HeldWrite:
    """A staged block write that waits (on the writer thread) for `hold` before it writes."""

    def __init__(self, pending: PendingWrite, hold: threading.Event) -> None:
        self._pending = pending
        self._hold = hold

    def write(self) -> None:
        self._hold.wait(HOLD_SECONDS)
        self._pending.write()


def open_stores(home: Path) -> tuple[BlockStore, StateStore]:
    data = home / "data"
    return BlockStore.open(data / "blockstore.db"), StateStore.open(data / "state.db")


async def sync_chain(
    home: Path,
    app: ConsensusApp,
    chain: FixtureChain,
    upto: int,
    after_block: Callable[[State], None] | None = None,
    *,
    pipeline_commit: bool = False,
) -> State:
    """Handshake, then save and apply blocks store.height+1..upto; returns the final state.

    `after_block`, if given, sees the state after every block this call applies; `pipeline_commit` is the
    executor's (FinalizeBlock h sent behind Commit h-1, to an app answering in order).
    """
    block_store, state_store = open_stores(home)
    writes = WriterThread(reactor)
    try:
        state = await Handshaker(state_store, block_store, chain.genesis(), app).handshake()
        overlapping = WriteAfterFinalize(app)
        executor = BlockExecutor(
            state_store,
            block_store,
            overlapping,  # type: ignore[arg-type]
            writes,
            pipeline_commit=pipeline_commit,
        )
        for height in range(state.last_block_height + 1, upto + 1):
            block = chain.block(height)
            part_set = PartSet.from_data(block.to_proto_bytes())
            executor.validate_block(state, block)
            block_id = BlockID(block.hash(), part_set.header())
            pending: PendingWrite | _HeldWrite | None = None
            if block_store.height < height:
                seen, ext = chain.seen_commit(height), chain.ext_commit(height)
                pending = block_store.stage_block(block, part_set, seen, ext)
                if height % 2 == 0:  # written only once the app has executed it
                    overlapping.hold = threading.Event()
                    pending = _HeldWrite(pending, overlapping.hold)
            state = await executor.execute_verified_block(state, block_id, block, pending)  # type: ignore[arg-type]
            if after_block is not None:
                after_block(state)
        await executor.settled()
        return state
    finally:
        writes.stop()
        block_store.close()
        state_store.close()


def main(reactor: IReactorCore, home: str, address: str, upto: str, transport: str) -> defer.Deferred[None]:
    async def run() -> None:
        client = await open_connections(address, transport)
        try:
            guarded, pipelined = GuardedApp(client), client.answers_in_order
            state = await sync_chain(
                Path(home), guarded, LOCALNET_CHAIN, int(upto), pipeline_commit=pipelined
            )
            print(f"synced {state.last_block_height} {state.app_hash.hex()}", flush=True)
        finally:
            client.close()

    return defer.ensureDeferred(run())


if __name__ == "__main__":
    task.react(main, sys.argv[1:])
