"""The progress line and log lines the node prints, driven by a Clock (no sleeps)."""

from __future__ import annotations

import io

from twisted.internet.task import Clock

from cometsync.node.progress import (
    ProgressReporter,
    ProgressSnapshot,
    format_eta,
    log_line,
    measure,
    tty_line,
)
from cometsync.rpc import SyncProgress


class FakeNode:
    """A node syncing 50 blocks/s toward height 310 with two peers."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.progress = SyncProgress()

    def progress_snapshot(self) -> ProgressSnapshot:
        height = int(self.clock.seconds() * 50)
        return measure(self.progress, self.clock.seconds(), "blocksync", height, 310, 2)


def test_formats() -> None:
    snapshot = ProgressSnapshot("blocksync", 120, 310, 52.14, 3.6, 2)
    assert tty_line(snapshot) == "blocksync  height 120/310 (38.7%)  52.1 blocks/s  ETA 0m03s  peers 2"
    assert log_line(snapshot) == (
        "event=progress phase=blocksync height=120 target=310 blocks_per_second=52.1 eta_seconds=4 peers=2"
    )
    assert format_eta(None) == "?" and format_eta(3725) == "1h02m05s"


def test_tty_reporter_refreshes_one_line_each_second() -> None:
    clock, out = Clock(), io.StringIO()
    reporter = ProgressReporter(FakeNode(clock), out, tty=True, clock=clock)
    reporter.start()
    clock.pump([1.0] * 3)
    reporter.event("handoff", engine="follow")
    reporter.stop()
    text = out.getvalue()
    assert text.count("\r\x1b[K") == 4
    assert "height 150/310" in text and "50.0 blocks/s" in text and "ETA 0m03s" in text
    assert text.endswith(
        "event=handoff phase=blocksync height=150 target=310 blocks_per_second=50.0 "
        "eta_seconds=3 peers=2 engine=follow\n"
    )


def test_log_reporter_writes_key_value_lines_every_five_seconds() -> None:
    clock, out = Clock(), io.StringIO()
    reporter = ProgressReporter(FakeNode(clock), out, tty=False, clock=clock)
    reporter.start()
    clock.pump([1.0] * 5)
    reporter.stop()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in out.getvalue()
    assert lines[1].startswith("event=progress phase=blocksync height=250 target=310 blocks_per_second=50.0")
