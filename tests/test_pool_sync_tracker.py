"""CometBFT main's sync_tracker_test.go cases for cometsync's SyncTracker (explicit times, no clock)."""

from __future__ import annotations

from cometsync.pool import SyncTracker

T0 = 1_767_268_800.0  # 2026-01-01T12:00:00Z


def at(offset: float) -> float:
    return T0 + offset


def test_timeout_floor_with_a_single_block() -> None:
    tracker = SyncTracker(1.0)
    tracker.record_block(at(0), at(0))
    assert not tracker.is_caught_up(at(0.5))
    assert tracker.is_caught_up(at(1.0))


def test_catching_up_faster_than_production_is_not_caught_up() -> None:
    tracker = SyncTracker(5.0)
    tracker.record_block(at(0), at(0))
    tracker.record_block(at(2), at(0.5))
    assert not tracker.is_caught_up(at(0.5))


def test_not_catching_up_escapes_at_0_6_of_production() -> None:
    tracker = SyncTracker(10.0)
    tracker.record_block(at(0), at(0))
    tracker.record_block(at(2), at(0.5))
    tracker.record_block(at(4), at(1))
    tracker.record_block(at(6), at(2))
    assert tracker.production_interval() == 2.0
    assert tracker.is_caught_up(at(3.5))  # 1.5 s without a block >= 1.2 s (plus a sliver for block age)


def test_timeout_floor_applies_after_production_is_known() -> None:
    tracker = SyncTracker(1.0)
    tracker.record_block(at(0), at(0))
    tracker.record_block(at(2), at(0.5))
    assert tracker.is_caught_up(at(2))


def test_zero_timeout_is_caught_up_at_once() -> None:
    tracker = SyncTracker(0.0)
    tracker.record_block(at(0), at(0))
    assert tracker.is_caught_up(at(0))


def test_attacker_throttling_to_production_rate_is_escaped() -> None:
    tracker = SyncTracker(5.0)
    tracker.record_block(at(0), at(0))
    for i in range(3):
        tracker.record_block(at(2 + i * 2), at(0.1 + i * 0.1))
    assert not tracker.is_caught_up(at(0.5))
    tracker.record_block(at(10), at(3))
    assert tracker.is_caught_up(at(5))


def test_far_behind_tolerates_gaps_proportional_to_block_age() -> None:
    """Regime 1: blocks ~10 000 s old at 1 s production -> wait max(floor, age / 100), about 101 s."""
    tracker = SyncTracker(30.0)
    for i in range(4):
        tracker.record_block(at(i), at(10_000 + i))
    assert tracker.no_block_threshold(at(10_003)) == 100.0
    assert not tracker.is_caught_up(at(10_003 + 100))
    assert tracker.is_caught_up(at(10_003 + 102))


def test_no_blocks_recorded_is_not_caught_up() -> None:
    tracker = SyncTracker(0.0)
    assert not tracker.has_blocks
    assert not tracker.is_caught_up(at(100))


def test_header_times_going_backwards_add_no_production_sample() -> None:
    tracker = SyncTracker(5.0)
    tracker.record_block(at(10), at(0))
    tracker.record_block(at(10), at(1))
    tracker.record_block(at(9), at(2))
    assert tracker.production_interval() is None
