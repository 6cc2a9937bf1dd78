"""Verification of many ed25519 signatures at once (a commit's worth or more)."""

from __future__ import annotations

from collections.abc import Sequence

from cometsync.crypto.ed25519 import verify

SignedItem = tuple[bytes, bytes, bytes]
"""(public key, message, signature)."""


def verify_all(items: Sequence[SignedItem]) -> list[bool]:
    """Verify every item in this process; the result is aligned with `items`."""
    return [verify(pub, msg, sig) for pub, msg, sig in items]
