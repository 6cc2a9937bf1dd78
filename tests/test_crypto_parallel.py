"""ParallelVerifier: real worker processes, aligned results, inline small batches, clean shutdown."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cometsync.crypto import ParallelVerifier, PrivKey, SignedItem, verify_all

KEYS = [PrivKey(bytes([i]) * 32) for i in range(8)]


def signed_items(count: int) -> list[SignedItem]:
    """`count` items where every 7th signature is for a different message (invalid)."""
    items: list[SignedItem] = []
    for i in range(count):
        key = KEYS[i % len(KEYS)]
        message = b"vote %d" % i
        signed = message if i % 7 else b"other"
        items.append((key.pub_key.key, message, key.sign(signed)))
    return items


def expected(count: int) -> list[bool]:
    return [i % 7 != 0 for i in range(count)]


@pytest.fixture
def verifier() -> Iterator[ParallelVerifier]:
    with ParallelVerifier(workers=2, chunk_size=50, inline_below=100) as pv:
        yield pv


def test_large_batch_goes_through_the_pool_and_keeps_order(verifier: ParallelVerifier) -> None:
    items = signed_items(333)
    future = verifier.submit(items)
    assert future.result(timeout=60) == expected(333)
    assert verifier.pool_started
    assert verifier.verify_all(items[:150]) == expected(150)


def test_small_batch_is_verified_inline_without_starting_processes(verifier: ParallelVerifier) -> None:
    future = verifier.submit(signed_items(99))
    assert future.done()
    assert future.result() == expected(99)
    assert not verifier.pool_started


def test_empty_batch(verifier: ParallelVerifier) -> None:
    assert verifier.verify_all([]) == []


def test_agrees_with_single_process_verify_all(verifier: ParallelVerifier) -> None:
    items = signed_items(120)
    items[5] = (items[5][0][:31], items[5][1], items[5][2])
    assert verifier.verify_all(items) == verify_all(items)


def test_worker_error_fails_the_future(verifier: ParallelVerifier) -> None:
    items: list[object] = list(signed_items(150))
    items[140] = (None, b"m", b"s")
    future = verifier.submit(items)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        future.result(timeout=60)


def test_inline_error_fails_the_future_too(verifier: ParallelVerifier) -> None:
    future = verifier.submit([(None, b"m", b"s")])  # type: ignore[list-item]
    assert isinstance(future.exception(), TypeError)


def test_close_stops_workers_and_refuses_new_work() -> None:
    pv = ParallelVerifier(workers=1, chunk_size=10, inline_below=1)
    assert pv.verify_all(signed_items(20)) == expected(20)
    pv.close()
    assert not pv.pool_started
    pv.close()
    with pytest.raises(RuntimeError, match="closed"):
        pv.submit(signed_items(1))


@pytest.mark.parametrize("kwargs", [{"workers": 0}, {"chunk_size": 0}, {"inline_below": -1}])
def test_rejects_nonsense_settings(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be"):
        ParallelVerifier(**kwargs)
