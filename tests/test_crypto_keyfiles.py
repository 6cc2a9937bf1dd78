"""CometBFT key files: real files written by CometBFT v0.38.25 load, validate and re-serialise exactly."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cometsync.crypto import (
    KeyFileError,
    NodeKey,
    PrivKey,
    PrivValidatorKey,
    load_node_key,
    load_or_generate_node_key,
    load_priv_validator_key,
    save_node_key,
    save_priv_validator_key,
)

LOCALNET = Path(__file__).parent / "data" / "cometbft-v0.38.25-localnet"
NODE_KEY = LOCALNET / "node0_node_key.json"
PV_KEY = LOCALNET / "node0_priv_validator_key.json"
PUB = "tendermint/PubKeyEd25519"
PRIV = "tendermint/PrivKeyEd25519"


def node0() -> dict[str, str]:
    nodes = json.loads((LOCALNET / "nodes.json").read_text())["nodes"]
    return next(n for n in nodes if n["moniker"] == "node0")


def test_node_key_gives_cometbft_node_id() -> None:
    key = load_node_key(NODE_KEY)
    assert key.node_id == node0()["node_id"]
    assert key.node_id == key.node_id.lower()


def test_priv_validator_key_matches_recorded_validator() -> None:
    key = load_priv_validator_key(PV_KEY)
    assert key.address.hex().upper() == node0()["validator_address"]
    assert base64.b64encode(key.pub_key.key).decode() == node0()["pub_key_ed25519_b64"]
    message = b"precommit sign bytes"
    assert key.pub_key.verify(message, key.priv_key.sign(message))


@pytest.mark.parametrize(
    ("source", "load", "save"),
    [
        (NODE_KEY, load_node_key, save_node_key),
        (PV_KEY, load_priv_validator_key, save_priv_validator_key),
    ],
)
def test_written_files_are_byte_identical_to_cometbft_and_private(
    source: Path, load: Callable[[Path], Any], save: Callable[[Any, Path], None], tmp_path: Path
) -> None:
    out = tmp_path / source.name
    save(load(source), out)
    assert out.read_bytes() == source.read_bytes()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [source.name]


def test_save_replaces_a_world_readable_file_with_a_private_one(tmp_path: Path) -> None:
    out = tmp_path / "node_key.json"
    out.write_text("old")
    out.chmod(0o644)
    key = NodeKey(PrivKey.generate())
    save_node_key(key, out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert load_node_key(out) == key


def test_load_or_generate_creates_once_then_reloads(tmp_path: Path) -> None:
    path = tmp_path / "node_key.json"
    first = load_or_generate_node_key(path)
    assert path.exists()
    assert load_or_generate_node_key(path).node_id == first.node_id


def test_priv_validator_key_round_trip_of_a_generated_key(tmp_path: Path) -> None:
    key = PrivValidatorKey(PrivKey.generate())
    path = tmp_path / "priv_validator_key.json"
    save_priv_validator_key(key, path)
    assert load_priv_validator_key(path) == key


def edited_pv_key(tmp_path: Path, **changes: object) -> Path:
    doc = json.loads(PV_KEY.read_text())
    doc.update(changes)
    path = tmp_path / "priv_validator_key.json"
    path.write_text(json.dumps(doc))
    return path


def other_key_b64(size: int = 64) -> str:
    return base64.b64encode(PrivKey.generate().to_bytes()[:size]).decode()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"address": "00" * 20}, "address 0000000000000000000000000000000000000000 does not match"),
        ({"address": "not hex"}, "'address' is not hex"),
        ({"address": None}, "missing or non-string 'address'"),
        ({"pub_key": {"type": PUB, "value": other_key_b64(32)}}, "pub_key does not match"),
        ({"pub_key": {"type": "tendermint/PubKeySecp256k1", "value": "AA=="}}, f"only {PUB!r}"),
        ({"priv_key": {"type": PRIV, "value": "!!"}}, "priv_key.value is not valid base64"),
        ({"priv_key": {"type": PRIV, "value": "AAAA"}}, "must be 32 or 64 bytes, got 3"),
        ({"priv_key": "plain"}, "missing or malformed 'priv_key'"),
    ],
)
def test_inconsistent_priv_validator_key_is_rejected_clearly(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(KeyFileError, match=r"priv_validator_key\.json: ") as info:
        load_priv_validator_key(edited_pv_key(tmp_path, **changes))
    assert message in str(info.value)


def test_priv_key_whose_embedded_pub_key_is_wrong_is_rejected(tmp_path: Path) -> None:
    raw = base64.b64decode(json.loads(NODE_KEY.read_text())["priv_key"]["value"])
    forged = raw[:32] + PrivKey.generate().pub_key.key
    path = tmp_path / "node_key.json"
    value = base64.b64encode(forged).decode()
    path.write_text(json.dumps({"priv_key": {"type": PRIV, "value": value}}))
    with pytest.raises(KeyFileError, match="embedded public key does not match the seed"):
        load_node_key(path)


@pytest.mark.parametrize(("content", "message"), [("{", "not valid JSON"), ("[]", "expected a JSON object")])
def test_malformed_json_is_rejected(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "node_key.json"
    path.write_text(content)
    with pytest.raises(KeyFileError, match=message):
        load_node_key(path)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"cannot read key file .*missing\.json"):
        load_node_key(tmp_path / "missing.json")


def test_unwritable_location_raises_key_file_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"cannot write key file .*node_key\.json"):
        save_node_key(NodeKey(PrivKey.generate()), tmp_path / "no-such-dir" / "node_key.json")
