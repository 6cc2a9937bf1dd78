"""Rejection log on task.Clock: one line per (peer, kind) per interval with a suppressed count; counters
exposed as Prometheus families."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from twisted.internet import task

from cometsync.metrics.p2p import register_p2p_metrics
from cometsync.p2p.rejections import RejectionLog


def test_lines_are_rate_limited_per_peer_and_kind_and_count_what_was_suppressed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = task.Clock()
    rejections = RejectionLog(clock, interval=10.0)
    caplog.set_level(logging.DEBUG, logger="cometsync.p2p.rejections")
    for _ in range(50):
        rejections.close("1.2.3.4:5", "HandshakeError", "HandshakeError: bad", source="1.2.3.4")
    rejections.close("9.9.9.9:5", "HandshakeError", "HandshakeError: bad", source="9.9.9.9")
    clock.advance(10.0)
    rejections.close("1.2.3.4:6", "HandshakeError", "HandshakeError: bad", source="1.2.3.4")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert lines[0] == "closing connection to 1.2.3.4:5: HandshakeError: bad"
    assert lines[2].endswith("(49 similar suppressed in the last 10s)")
    assert rejections.closes["HandshakeError"] == 52
    assert not any(r.exc_info for r in caplog.records)


def test_counters_are_scraped_by_reason() -> None:
    rejections = RejectionLog(task.Clock())
    rejections.drop("p", "unsolicited", "x")
    rejections.drop("p", "unsolicited", "x")
    rejections.ban("p", "budget", 60, "tx bomb")
    registry = CollectorRegistry()
    register_p2p_metrics(registry, rejections, "chain-a")
    text = generate_latest(registry).decode()
    assert 'cometsync_p2p_dropped_messages_total{chain_id="chain-a",reason="unsolicited"} 2.0' in text
    assert 'cometsync_p2p_peer_bans_total{chain_id="chain-a",reason="budget"} 1.0' in text
    assert "cometsync_p2p_closed_connections_total" in text
