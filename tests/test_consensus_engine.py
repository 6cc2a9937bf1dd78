"""Engines are discovered through the `cometsync.consensus` entry-point group, including third-party ones."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from cometsync.consensus.engine import (
    ENTRY_POINT_GROUP,
    EngineError,
    EngineFactory,
    available_engines,
    load_engine,
)
from cometsync.consensus.follow import follow_engine
from cometsync.consensus.solo import solo_engine


@pytest.fixture
def third_party_dist(tmp_path: Path) -> Iterator[Path]:
    """An installed-looking distribution (module + dist-info with entry_points.txt) on sys.path."""
    (tmp_path / "relay_engine.py").write_text(
        textwrap.dedent(
            '''
            """A third-party engine: records the hand-off and does nothing else."""


            class RelayEngine:
                def __init__(self, ctx):
                    self.ctx = ctx
                    self.switched = None

                def switch_to_consensus(self, state, blocks_synced):
                    self.switched = (state, blocks_synced)


            def make(ctx):
                return RelayEngine(ctx)


            NOT_A_FACTORY = 42
            '''
        )
    )
    dist_info = tmp_path / "relay_engine-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: relay-engine\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n"
        "relay = relay_engine:make\n"
        "broken = relay_engine_missing:make\n"
        "constant = relay_engine:NOT_A_FACTORY\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("relay_engine", None)


def test_builtin_engines_are_registered() -> None:
    assert {"follow", "solo"} <= set(available_engines())
    assert load_engine("follow") is follow_engine
    assert load_engine("solo").build is solo_engine


def test_engines_declare_whether_they_need_a_mempool(third_party_dist: Path) -> None:
    """`follow` only applies what peers commit; `solo` reaps txs; an undeclared plug-in gets one."""
    assert load_engine("follow").needs_mempool is False
    assert load_engine("solo").needs_mempool is True
    relay = load_engine("relay")
    assert isinstance(relay, EngineFactory) and relay.needs_mempool is True


def test_a_third_party_engine_is_found_and_built(third_party_dist: Path) -> None:
    assert {"follow", "relay", "solo"} <= set(available_engines())
    factory = load_engine("relay")
    engine = factory("context")  # type: ignore[arg-type]
    engine.switch_to_consensus("state", 3)  # type: ignore[arg-type]
    assert engine.switched == ("state", 3)  # type: ignore[attr-defined]
    assert type(engine).__module__ == "relay_engine"


def test_unknown_or_broken_engines_are_clear_errors(third_party_dist: Path) -> None:
    unknown = r"unknown consensus engine 'paxos'.*available: .*follow.*relay.*solo"
    with pytest.raises(EngineError, match=unknown):
        load_engine("paxos")
    with pytest.raises(EngineError, match=r"'broken' .*failed to load: No module named 'relay_engine_"):
        load_engine("broken")
    with pytest.raises(EngineError, match=r"'constant' .*is not callable"):
        load_engine("constant")
