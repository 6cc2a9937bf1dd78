"""Ed25519 verifiers side by side: verifies/s and agreement with CometBFT's ZIP-215 rules.

Run: `python benchmarks/ed25519_bench.py` (needs the `bench` extra: pynacl, ed25519==1.5).
Prints one table whose ratios compare libraries measured in this same run, plus the latency of one
commit-sized batch inline versus through the process pool (which sets ParallelVerifier's threshold).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import ed25519
import nacl.signing
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cometsync.crypto import ParallelVerifier, PrivKey, SignedItem
from cometsync.crypto import verify_all as zebra_verify_all

VECTORS = Path(__file__).resolve().parent.parent / "tests" / "data" / "zip215" / "vectors.json"
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493
SIGNATURES = 6000
SLOW_SIGNATURES = 600
"""`ed25519` 1.5 verifies ~1k/s; fewer signatures keep the whole run well under a minute."""
PASSES = 3
COMMIT_SIZES = (100, 256)

BatchVerifier = Callable[[Sequence[SignedItem]], list[bool]]


def make_items(count: int) -> list[SignedItem]:
    keys = [PrivKey(os.urandom(32)) for _ in range(100)]
    items = []
    for i in range(count):
        key = keys[i % len(keys)]
        message = os.urandom(120)
        items.append((key.pub_key.key, message, key.sign(message)))
    return items


def one_by_one(check: Callable[[bytes, bytes, bytes], None]) -> BatchVerifier:
    """Adapt a raising single verifier (exception = invalid) to a batch verifier."""

    def verify_batch(items: Sequence[SignedItem]) -> list[bool]:
        results = []
        for pub, msg, sig in items:
            try:
                check(pub, msg, sig)
            except Exception:
                results.append(False)
            else:
                results.append(True)
        return results

    return verify_batch


def check_ed25519_15(pub: bytes, msg: bytes, sig: bytes) -> None:
    ed25519.VerifyingKey(pub).verify(sig, msg)


def check_pynacl(pub: bytes, msg: bytes, sig: bytes) -> None:
    nacl.signing.VerifyKey(pub).verify(msg, sig)


def check_cryptography(pub: bytes, msg: bytes, sig: bytes) -> None:
    Ed25519PublicKey.from_public_bytes(pub).verify(sig, msg)


def rate(verifier: BatchVerifier, items: Sequence[SignedItem]) -> float:
    """Best verifies/s over PASSES runs; every honest signature must verify."""
    best = float("inf")
    for _ in range(PASSES):
        started = time.perf_counter()
        results = verifier(items)
        best = min(best, time.perf_counter() - started)
        if not all(results):
            raise SystemExit("an honest signature failed to verify")
    return len(items) / best


def zip215_agreement(verifier: BatchVerifier) -> tuple[int, bool]:
    """(ZIP-215 vectors accepted out of 196, whether S + L is rejected)."""
    vectors = json.loads(VECTORS.read_text())["vectors"]
    items = [
        (bytes.fromhex(v["pubkey_hex"]), bytes.fromhex(v["message_hex"]), bytes.fromhex(v["signature_hex"]))
        for v in vectors
    ]
    key = PrivKey(bytes(32))
    signature = key.sign(b"vote")
    s_plus_l = (int.from_bytes(signature[32:], "little") + GROUP_ORDER).to_bytes(32, "little")
    [malleable_accepted] = verifier([(key.pub_key.key, b"vote", signature[:32] + s_plus_l)])
    return sum(verifier(items)), not malleable_accepted


def commit_latency_ms(verifier: BatchVerifier, items: Sequence[SignedItem]) -> float:
    best = float("inf")
    for _ in range(20):
        started = time.perf_counter()
        verifier(items)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> None:
    items = make_items(SIGNATURES)
    with ParallelVerifier(workers=2, chunk_size=128, inline_below=0) as pool:
        pool.verify_all(items[:256])  # start the worker processes outside the timing
        candidates: list[tuple[str, BatchVerifier, int]] = [
            ("ed25519 1.5 (user's choice)", one_by_one(check_ed25519_15), SLOW_SIGNATURES),
            ("pynacl (libsodium)", one_by_one(check_pynacl), SIGNATURES),
            ("cryptography (OpenSSL)", one_by_one(check_cryptography), SIGNATURES),
            ("zebra, 1 thread", zebra_verify_all, SIGNATURES),
            ("zebra, ParallelVerifier 2 procs", pool.verify_all, SIGNATURES),
        ]
        rows = [(name, rate(v, items[:count]), *zip215_agreement(v)) for name, v, count in candidates]
        latencies = [
            (
                size,
                commit_latency_ms(zebra_verify_all, items[:size]),
                commit_latency_ms(pool.verify_all, items[:size]),
            )
            for size in COMMIT_SIZES
        ]

    fastest = max(r[1] for r in rows)
    print(f"{'verifier':34} {'verifies/s':>11} {'x fastest':>9} {'ZIP-215 ok':>10} {'S+L rejected':>12}")
    for name, per_second, accepted, rejects_malleable in rows:
        print(
            f"{name:34} {per_second:11,.0f} {per_second / fastest:9.2f} "
            f"{accepted:>6}/196 {'yes' if rejects_malleable else 'NO':>12}"
        )
    print(f"\none batch, best of 20 (cpus: {os.cpu_count()}):")
    for size, inline_ms, pooled_ms in latencies:
        print(f"  {size:4} signatures: inline {inline_ms:.2f} ms, 2-process pool {pooled_ms:.2f} ms")


if __name__ == "__main__":
    main()
