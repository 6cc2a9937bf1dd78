"""The kvstore's pure logic against CometBFT v0.38's Go kvstore rules, its LevelDB persistence, and the
client's pure helpers (address parsing, retry policy, response checks)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from cometsync.abci import ABCIInconsistent, RetryPolicy, check_finalize_block_response
from cometsync.abci.address import grpc_target
from cometsync.abci.kvstore.app import KVStoreApp, KVStoreError, go_put_varint
from cometsync.abci.kvstore.store import LevelDBStorage, MemoryStorage
from cometsync.abci.kvstore.txs import InvalidTxFormat, is_valid_kv_tx, parse_validator_tx, split_key_value
from cometsync.abci.kvstore.validators import decode_delimited
from cometsync.crypto.ed25519 import address_of
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.proto.tendermint.crypto import keys_pb2

PUB = bytes(range(1, 33))
PUB_B64 = base64.b64encode(PUB)


def val_tx(power: int, key_type: bytes = b"ed25519") -> bytes:
    return b"val=" + key_type + b"!" + PUB_B64 + b"!" + str(power).encode()


def finalize(app: KVStoreApp, height: int, *txs: bytes, **extra: object) -> abci_pb2.ResponseFinalizeBlock:
    return app.finalize_block(abci_pb2.RequestFinalizeBlock(height=height, txs=list(txs), **extra))


@pytest.mark.parametrize(
    ("size", "hex_hash"),
    [(0, "0000000000000000"), (1, "0200000000000000"), (99, "c601000000000000"), (195, "8603000000000000")],
)
def test_app_hash_is_go_put_varint_of_tx_count(size: int, hex_hash: str) -> None:
    assert go_put_varint(size).hex() == hex_hash


@pytest.mark.parametrize(
    ("tx", "valid"),
    [
        (b"a=b", True),
        (b"a:b", True),
        (b"=b", False),
        (b"a=", False),
        (b"a=b=c", False),
        (b"a:b=c", False),
        (b"abc", False),
        (b"", False),
        (b":", False),
    ],
)
def test_kv_tx_format(tx: bytes, valid: bool) -> None:
    assert is_valid_kv_tx(tx) is valid


@pytest.mark.parametrize(
    "tx",
    [
        b"val=ed25519!" + PUB_B64,
        b"val=ed25519!***!1",
        b"val=ed25519!" + PUB_B64 + b"!1_0",
        b"val=ed25519!" + PUB_B64 + b"! 1",
        b"val=ed25519!" + PUB_B64 + b"!-1",
        b"val=ed25519!" + PUB_B64 + b"!9223372036854775808",
    ],
)
def test_bad_validator_txs_are_rejected(tx: bytes) -> None:
    with pytest.raises(InvalidTxFormat):
        parse_validator_tx(tx)
    assert KVStoreApp(MemoryStorage()).check_tx(abci_pb2.RequestCheckTx(tx=tx)).code == 2


def test_validator_tx_parses_like_go() -> None:
    parsed = parse_validator_tx(b"val=secp256k1!" + PUB_B64 + b"!+5")
    assert (parsed.key_type, parsed.pub_key, parsed.power) == ("secp256k1", PUB, 5)
    assert split_key_value(b"k=v") == (b"k", b"v")
    assert split_key_value(b"bare") == (b"bare", b"bare")
    assert split_key_value(val_tx(3)) == (val_tx(3), val_tx(3))


def test_check_prepare_and_process_proposal() -> None:
    app = KVStoreApp(MemoryStorage())
    ok = app.check_tx(abci_pb2.RequestCheckTx(tx=b"a:b"))
    assert (ok.code, ok.gas_wanted) == (0, 1)
    prepared = app.prepare_proposal(abci_pb2.RequestPrepareProposal(txs=[b"a:b", b"x", val_tx(1), b"c=d"]))
    assert list(prepared.txs) == [b"a=b", val_tx(1), b"c=d"]
    accept = abci_pb2.ResponseProcessProposal.ACCEPT
    assert app.process_proposal(abci_pb2.RequestProcessProposal(txs=[b"a:b", val_tx(2)])).status == accept
    assert app.process_proposal(abci_pb2.RequestProcessProposal(txs=[b"a=b", b"x"])).status != accept


def test_finalize_block_results_events_and_app_hash() -> None:
    app = KVStoreApp(MemoryStorage())
    response = finalize(app, 3, b"k=v", b"bare", val_tx(4))
    assert response.app_hash == go_put_varint(3)
    assert [u.power for u in response.validator_updates] == [4]
    assert response.validator_updates[0].pub_key.ed25519 == PUB
    first = response.tx_results[0]
    assert (first.code, first.data, first.gas_wanted, first.gas_used) == (0, b"", 0, 0)
    assert [(e.type, [(a.key, a.value, a.index) for a in e.attributes]) for e in first.events] == [
        (
            "app",
            [
                ("creator", "Cosmoshi Netowoko", True),
                ("key", "k", True),
                ("index_key", "index is working", True),
                ("noindex_key", "index is working", False),
            ],
        ),
        (
            "app",
            [
                ("creator", "Cosmoshi", True),
                ("key", "v", True),
                ("index_key", "index is working", True),
                ("noindex_key", "index is working", False),
            ],
        ),
    ]
    assert response.tx_results[2].events[0].attributes[1].value == val_tx(4).decode()


def test_commit_persists_kv_pairs_validators_and_state() -> None:
    storage = MemoryStorage()
    app = KVStoreApp(storage, retain_blocks=2)
    finalize(app, 1, b"k=v", b"bare", val_tx(4))
    assert app.query(abci_pb2.RequestQuery(data=b"k")).log == "does not exist"  # not before Commit
    assert app.commit(abci_pb2.RequestCommit()).retain_height == 0
    found = app.query(abci_pb2.RequestQuery(data=b"k", prove=True))
    assert (found.value, found.log, found.height, found.index) == (b"v", "exists", 1, -1)
    assert app.query(abci_pb2.RequestQuery(data=b"bare")).value == b"bare"
    stored = app.query(abci_pb2.RequestQuery(path="/val", data=PUB))
    assert (stored.key, decode_delimited(stored.value).power) == (PUB, 4)
    finalize(app, 2, val_tx(0))
    assert app.commit(abci_pb2.RequestCommit()).retain_height == 1
    assert app.query(abci_pb2.RequestQuery(path="/val", data=PUB)).value == b""
    assert storage.get(b"stateKey") == b'{"size":4,"height":2}'


def test_duplicate_vote_costs_one_power_and_unknown_offender_is_an_error() -> None:
    app = KVStoreApp(MemoryStorage())
    app.init_chain(
        abci_pb2.RequestInitChain(
            validators=[abci_pb2.ValidatorUpdate(pub_key=keys_pb2.PublicKey(ed25519=PUB), power=10)]
        )
    )
    offence = abci_pb2.Misbehavior(
        type=abci_pb2.DUPLICATE_VOTE, validator=abci_pb2.Validator(address=address_of(PUB), power=10)
    )
    response = finalize(app, 1, misbehavior=[offence])
    assert [(u.pub_key.ed25519, u.power) for u in response.validator_updates] == [(PUB, 9)]
    app.commit(abci_pb2.RequestCommit())
    stranger = abci_pb2.Misbehavior(
        type=abci_pb2.DUPLICATE_VOTE, validator=abci_pb2.Validator(address=bytes(20), power=1)
    )
    with pytest.raises(KVStoreError, match="can't find it"):
        finalize(app, 2, b"a=b", misbehavior=[stranger])
    assert app.state.height == 1  # a refused block changes nothing


def test_repeated_finalize_block_replaces_the_uncommitted_one() -> None:
    """A node that crashed between FinalizeBlock and Commit replays the height against the same app."""
    once, twice = MemoryStorage(), MemoryStorage()
    for storage in (once, twice):
        app = KVStoreApp(storage)
        finalize(app, 1, b"a=1")
        app.commit(abci_pb2.RequestCommit())
    first = KVStoreApp(once)
    expected = finalize(first, 2, b"b=2", val_tx(5))
    first.commit(abci_pb2.RequestCommit())

    replayed = KVStoreApp(twice)
    finalize(replayed, 2, b"b=2", val_tx(5))
    assert replayed.info(abci_pb2.RequestInfo()).last_block_height == 1  # only committed state is reported
    assert replayed.query(abci_pb2.RequestQuery(data=b"b")).log == "does not exist"
    again = finalize(replayed, 2, b"b=2", val_tx(5))
    replayed.commit(abci_pb2.RequestCommit())

    assert again == expected
    assert again.app_hash == go_put_varint(3)
    assert replayed.info(abci_pb2.RequestInfo()) == first.info(abci_pb2.RequestInfo())
    assert dict(twice.items_with_prefix(b"")) == dict(once.items_with_prefix(b""))


def test_finalize_block_of_a_different_block_discards_the_pending_one() -> None:
    app = KVStoreApp(MemoryStorage())
    finalize(app, 1, b"lost=1", val_tx(3))
    finalize(app, 1, b"kept=1")
    app.commit(abci_pb2.RequestCommit())
    assert app.query(abci_pb2.RequestQuery(data=b"lost")).log == "does not exist"
    assert app.query(abci_pb2.RequestQuery(data=b"kept")).value == b"1"
    assert app.query(abci_pb2.RequestQuery(path="/val", data=PUB)).value == b""
    assert app.info(abci_pb2.RequestInfo()).last_block_app_hash == go_put_varint(1)


@pytest.mark.parametrize("tx", [val_tx(1, b"sr25519"), b"val=ed25519!AAAA!1"])
def test_unusable_validator_tx_in_a_block_is_an_error(tx: bytes) -> None:
    with pytest.raises(KVStoreError):
        finalize(KVStoreApp(MemoryStorage()), 1, tx)


def test_leveldb_state_survives_reopen_only_after_commit(tmp_path: Path) -> None:
    path = tmp_path / "kvstore.db"
    storage = LevelDBStorage(path)
    app = KVStoreApp(storage)
    app.init_chain(
        abci_pb2.RequestInitChain(
            validators=[abci_pb2.ValidatorUpdate(pub_key=keys_pb2.PublicKey(ed25519=PUB), power=10)]
        )
    )
    finalize(app, 1, b"a=1")
    app.commit(abci_pb2.RequestCommit())
    finalize(app, 2, b"b=2", b"c=3")  # never committed
    storage.close()

    reopened = KVStoreApp(LevelDBStorage(path))
    info = reopened.info(abci_pb2.RequestInfo())
    assert (info.last_block_height, info.last_block_app_hash) == (1, go_put_varint(1))
    assert info.data == '{"size":1}'
    assert reopened.query(abci_pb2.RequestQuery(data=b"b")).log == "does not exist"
    offence = abci_pb2.Misbehavior(
        type=abci_pb2.DUPLICATE_VOTE, validator=abci_pb2.Validator(address=address_of(PUB), power=10)
    )
    assert finalize(reopened, 2, misbehavior=[offence]).validator_updates[0].power == 9


@pytest.mark.parametrize(
    ("address", "target"),
    [
        ("grpc://127.0.0.1:26658", "127.0.0.1:26658"),
        ("tcp://localhost:1", "localhost:1"),
        ("127.0.0.1:0", "127.0.0.1:0"),
        ("unix:///tmp/app.sock", "unix:///tmp/app.sock"),
    ],
)
def test_proxy_app_addresses(address: str, target: str) -> None:
    assert grpc_target(address) == target


@pytest.mark.parametrize("address", ["foo", "127.0.0.1:x", "127.0.0.1:70000", "http://a:1", ":5"])
def test_bad_proxy_app_addresses(address: str) -> None:
    with pytest.raises(ValueError):
        grpc_target(address)


def test_retry_policy_backs_off_within_its_budget() -> None:
    policy = RetryPolicy(initial_delay=0.1, max_delay=0.4, multiplier=2.0, max_attempts=5, budget_seconds=1.0)
    assert [policy.delay_after(n) for n in (1, 2, 3, 4)] == [0.1, 0.2, 0.4, 0.4]
    assert policy.next_delay(1, 0.0) == 0.1
    assert policy.next_delay(3, 0.7) is None  # would end past the time budget
    assert policy.next_delay(5, 0.0) is None  # attempt budget spent


def test_finalize_block_response_checks() -> None:
    good = abci_pb2.ResponseFinalizeBlock(tx_results=[abci_pb2.ExecTxResult()], app_hash=bytes(8))
    check_finalize_block_response([b"tx"], good, app_hash_size=8)
    with pytest.raises(ABCIInconsistent, match="1 tx results for a block of 2 txs"):
        check_finalize_block_response([b"a", b"b"], good)
    with pytest.raises(ABCIInconsistent, match="8-byte app hash, expected 32"):
        check_finalize_block_response([b"tx"], good, app_hash_size=32)
    negative = abci_pb2.ResponseFinalizeBlock(
        validator_updates=[abci_pb2.ValidatorUpdate(pub_key=keys_pb2.PublicKey(ed25519=PUB), power=-1)]
    )
    with pytest.raises(ABCIInconsistent, match="negative power"):
        check_finalize_block_response([], negative)
    keyless = abci_pb2.ResponseFinalizeBlock(validator_updates=[abci_pb2.ValidatorUpdate(power=1)])
    with pytest.raises(ABCIInconsistent, match="no public key"):
        check_finalize_block_response([], keyless)
