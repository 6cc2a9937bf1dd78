"""Start-up handshake with the app (Go `consensus/replay.go`): Info, InitChain at genesis, replay.

The cases follow Go exactly (app height vs. store height vs. state height), so a crash at any point of
`BlockExecutor` is recovered without the app executing a committed block twice. Where Go panics, this
raises a HandshakeError whose message tells the operator what to do.
"""

from __future__ import annotations

from dataclasses import replace

from twisted.internet import defer

from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.state.app_conn import ConsensusApp, ReplayedResponseApp
from cometsync.state.errors import AppAheadOfStore, AppHashMismatch, HandshakeError
from cometsync.state.executor import BlockExecutor, exec_commit_block
from cometsync.state.state import State
from cometsync.state.store import StateStore
from cometsync.state.transition import validator_updates
from cometsync.store import BlockStore
from cometsync.store.errors import DatabaseCorrupt, StoreError
from cometsync.store.integrity import BLOCK_STORE_ADVICE
from cometsync.types import Block, Genesis, ValidatorSet, hash_from_byte_slices

ABCI_SEMVER = "2.0.0"
P2P_PROTOCOL = 8
BLOCK_PROTOCOL = 11


def info_request() -> abci_pb2.RequestInfo:
    """The RequestInfo CometBFT v0.38.25 sends (`proxy.RequestInfo`)."""
    return abci_pb2.RequestInfo(
        version="0.38.25", block_version=BLOCK_PROTOCOL, p2p_version=P2P_PROTOCOL, abci_version=ABCI_SEMVER
    )


def init_chain_request(genesis: Genesis) -> abci_pb2.RequestInitChain:
    """Go's InitChain request: genesis validators in set order, `app_state` bytes as in genesis.json."""
    request = abci_pb2.RequestInitChain(
        chain_id=genesis.chain_id,
        initial_height=genesis.initial_height,
        app_state_bytes=genesis.app_state_bytes,
    )
    genesis.genesis_time.fill_proto(request.time)
    request.consensus_params.CopyFrom(genesis.consensus_params.to_proto())
    for val in genesis.validator_set().validators:
        request.validators.add(pub_key={"ed25519": val.pub_key}, power=val.voting_power)
    return request


def _hex(data: bytes) -> str:
    return data.hex().upper() or "(empty)"


def _check_app_hash(app_hash: bytes, state: State) -> None:
    if app_hash != state.app_hash:
        raise AppHashMismatch(
            f"the app's hash {_hex(app_hash)} differs from the state's {_hex(state.app_hash)} at height "
            f"{state.last_block_height}: the app's data does not belong to this node's data directory; "
            "reset both the app and cometsync's data (or restore matching backups) and sync again"
        )


