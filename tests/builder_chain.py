"""Test helper: the 500-block devnet chain of the end-to-end tests, built once per test session.

4 validators, kvstore txs in most blocks, one `val=` validator change, some absent signers and vote
extensions from height 250 on; produced by `cometsync.testing.ChainBuilder` through the real kvstore
subprocess over gRPC. Tests get a private copy of the stores (LevelDB allows one opener at a time).
"""

from __future__ import annotations

import atexit
import base64
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from abci_process import start_kvstore
from twisted.internet import defer

from cometsync.abci import GrpcABCIClient
from cometsync.crypto import PrivKey
from cometsync.state import State, StateStore
from cometsync.store import BlockStore
from cometsync.testing import BlockPlan, ChainBuilder, DevnetSpec, kvstore_txs

HEIGHTS = 500
EXTENSIONS_FROM = 250
CHANGE_AT = 100  # validator 3's power goes 10 -> 25; the new set signs from CHANGE_AT + 2
CHANGED_POWER = 25
SPEC = DevnetSpec(chain_id="builder-500", vote_extensions_enable_height=EXTENSIONS_FROM)


def validator_change_tx(key: PrivKey, power: int) -> bytes:
    """CometBFT kvstore's `val=ed25519!<base64 pubkey>!<power>` tx."""
    return b"val=ed25519!" + base64.b64encode(key.pub_key.key) + b"!" + str(power).encode()


def plan(height: int) -> BlockPlan:
    """Txs in four of every five blocks; every seventh height one of validators 0-2 misses the commit."""
    keys = SPEC.keys()
    txs = kvstore_txs(height, height % 5, size=48)
    if height == CHANGE_AT:
        txs.append(validator_change_tx(keys[3], CHANGED_POWER))
    absent = {keys[height % 3].pub_key.address()} if height % 7 == 0 else set()
    return BlockPlan(txs=txs, absent=absent)


@dataclass(frozen=True)
class BuiltChain:
    """A finished chain on disk (`blockstore.db`, `state.db` under `home`) and its final state."""

    home: Path
    final: State

    def copy_to(self, target: Path) -> tuple[BlockStore, StateStore]:
        """Open a private copy of the stores (the caller closes them)."""
        shutil.copytree(self.home, target)
        return BlockStore.open(target / "blockstore.db"), StateStore.open(target / "state.db")


_built: BuiltChain | None = None


@defer.inlineCallbacks
def builder_chain() -> defer.Generator[object, object, BuiltChain]:
    """The session's chain: built through a kvstore subprocess on first use, then reused."""
    global _built
    if _built is None:
        home = Path(tempfile.mkdtemp(prefix="cometsync-builder-chain-"))
        atexit.register(shutil.rmtree, home, True)
        final = yield _build(home)
        assert isinstance(final, State)
        _built = BuiltChain(home / "chain", final)
    return _built


@defer.inlineCallbacks
def _build(home: Path) -> defer.Generator[object, object, State]:
    server = start_kvstore(home / "kvstore")
    app = GrpcABCIClient(server.address)
    (home / "chain").mkdir()
    block_store = BlockStore.open(home / "chain" / "blockstore.db")
    state_store = StateStore.open(home / "chain" / "state.db")
    try:
        builder = ChainBuilder(SPEC.genesis(), SPEC.keys(), app, block_store, state_store)
        final = yield builder.build(HEIGHTS, plan)
    finally:
        block_store.close()
        state_store.close()
        app.close()
        server.terminate()
    assert isinstance(final, State)
    return final
