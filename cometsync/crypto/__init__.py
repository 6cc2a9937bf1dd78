"""Ed25519 keys, key files, addresses and signature verification with CometBFT's (ZIP-215) rules."""

from cometsync.crypto.batch import ParallelVerifier, SignedItem, verify_all
from cometsync.crypto.ed25519 import (
    ADDRESS_SIZE,
    PUBKEY_SIZE,
    SIGNATURE_SIZE,
    PrivKey,
    PubKey,
    address_of,
    verify,
)
from cometsync.crypto.keyfiles import (
    KeyFileError,
    NodeKey,
    PrivValidatorKey,
    load_node_key,
    load_or_generate_node_key,
    load_priv_validator_key,
    node_id_of,
    save_node_key,
    save_priv_validator_key,
)

__all__ = [
    "ADDRESS_SIZE",
    "PUBKEY_SIZE",
    "SIGNATURE_SIZE",
    "KeyFileError",
    "NodeKey",
    "ParallelVerifier",
    "PrivKey",
    "PrivValidatorKey",
    "PubKey",
    "SignedItem",
    "address_of",
    "load_node_key",
    "load_or_generate_node_key",
    "load_priv_validator_key",
    "node_id_of",
    "save_node_key",
    "save_priv_validator_key",
    "verify",
    "verify_all",
]
