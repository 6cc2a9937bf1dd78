"""Ed25519 keys as CometBFT uses them.

Verification goes through ed25519-zebra because it implements ZIP-215, the rule set CometBFT's
curve25519-voi uses; a stricter verifier could reject commits that CometBFT nodes accept.
Signing uses `cryptography` (RFC 8032 signatures are deterministic, so every library agrees).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import ed25519_zebra
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PUBKEY_SIZE = 32
SEED_SIZE = 32
SIGNATURE_SIZE = 64
ADDRESS_SIZE = 20
KEY_TYPE = "ed25519"


def address_of(pub_key: bytes) -> bytes:
    """CometBFT address of an ed25519 key: the first 20 bytes of SHA-256(key)."""
    return hashlib.sha256(pub_key).digest()[:ADDRESS_SIZE]


def verify(pub_key: bytes, message: bytes, signature: bytes) -> bool:
    """ZIP-215 verification of one signature; malformed sizes are simply invalid."""
    if len(pub_key) != PUBKEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    return bool(ed25519_zebra.ed_verify(signature, message, pub_key))


@dataclass(frozen=True)
class PubKey:
    """An ed25519 public key (32 bytes)."""

    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) != PUBKEY_SIZE:
            raise ValueError(f"ed25519 public key must be {PUBKEY_SIZE} bytes, got {len(self.key)}")

    @property
    def type(self) -> str:
        return KEY_TYPE

    def address(self) -> bytes:
        return address_of(self.key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        return verify(self.key, message, signature)


@dataclass(frozen=True)
class PrivKey:
    """An ed25519 private key, kept as its 32-byte seed (CometBFT stores seed || public key)."""

    seed: bytes
    _signer: Ed25519PrivateKey = field(init=False, repr=False, compare=False)
    pub_key: PubKey = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.seed) != SEED_SIZE:
            raise ValueError(f"ed25519 seed must be {SEED_SIZE} bytes, got {len(self.seed)}")
        signer = Ed25519PrivateKey.from_private_bytes(self.seed)
        object.__setattr__(self, "_signer", signer)
        raw = signer.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        object.__setattr__(self, "pub_key", PubKey(raw))

    @classmethod
    def generate(cls) -> PrivKey:
        import os

        return cls(os.urandom(SEED_SIZE))

    @classmethod
    def from_bytes(cls, raw: bytes) -> PrivKey:
        """Accept CometBFT's 64-byte form (seed || pub, checked) or a bare 32-byte seed."""
        if len(raw) == SEED_SIZE:
            return cls(raw)
        if len(raw) != 2 * SEED_SIZE:
            raise ValueError(f"ed25519 private key must be 32 or 64 bytes, got {len(raw)}")
        key = cls(raw[:SEED_SIZE])
        if key.pub_key.key != raw[SEED_SIZE:]:
            raise ValueError("ed25519 private key: embedded public key does not match the seed")
        return key

    def to_bytes(self) -> bytes:
        """CometBFT's 64-byte private key encoding."""
        return self.seed + self.pub_key.key

    def sign(self, message: bytes) -> bytes:
        return self._signer.sign(message)
