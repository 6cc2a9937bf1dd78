"""RateMonitor: the per-peer EMA the pool sorts and judges peers by."""

from __future__ import annotations

import math

import pytest

from cometsync.pool.flowrate import RateMonitor


def test_steady_rate_converges_to_the_true_rate() -> None:
    monitor = RateMonitor(0.0, sample_period=1.0, window=40.0)
    for second in range(400):
        monitor.record(second + 0.5, 10.0)
    assert monitor.rate(400.0) == pytest.approx(10.0, rel=1e-3)


def test_one_sample_weighs_one_minus_exp_of_its_length_over_the_window() -> None:
    monitor = RateMonitor(0.0, sample_period=1.0, window=40.0, initial_rate=100.0)
    monitor.record(0.5, 4.0)
    weight = 1.0 - math.exp(-2.0 / 40.0)
    assert monitor.rate(2.0) == pytest.approx(weight * 2.0 + (1.0 - weight) * 100.0)


def test_idle_time_decays_the_rate_and_partial_samples_wait() -> None:
    monitor = RateMonitor(0.0, sample_period=1.0, window=40.0, initial_rate=100.0)
    assert monitor.rate(0.9) == 100.0
    assert monitor.rate(40.0) == pytest.approx(100.0 * math.exp(-1.0))
