"""`/status` is O(1): no proposer-priority replay and no store read per request (real LevelDB stores whose
reads are counted), whatever the distance to the last validator checkpoint; and the serving budget that
bounds the RPC's share of a syncing node."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import plyvel
import pytest
from twisted.internet.task import Clock

from cometsync.rpc import handlers
from cometsync.rpc.limits import ServingBudget
from cometsync.rpc.params import Params
from cometsync.state import State, StateStore
from cometsync.store import BlockStore
from cometsync.store.db import Database
from tests.rpc_fixtures import LOCALNET, CountingDB, load_json, localnet_store, make_env
from tests.state_fixtures import LOCALNET_CHAIN

TIP = 310
REQUESTS = 100


@dataclasses.dataclass
class Stores:
    blocks: BlockStore
    block_reads: CountingDB
    states: StateStore
    state_reads: CountingDB
    live: State


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    """The localnet chain; state.db holds the full validator set only at height 1: every later height
    points back to it, so loading the set of 311 replays 310 rounds of proposer priorities."""
    localnet_store(tmp_path / "blockstore.db").close()
    block_reads = CountingDB(plyvel.DB(str(tmp_path / "blockstore.db")))
    state_reads = CountingDB(plyvel.DB(str(tmp_path / "state.db"), create_if_missing=True))
    states = StateStore(Database(state_reads, tmp_path / "state.db"))  # type: ignore[arg-type]
    genesis_state = State.from_genesis(LOCALNET_CHAIN.genesis())
    states.save(genesis_state)
    live = dataclasses.replace(genesis_state, last_block_height=TIP, last_validators=genesis_state.validators)
    for height in (TIP - 2, TIP - 1, TIP):  # a save at L writes the set of L+2: here 310..312
        states.save(dataclasses.replace(live, last_block_height=height))
    blocks = BlockStore(Database(block_reads, tmp_path / "blockstore.db"))  # type: ignore[arg-type]
    opened = Stores(blocks, block_reads, states, state_reads, live)
    block_reads.gets = state_reads.gets = 0
    yield opened
    opened.blocks.close()
    opened.states.close()


def node0_pub_key() -> bytes:
    return base64.b64decode(load_json(LOCALNET / "node0_priv_validator_key.json")["pub_key"]["value"])


def test_status_reads_the_live_state_and_caches_the_metas(stores: Stores) -> None:
    env = make_env(stores.blocks, state_store=stores.states, validator_pub_key=node0_pub_key())
    env.state = lambda: stores.live
    first = handlers.status(env, Params({}, uri=True))
    assert first["validator_info"]["voting_power"] == "10"
    assert first["sync_info"]["latest_block_height"] == str(TIP)
    assert stores.block_reads.gets == 2  # the earliest and the latest meta
    for _ in range(REQUESTS):
        assert handlers.status(env, Params({}, uri=True)) == first
    assert (stores.block_reads.gets, stores.state_reads.gets) == (2, 0)


def test_without_a_live_state_the_stored_set_is_loaded_once_per_height(stores: Stores) -> None:
    env = make_env(stores.blocks, state_store=stores.states, validator_pub_key=node0_pub_key())
    first = handlers.status(env, Params({}, uri=True))
    assert first["validator_info"]["voting_power"] == "10"
    assert stores.state_reads.gets == 2  # height 311's pointer, then the full set at 1 (and the replay)
    for _ in range(REQUESTS):
        assert handlers.status(env, Params({}, uri=True)) == first
    assert (stores.block_reads.gets, stores.state_reads.gets) == (2, 2)


def test_the_status_uri_body_is_encoded_once_per_new_result(stores: Stores) -> None:
    env = make_env(stores.blocks, state_store=stores.states, validator_pub_key=node0_pub_key())
    env.state = lambda: stores.live
    first = handlers.status_uri_body(env)
    assert json.loads(first) == {
        "jsonrpc": "2.0",
        "id": -1,
        "result": handlers.status(env, handlers.NO_PARAMS),
    }
    assert all(handlers.status_uri_body(env) is first for _ in range(REQUESTS))
    env.catching_up = lambda: True  # what /status shows changed: a new result, encoded once
    flipped = handlers.status_uri_body(env)
    assert json.loads(flipped)["result"]["sync_info"]["catching_up"] is True
    assert handlers.status_uri_body(env) is flipped
    assert stores.block_reads.gets == 4  # the two metas, once per result


def test_the_live_state_answers_as_the_stored_sets_do(stores: Stores) -> None:
    """Heights L (last_validators), L+1 (validators) and L+2 (next_validators) of the live state."""
    pub = node0_pub_key()
    live_env = make_env(stores.blocks, state_store=stores.states, validator_pub_key=pub)
    live_env.state = lambda: stores.live
    stored_env = make_env(stores.blocks, state_store=stores.states, validator_pub_key=pub)
    for catching_up in (True, False):
        live_env.catching_up = stored_env.catching_up = lambda caught=catching_up: caught
        live = handlers.status(live_env, Params({}, uri=True))["validator_info"]
        assert live == handlers.status(stored_env, Params({}, uri=True))["validator_info"]
    assert stores.state_reads.gets > 0  # only the env without a live state read the store


def test_the_serving_budget_refills_at_its_share_and_only_binds_while_catching_up() -> None:
    clock, catching_up = Clock(), [True]
    budget = ServingBudget(lambda: catching_up[0], clock, share=0.1, burst_seconds=0.05)
    budget.charge(0.04)
    assert budget.wait_seconds() == 0.0  # within the burst
    budget.charge(0.02)
    assert budget.wait_seconds() == pytest.approx(0.1)  # 10 ms overspent at 10 % a second
    clock.advance(0.1)
    assert budget.wait_seconds() == 0.0
    clock.advance(100)
    budget.charge(0.06)
    assert budget.wait_seconds() == pytest.approx(0.1)  # the burst does not grow past 50 ms
    catching_up[0] = False
    budget.charge(10.0)
    assert budget.wait_seconds() == 0.0
