"""The node's small lifecycle on `task.Clock`: parts stop in reverse start order, each within its bound,
and a failing or hanging stop never keeps the rest from stopping; and the engine hand-off seam."""

from __future__ import annotations

from pathlib import Path

import pytest
from blocksync_fixtures import fired
from test_consensus_solo import solo_node
from twisted.internet import defer, task

from cometsync.blocksync.handoff import DeferredHandoff
from cometsync.consensus.engine import load_engine
from cometsync.node.handoff import connect_engine
from cometsync.node.lifecycle import Lifecycle, Stopping
from cometsync.state import State


def test_parts_stop_in_reverse_order_each_within_its_bound(caplog: pytest.LogCaptureFixture) -> None:
    clock = task.Clock()
    lifecycle = Lifecycle(clock)
    stopped: list[str] = []
    hanging: defer.Deferred[None] = defer.Deferred()

    def fails() -> None:
        stopped.append("fails")
        raise OSError("disk gone")

    def hangs() -> defer.Deferred[None]:
        stopped.append("hangs")
        return hanging

    lifecycle.running("the store", lambda: stopped.append("store"))
    lifecycle.running("a failing part", fails)
    assert lifecycle.start("the listener", lambda: 8080, hangs, bound=10.0) == 8080
    done: list[None] = []
    lifecycle.stop().addCallback(done.append)
    again: list[None] = []
    lifecycle.stop().addCallback(again.append)  # idempotent: the same shutdown
    assert stopped == ["hangs"] and done == []
    clock.advance(9.9)
    assert stopped == ["hangs"] and done == []
    clock.advance(0.1)
    assert stopped == ["hangs", "fails", "store"] and done == again == [None]
    assert hanging.called  # cancelled by the timeout
    assert "gave up waiting for the listener after 10s" in caplog.text
    assert "stopping a failing part failed: disk gone" in caplog.text


def test_a_part_that_finishes_starting_during_a_stop_is_stopped_again() -> None:
    lifecycle = Lifecycle(task.Clock())
    lifecycle.stop()
    closed: list[str] = []
    with pytest.raises(Stopping):
        lifecycle.running("the ABCI client", lambda: closed.append("client"))
    assert closed == ["client"]
    with pytest.raises(Stopping):
        lifecycle.start("the switch", lambda: closed.append("started"), lambda: None)
    assert closed == ["client"]


def test_an_engine_that_refuses_the_hand_off_is_reported(tmp_path: Path) -> None:
    """`solo` without more than 2/3 of the power raises at the switch: the node hears why."""
    node, keys = solo_node(tmp_path, (20, 10))
    try:
        engine = load_engine("solo")(node.context(task.Clock(), priv_validator=keys[0]))
        handoff: DeferredHandoff[State] = DeferredHandoff()
        switched: list[int] = []
        refusals: list[str] = []
        connect_engine(handoff, engine, switched.append, refusals.append)
        handoff.switch_to_consensus(fired(node.handshake()), 0)
        assert switched == []
        assert len(refusals) == 1
        assert refusals[0].startswith("the consensus engine refused the hand-off: solo: the held validator")
    finally:
        node.close()
