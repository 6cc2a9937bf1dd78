"""`cometsync start` on a CometBFT-layout home whose stores are damaged: one `error:` line naming the
database, the heights and what to do, exit code 1, no traceback, and nothing on disk changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import plyvel
import pytest
from node_cli import run_cli
from test_node_cometbft_home import TIP, cometbft_home


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cometbft_home(tmp_path_factory.mktemp("pristine"))


def start_fails(home: Path) -> str:
    result = run_cli(["start", "--home", str(home), "--proxy_app", "kvstore"], timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def copy_of(pristine: Path, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(pristine, home)
    return home


def test_missing_current_is_refused_and_the_tables_kept(pristine: Path, tmp_path: Path) -> None:
    home = copy_of(pristine, tmp_path)
    db = home / "data" / "blockstore.db"
    (db / "CURRENT").unlink()
    tables = sorted(path.name for path in db.iterdir())
    error = start_fails(home)
    assert str(db) in error and "no CURRENT file" in error
    assert sorted(path.name for path in db.iterdir()) == tables


def test_a_block_missing_in_the_middle(pristine: Path, tmp_path: Path) -> None:
    home = copy_of(pristine, tmp_path)
    raw = plyvel.DB(str(home / "data" / "blockstore.db"))
    raw.delete(b"H:200")
    raw.close()
    error = start_fails(home)
    assert f"claims heights 1..{TIP}" in error and "height(s) 200 are incomplete" in error
    assert "restore the block store from a backup" in error


def test_a_lost_block_store_beside_the_state(pristine: Path, tmp_path: Path) -> None:
    home = copy_of(pristine, tmp_path)
    shutil.rmtree(home / "data" / "blockstore.db")
    error = start_fails(home)
    assert "blockstore.db was missing" in error and f"is at height {TIP}" in error
    assert "restore the block store" in error and "state-sync" in error
    assert "reset the app's data" not in error
