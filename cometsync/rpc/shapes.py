"""CometBFT v0.38 RPC JSON for objects `cometsync.types` has no RPC shape for (node info, block metas, ABCI).

Go's cmtjson rules: int64/uint64 as decimal strings, int32/uint32 as numbers, hashes upper hex, bytes base64;
ABCI protobuf structs omit zero fields (`omitempty`).
"""

from __future__ import annotations

from cometsync.crypto.ed25519 import address_of
from cometsync.p2p.node_info import NodeInfo
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.types import BlockMeta
from cometsync.types.rpc_json import to_b64, to_hex

ED25519_PUBKEY_TYPE = "tendermint/PubKeyEd25519"


def node_info_json(info: NodeInfo) -> dict[str, object]:
    version = info.protocol_version
    return {
        "protocol_version": {"p2p": str(version.p2p), "block": str(version.block), "app": str(version.app)},
        "id": info.node_id,
        "listen_addr": info.listen_addr,
        "network": info.network,
        "version": info.version,
        "channels": to_hex(info.channels),
        "moniker": info.moniker,
        "other": {"tx_index": info.tx_index, "rpc_address": info.rpc_address},
    }


def pub_key_json(pub_key: bytes) -> dict[str, object]:
    return {"type": ED25519_PUBKEY_TYPE, "value": to_b64(pub_key)}


def validator_info_json(pub_key: bytes | None, voting_power: int) -> dict[str, object]:
    """`/status` validator_info; a node without a validator key shows an empty address and no key."""
    if pub_key is None:
        return {"address": "", "pub_key": None, "voting_power": str(voting_power)}
    return {
        "address": to_hex(address_of(pub_key)),
        "pub_key": pub_key_json(pub_key),
        "voting_power": str(voting_power),
    }


def block_meta_json(meta: BlockMeta) -> dict[str, object]:
    return {
        "block_id": meta.block_id.to_rpc_json(),
        "block_size": str(meta.block_size),
        "header": meta.header.to_rpc_json(),
        "num_txs": str(meta.num_txs),
    }


def abci_info_json(info: abci_pb2.ResponseInfo) -> dict[str, object]:
    fields: dict[str, object] = {
        "data": info.data,
        "version": info.version,
        "app_version": str(info.app_version) if info.app_version else "",
        "last_block_height": str(info.last_block_height) if info.last_block_height else "",
        "last_block_app_hash": to_b64(info.last_block_app_hash),
    }
    return {key: value for key, value in fields.items() if value != ""}


def broadcast_result_json(tx_hash: bytes, check: abci_pb2.ResponseCheckTx | None) -> dict[str, object]:
    """`ResultBroadcastTx`: CheckTx's code/data/log/codespace (zero for async) and the tx hash."""
    result = check or abci_pb2.ResponseCheckTx()
    return {
        "code": result.code,
        "data": to_b64(result.data),
        "log": result.log,
        "codespace": result.codespace,
        "hash": to_hex(tx_hash),
    }