class Handshaker:
    """Reconciles the app with the block and state stores; `handshake()` resolves to the current State."""

    def __init__(
        self, state_store: StateStore, block_store: BlockStore, genesis: Genesis, app: ConsensusApp
    ) -> None:
        self._state_store = state_store
        self._block_store = block_store
        self._genesis = genesis
        self._app = app
        self.blocks_replayed = 0

    def handshake(self) -> defer.Deferred[State]:
        return defer.ensureDeferred(self._handshake())

    async def _handshake(self) -> State:
        info = await self._app.info(info_request())
        if info.last_block_height < 0:
            raise HandshakeError(f"the app reports a negative last block height ({info.last_block_height})")
        state = self._state_store.load_or_genesis(self._genesis)
        if state.last_block_height == 0:
            state = replace(state, app_version=info.app_version)
        return await self._replay(state, info)

    async def _init_chain(self, state: State) -> tuple[State, bytes]:
        response = await self._app.init_chain(init_chain_request(self._genesis))
        if state.last_block_height != 0:
            return state, bytes(response.app_hash)
        if response.app_hash:
            state = replace(state, app_hash=bytes(response.app_hash))
        if response.validators:
            vals = validator_updates(response.validators, state.consensus_params)
            validators = ValidatorSet.new(vals)
            state = replace(
                state, validators=validators, next_validators=validators.copy_increment_proposer_priority(1)
            )
        elif not self._genesis.validators:
            raise HandshakeError("the validator set is empty in genesis and still empty after InitChain")
        if response.HasField("consensus_params"):
            params = state.consensus_params.update(response.consensus_params)
            state = replace(state, consensus_params=params, app_version=params.version_app)
        state = replace(state, last_results_hash=hash_from_byte_slices([]))
        self._state_store.save(state)
        return state, bytes(response.app_hash)

    def _check_heights(self, app_height: int, state_height: int) -> None:
        base, height = self._block_store.base, self._block_store.height
        if app_height == 0 and height > 0 and self._genesis.initial_height < base:
            raise HandshakeError(
                f"the app has no blocks but this node's block store starts at {base}: the app cannot "
                "be replayed from genesis; restore the app's data or state-sync it"
            )
        if app_height > 0 and height > 0 and app_height < base - 1:
            raise HandshakeError(
                f"the app is at height {app_height} but this node's block store starts at {base}: "
                "the blocks it needs were pruned; restore the app's data from a later snapshot"
            )
        if height < state_height:
            raise HandshakeError(
                f"the state is at height {state_height} but the block store ends at {height}: blocks "
                f"{height + 1}-{state_height} were lost; {BLOCK_STORE_ADVICE}"
            )
        if height < app_height:
            uncommitted = (
                f" If the node stopped while the app executed block {app_height} and the app counts "
                "blocks it has not committed (CometBFT's kvstore does), restart the app first: it reloads "
                "its committed state."
                if app_height == height + 1
                else ""
            )
            raise AppAheadOfStore(
                f"the app is at height {app_height} but this node's block store ends at {height}: "
                "the app's data is ahead of cometsync's; reset the app's data (or point cometsync at the "
                f"data directory it was synced with) and restart.{uncommitted}"
            )
        if height > state_height + 1:
            raise HandshakeError(
                f"the block store ({height}) is more than one block ahead of the state ({state_height}): "
                "the data directory is damaged; restore it from a backup or remove it and sync again"
            )

    async def _replay(self, state: State, info: abci_pb2.ResponseInfo) -> State:
        app_height, app_hash = info.last_block_height, bytes(info.last_block_app_hash)
        if app_height == 0:
            state, app_hash = await self._init_chain(state)
        store_height, state_height = self._block_store.height, state.last_block_height
        if store_height == 0:
            _check_app_hash(app_hash, state)
            return state
        self._check_heights(app_height, state_height)
        if store_height == state_height:
            if app_height < store_height:
                app_hash = await self._replay_blocks(state, app_height, store_height)
            _check_app_hash(app_hash, state)
            return state
        # The store holds one block more than the state: the crash happened while applying it.
        if app_height < state_height:
            await self._replay_blocks(state, app_height, state_height)
            return await self._replay_last(state, store_height, self._app)
        if app_height == state_height:
            return await self._replay_last(state, store_height, self._app)
        try:
            response = self._state_store.load_last_finalize_block_response(store_height)
        except DatabaseCorrupt:
            raise
        except StoreError as exc:
            raise HandshakeError(
                f"the app reports height {app_height} but this node saved no FinalizeBlock response for "
                f"it ({exc}): the app kept an uncommitted FinalizeBlock of a node that crashed (CometBFT's "
                "kvstore does); restart the app so it reloads its committed state, then restart cometsync"
            ) from exc
        if not response.app_hash:
            response.app_hash = app_hash
        return await self._replay_last(state, store_height, ReplayedResponseApp(response, info))

    def _load_block(self, height: int) -> Block:
        block = self._block_store.load_block(height)
        if block is None:
            raise HandshakeError(
                f"block {height} is missing from the block store; the data directory is damaged"
            )
        return block

    async def _replay_blocks(self, state: State, app_height: int, final_height: int) -> bytes:
        """FinalizeBlock+Commit the stored blocks app_height+1..final_height; the state is not touched."""
        app_hash = b""
        first = max(app_height + 1, state.initial_height)
        for height in range(first, final_height + 1):
            block = self._load_block(height)
            if app_hash and app_hash != block.header.app_hash:
                raise AppHashMismatch(
                    f"after replaying block {height - 1} the app's hash is {_hex(app_hash)}, "
                    f"but block {height} records {_hex(block.header.app_hash)}: the app is not deterministic "
                    "or its data is from another chain; reset the app's data and restart"
                )
            app_hash = await exec_commit_block(
                self._app, block, self._state_store, self._genesis.initial_height
            )
            self.blocks_replayed += 1
        return app_hash

    async def _replay_last(self, state: State, height: int, app: ConsensusApp) -> State:
        block = self._load_block(height)
        meta = self._block_store.load_block_meta(height)
        if meta is None:
            raise HandshakeError(
                f"block meta {height} is missing from the block store; the data directory is damaged"
            )
        executor = BlockExecutor(self._state_store, self._block_store, app)
        new_state = await executor.apply_verified_block(state, meta.block_id, block)
        self.blocks_replayed += 1
        return new_state
