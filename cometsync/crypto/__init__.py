"""Ed25519 keys, addresses and signature verification with CometBFT's (ZIP-215) rules."""

from cometsync.crypto.ed25519 import (
    ADDRESS_SIZE,
    PUBKEY_SIZE,
    SIGNATURE_SIZE,
    PrivKey,
    PubKey,
    address_of,
    verify,
)

__all__ = [
    "ADDRESS_SIZE",
    "PUBKEY_SIZE",
    "SIGNATURE_SIZE",
    "PrivKey",
    "PubKey",
    "address_of",
    "verify",
]
