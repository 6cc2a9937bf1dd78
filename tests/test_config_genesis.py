"""genesis.json as CometBFT v0.38.25 writes it: byte-identical to a real node's file, and loadable."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from cometsync.config import GenesisValidator, genesis_document, random_chain_id, write_genesis
from cometsync.crypto import PubKey
from cometsync.types import Genesis, Timestamp

LOCALNET = Path(__file__).parent / "data" / "cometbft-v0.38.25-localnet"


def test_reproduces_a_real_cometbft_genesis_byte_for_byte(tmp_path: Path) -> None:
    nodes = json.loads((LOCALNET / "nodes.json").read_text())["nodes"]
    validators = [
        GenesisValidator(PubKey(base64.b64decode(node["pub_key_ed25519_b64"])), 10, node["moniker"])
        for node in nodes
    ]
    document = genesis_document(
        "localnet-4v", validators, genesis_time=Timestamp.parse("2026-11-21T04:37:32.953864466Z")
    )
    written = tmp_path / "genesis.json"
    write_genesis(written, document)
    assert written.read_bytes() == (LOCALNET / "genesis.json").read_bytes()
    assert written.stat().st_mode & 0o777 == 0o644


def test_written_genesis_loads_as_cometsync_genesis(tmp_path: Path) -> None:
    key = PubKey(bytes(range(32)))
    document = genesis_document("my-chain", [GenesisValidator(key, 7, "solo")], initial_height=5)
    write_genesis(tmp_path / "genesis.json", document)
    genesis = Genesis.load(tmp_path / "genesis.json")
    assert genesis.chain_id == "my-chain" and genesis.initial_height == 5
    assert [(v.address, v.pub_key, v.voting_power) for v in genesis.validators] == [
        (key.address(), key.key, 7)
    ]
    assert document["initial_height"] == "5" and document["validators"][0]["power"] == "7"
    assert document["validators"][0]["address"] == key.address().hex().upper()


@pytest.mark.parametrize(
    ("chain_id", "power", "height", "message"),
    [
        ("", 1, 0, "must not be empty"),
        ("x" * 51, 1, 0, "longer than 50"),
        ("ok", 0, 0, "positive power"),
        ("ok", 1, -1, "must not be negative"),
    ],
)
def test_rejects_what_cometbft_rejects(chain_id: str, power: int, height: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        genesis_document(chain_id, [GenesisValidator(PubKey(bytes(32)), power)], initial_height=height)


def test_random_chain_ids_look_like_cometbfts() -> None:
    ids = {random_chain_id("test-chain-") for _ in range(20)}
    assert len(ids) > 1
    for chain_id in ids:
        suffix = chain_id.removeprefix("test-chain-")
        assert len(suffix) == 6 and suffix.isalnum() and suffix.isascii()
