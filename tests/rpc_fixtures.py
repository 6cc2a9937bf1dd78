"""Helpers for the RPC tests: a real LevelDB block store of the localnet chain, an in-process kvstore app."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plyvel
from twisted.internet import defer
from twisted.internet.task import Clock

from cometsync.abci.kvstore.app import KVStoreApp
from cometsync.abci.kvstore.store import MemoryStorage
from cometsync.mempool import Mempool
from cometsync.p2p.node_info import NodeInfo
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.rpc import RPCEnvironment
from cometsync.store import BlockStore, StoreError
from cometsync.types import ValidatorSet
from tests.state_fixtures import DATA, LOCALNET, LOCALNET_CHAIN

TM_RS = DATA / "tendermint-rs" / "kvstore_v0_38" / "incoming"


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())


def localnet_store(path: Path) -> BlockStore:
    db = plyvel.DB(str(path), create_if_missing=True)
    LOCALNET_CHAIN.write_go_layout(db)
    db.close()
    return BlockStore.open(path)


class RecordedValidators:
    """`load_validators` answered from the node's recorded `/validators` output (1..310)."""

    def load_validators(self, height: int) -> ValidatorSet:
        path = LOCALNET / "validators" / f"{height}.json"
        if not path.exists():
            raise StoreError(f"no validator set stored for height {height}")
        return ValidatorSet.from_rpc_json(load_json(path))


class InProcessABCI:
    """The real kvstore application answering through Deferreds, like the gRPC client does."""

    def __init__(self) -> None:
        self.app = KVStoreApp(MemoryStorage())

    def info(self, request: abci_pb2.RequestInfo) -> defer.Deferred[abci_pb2.ResponseInfo]:
        return defer.succeed(self.app.info(request))

    def check_tx(self, request: abci_pb2.RequestCheckTx) -> defer.Deferred[abci_pb2.ResponseCheckTx]:
        return defer.succeed(self.app.check_tx(request))


@dataclass
class FakePeer:
    node_info: NodeInfo
    remote_address: tuple[str, int]
    is_outbound: bool = True


def node_info(node_id: str = "a" * 40, network: str = "localnet-4v") -> NodeInfo:
    return NodeInfo(
        node_id=node_id,
        listen_addr="tcp://0.0.0.0:26656",
        network=network,
        channels=bytes([0x40, 0x20, 0x21, 0x22, 0x23, 0x30, 0x38, 0x60, 0x61, 0x00]),
        moniker="node0",
        rpc_address="tcp://127.0.0.1:26657",
    )


def make_env(store: BlockStore, **overrides: Any) -> RPCEnvironment:
    """The RPC over `store`, the in-process kvstore and a real `Mempool` on that app."""
    peers = [FakePeer(node_info("b" * 40), ("127.0.0.1", 26666))]
    abci = overrides.pop("abci", InProcessABCI())
    settings: dict[str, Any] = {
        "block_store": store,
        "state_store": RecordedValidators(),
        "node_info": node_info,
        "peers": lambda: peers,
        "catching_up": lambda: False,
        "abci": abci,
        "clock": Clock(),
        "mempool": Mempool(abci),
    }
    settings.update(overrides)
    return RPCEnvironment(**settings)
