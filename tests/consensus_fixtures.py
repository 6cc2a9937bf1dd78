"""Harness for the consensus-engine tests: devnet nodes on real LevelDB, an in-process kvstore that can also
propose, and a verifier that replays a produced chain with blocksync's own checks into a fresh node."""

from __future__ import annotations

import functools
from pathlib import Path

from blocksync_fixtures import InProcessApp, fired
from twisted.internet import defer, task

from cometsync.blocksync.verify import verify_pair
from cometsync.config import Config
from cometsync.config.home import write_sign_state
from cometsync.consensus.engine import NodeContext
from cometsync.crypto import PrivKey, PrivValidatorKey
from cometsync.mempool import Mempool
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.state import BlockExecutor, Handshaker, State, StateStore
from cometsync.state.app_conn import ConsensusApp
from cometsync.store import BlockStore
from cometsync.store.db import open_db
from cometsync.testing import DevnetSpec
from cometsync.types import Genesis


class ProposingApp(InProcessApp):
    """The in-process kvstore with the calls a producer and its mempool make, answered at once."""

    def prepare_proposal(
        self, request: abci_pb2.RequestPrepareProposal
    ) -> defer.Deferred[abci_pb2.ResponsePrepareProposal]:
        return defer.succeed(self.app.prepare_proposal(request))

    def extend_vote(self, request: abci_pb2.RequestExtendVote) -> defer.Deferred[abci_pb2.ResponseExtendVote]:
        return defer.succeed(self.app.extend_vote(request))

    def check_tx(self, request: abci_pb2.RequestCheckTx) -> defer.Deferred[abci_pb2.ResponseCheckTx]:
        return defer.succeed(self.app.check_tx(request))


class DevnetNode:
    """One node's stores and executor for a devnet genesis; `context()` builds what an engine gets."""

    def __init__(self, home: Path, genesis: Genesis, app: ConsensusApp) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.genesis = genesis
        self.app = app
        self.block_store = BlockStore(open_db(home / "blockstore.db"))
        self.state_store = StateStore(open_db(home / "state.db"))
        self.executor = BlockExecutor(self.state_store, self.block_store, app)

    def handshake(self) -> defer.Deferred[State]:
        return Handshaker(self.state_store, self.block_store, self.genesis, self.app).handshake()

    def context(
        self,
        clock: task.Clock,
        mempool: Mempool | None = None,
        config: Config | None = None,
        priv_validator: PrivValidatorKey | None = None,
    ) -> NodeContext:
        """With `priv_validator`, its state file starts as `cometsync init` writes it, unless one exists."""
        config = config or Config(home=self.home)
        state_path = config.priv_validator_state_path
        if priv_validator is not None and not state_path.exists():
            state_path.parent.mkdir(parents=True, exist_ok=True)
            write_sign_state(state_path)
        return NodeContext(
            clock=clock,
            config=config,
            genesis=self.genesis,
            state_store=self.state_store,
            block_store=self.block_store,
            executor=self.executor,
            app=self.app,  # type: ignore[arg-type]
            mempool=mempool,
            priv_validator=priv_validator,
        )

    def close(self) -> None:
        self.block_store.close()
        self.state_store.close()


def devnet(chain_id: str, powers: tuple[int, ...], extensions_from: int = 0) -> tuple[Genesis, list[PrivKey]]:
    spec = DevnetSpec(chain_id=chain_id, powers=powers, vote_extensions_enable_height=extensions_from)
    return spec.genesis(), spec.keys()


def clock_at(genesis: Genesis, after_seconds: float = 0.0) -> task.Clock:
    clock = task.Clock()
    clock.advance(genesis.genesis_time.unix_nanos() / 1e9 + after_seconds)
    return clock


def replay_with_blocksync_checks(source: BlockStore, genesis: Genesis, home: Path, upto: int) -> State:
    """Every block 1..upto-1 goes through blocksync's `verify_pair` (commit by the next block, ext commit,
    hashes, proposer, app hash and results continuity via `validate_block`) and is applied to a fresh
    in-process kvstore; block `upto` only proves its predecessor. Returns the state after upto-1."""
    node = DevnetNode(home, genesis, InProcessApp())
    try:
        state = fired(node.handshake())
        for height in range(1, upto):
            first, second = source.load_block(height), source.load_block(height + 1)
            assert first is not None and second is not None
            verified = verify_pair(
                state,
                first,
                second,
                source.load_extended_commit(height),
                validate_block=functools.partial(node.executor.validate_block, state),
            )
            node.block_store.save_block(
                verified.block, verified.part_set, verified.seen_commit, verified.ext_commit
            )
            state = fired(node.executor.apply_verified_block(state, verified.block_id, verified.block))
        return state
    finally:
        node.close()
