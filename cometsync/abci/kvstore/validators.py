"""Validator keys as the kvstore stores them: `val=<raw pubkey>` -> length-delimited ValidatorUpdate.

Mirrors Go's `types.UpdateValidator`, `crypto/encoding.PubKeyFromProto` and `protoio` delimited writes,
so a database written by us reads the same as one written by CometBFT's kvstore.
"""

from __future__ import annotations

import hashlib

from cometsync.abci.kvstore.txs import VALIDATOR_PREFIX
from cometsync.crypto.ed25519 import address_of
from cometsync.p2p.delimited import DelimitedReader, delimit
from cometsync.p2p.errors import DecodeError
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.proto.tendermint.crypto import keys_pb2

ED25519_KEY_SIZE = 32
SECP256K1_KEY_SIZE = 33


class InvalidValidator(ValueError):
    """A validator update whose key type or key size CometBFT cannot decode."""


def public_key_proto(key_type: str, pub_key: bytes) -> keys_pb2.PublicKey:
    """Go's `UpdateValidator` key switch: "" and "ed25519" are ed25519, "secp256k1" is secp256k1."""
    if key_type in ("", "ed25519"):
        return keys_pb2.PublicKey(ed25519=pub_key)
    if key_type == "secp256k1":
        return keys_pb2.PublicKey(secp256k1=pub_key)
    raise InvalidValidator(f"key type {key_type} not supported")


def raw_key_and_address(pub_key: keys_pb2.PublicKey) -> tuple[bytes, bytes]:
    """Go's `PubKeyFromProto` + `.Bytes()` / `.Address()`: the size-checked raw key and its address."""
    kind = pub_key.WhichOneof("sum")
    if kind == "ed25519":
        if len(pub_key.ed25519) != ED25519_KEY_SIZE:
            raise InvalidValidator(
                f"invalid size for PubKeyEd25519. Got {len(pub_key.ed25519)}, expected {ED25519_KEY_SIZE}"
            )
        return pub_key.ed25519, address_of(pub_key.ed25519)
    if kind == "secp256k1":
        if len(pub_key.secp256k1) != SECP256K1_KEY_SIZE:
            raise InvalidValidator(
                f"invalid size for PubKeySecp256k1. Got {len(pub_key.secp256k1)}, "
                f"expected {SECP256K1_KEY_SIZE}"
            )
        sha = hashlib.sha256(pub_key.secp256k1).digest()
        return pub_key.secp256k1, hashlib.new("ripemd160", sha).digest()
    raise InvalidValidator(f"fromproto: key type {kind} is not supported")


def storage_key(raw_pub_key: bytes) -> bytes:
    """The database key of a validator: `val=` followed by the raw public key bytes."""
    return VALIDATOR_PREFIX + raw_pub_key


def encode_delimited(update: abci_pb2.ValidatorUpdate) -> bytes:
    """Go's `types.WriteMessage`: uvarint length prefix, then the message."""
    return delimit(update.SerializeToString(deterministic=True))


def decode_delimited(data: bytes) -> abci_pb2.ValidatorUpdate:
    """Inverse of `encode_delimited`; the value must hold exactly one message."""
    reader = DelimitedReader(max_size=len(data))
    reader.feed(data)
    try:
        body = reader.next_message()
    except DecodeError as exc:
        raise InvalidValidator(f"stored validator: {exc}") from exc
    if body is None or reader.buffered:
        raise InvalidValidator("stored validator length prefix does not match its size")
    update = abci_pb2.ValidatorUpdate()
    update.ParseFromString(body)
    return update
