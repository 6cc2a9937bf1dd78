"""The verifier must agree with CometBFT (curve25519-voi, ZIP-215 options) on every signature."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cometsync.crypto import PrivKey, PubKey, verify, verify_all

VECTORS = json.loads((Path(__file__).parent / "data" / "zip215" / "vectors.json").read_text())["vectors"]
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493
"""L, the order of the ed25519 prime-order subgroup."""


def as_items(vectors: list[dict[str, str]]) -> list[tuple[bytes, bytes, bytes]]:
    return [
        (bytes.fromhex(v["pubkey_hex"]), bytes.fromhex(v["message_hex"]), bytes.fromhex(v["signature_hex"]))
        for v in vectors
    ]


def test_all_196_zip215_vectors_are_accepted() -> None:
    assert len(VECTORS) == 196
    assert all(v["zip215_valid"] for v in VECTORS)
    assert verify_all(as_items(VECTORS)) == [True] * 196


def with_s_plus_l(signature: bytes) -> bytes:
    s = int.from_bytes(signature[32:], "little") + GROUP_ORDER
    return signature[:32] + s.to_bytes(32, "little")


def test_non_canonical_s_is_rejected() -> None:
    key = PrivKey(bytes(range(32)))
    message = b"CanonicalVote"
    signature = key.sign(message)
    malleated = with_s_plus_l(signature)
    assert malleated != signature
    assert key.pub_key.verify(message, signature)
    assert not key.pub_key.verify(message, malleated)


def test_non_canonical_s_is_rejected_on_zip215_vectors_too() -> None:
    """S = 0 + L: the small-order vectors stay valid only with canonical S."""
    pub, msg, sig = as_items(VECTORS)[0]
    assert not verify(pub, msg, with_s_plus_l(sig))


def test_tampered_message_or_signature_fails() -> None:
    key = PrivKey(bytes(32))
    signature = key.sign(b"block")
    assert not verify(key.pub_key.key, b"block!", signature)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    assert not verify(key.pub_key.key, b"block", flipped)


@pytest.mark.parametrize(("pub_size", "sig_size"), [(0, 64), (31, 64), (33, 64), (32, 0), (32, 63), (32, 65)])
def test_wrong_sizes_are_invalid_not_errors(pub_size: int, sig_size: int) -> None:
    key = PrivKey(bytes(32))
    signature = key.sign(b"m")
    pub = (key.pub_key.key * 2)[:pub_size]
    sig = (signature * 2)[:sig_size]
    assert verify(pub, b"m", sig) is False


def test_undecodable_public_key_is_invalid_not_an_error() -> None:
    signature = PrivKey(bytes(32)).sign(b"m")
    assert verify(b"\xff" * 32, b"m", signature) is False


def test_pubkey_rejects_wrong_size_at_construction() -> None:
    with pytest.raises(ValueError, match="must be 32 bytes"):
        PubKey(b"\x00" * 33)


def test_cometbft_key_from_secret_vector() -> None:
    """crypto/ed25519 GenPrivKeyFromSecret("it's a secret") from the v0.38 privval vectors."""
    key = PrivKey(hashlib.sha256(b"it's a secret").digest())
    assert key.pub_key.key.hex() == "556a436f1218d30942efe798420f51dc9b6a311b929c578257457d05c5fcf230"
