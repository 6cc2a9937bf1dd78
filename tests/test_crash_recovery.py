"""Crash safety: SIGKILL the applying process (and its kvstore app) at 24 points, restart, and compare.

Each run continues where the previous crash left it (the handshake recovers); the final block store,
state store and app data must equal an uninterrupted run's, and the driver's GuardedApp fails the run if
the app is ever asked to execute a block it already committed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import plyvel
from abci_grpc_app import start_kvstore, stop_process

from cometsync.store.crashpoints import CRASH_ENV

TESTS = Path(__file__).parent
UPTO = 160  # covers multi-part blocks 62 and 127 and the validator change of block 152
POINTS = (
    "store.before_batch_write",
    "store.after_batch_write",
    "executor.before_finalize_block",
    "executor.after_finalize_block",
    "executor.after_save_response",
    "executor.before_commit",
    "executor.after_commit",
    "executor.after_save_state",
)
PASSES = (1, 3, 11)
RUN_TIMEOUT = 60


def _run_driver(home: Path, crash: str | None) -> subprocess.CompletedProcess[str]:
    """One node life: start the app, run the driver (maybe crashing), then kill the app like a power cut."""
    app, address = start_kvstore(home)
    env = {key: value for key, value in os.environ.items() if key != CRASH_ENV}
    if crash is not None:
        env[CRASH_ENV] = crash
    try:
        return subprocess.run(
            [sys.executable, str(TESTS / "crash_driver.py"), str(home), address, str(UPTO)],
            env=env,
            cwd=TESTS,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
    finally:
        if crash is not None:
            app.send_signal(signal.SIGKILL)
        stop_process(app)


def _db_items(path: Path) -> dict[bytes, bytes]:
    db = plyvel.DB(str(path))
    try:
        return dict(db.iterator())
    finally:
        db.close()


def _snapshot(home: Path) -> dict[str, dict[bytes, bytes]]:
    data = home / "data"
    return {name: _db_items(data / name) for name in ("blockstore.db", "state.db", "kvstore.db")}


def test_sigkill_at_24_points_recovers_to_the_uninterrupted_result(tmp_path: Path) -> None:
    reference_home, crashed_home = tmp_path / "reference", tmp_path / "crashed"
    reference = _run_driver(reference_home, None)
    assert reference.returncode == 0, reference.stderr
    assert reference.stdout.startswith(f"synced {UPTO} ")

    crashes = [f"{point}:{passes}" for passes in PASSES for point in POINTS]
    assert len(set(crashes)) >= 20
    for crash in crashes:
        run = _run_driver(crashed_home, crash)
        assert run.returncode == -signal.SIGKILL, (crash, run.returncode, run.stderr[-2000:])
    final = _run_driver(crashed_home, None)
    assert final.returncode == 0, final.stderr[-2000:]
    assert final.stdout == reference.stdout

    expected, got = _snapshot(reference_home), _snapshot(crashed_home)
    for name in expected:
        assert got[name] == expected[name], name
