"""Crash safety: SIGKILL the applying node at 35 points, restart, and compare with an uninterrupted run.

Seven crash points, each hit at five passes. At 21 points the kvstore app is killed too (a power cut) and
restarted over the other ABCI transport (socket and gRPC alternate); at 14 only the node dies while the
app keeps running, so the app may hold an uncommitted FinalizeBlock when the restarted node replays that
height (after `executor.after_save_state` the state is even one block ahead of the app). Each run
continues where the previous crash left it (the handshake recovers); the final block store, state store
and app data must equal an uninterrupted run's, and the driver's GuardedApp fails the run if the app is
ever asked to execute a block it already committed or a commit skips or repeats a height.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import plyvel
from abci_process import ServerProcess, start_kvstore

from cometsync.abci.kvstore.serve import TRANSPORTS
from cometsync.store.crashpoints import CRASH_ENV

TESTS = Path(__file__).parent
UPTO = 160  # covers multi-part blocks 62 and 127 and the validator change of block 152
POINTS = (
    "store.before_batch_write",
    "store.after_batch_write",
    "executor.before_finalize_block",
    "executor.after_finalize_block",
    "executor.block_written",
    "executor.after_save_state",
    "executor.after_commit",
)
POWER_CUT_PASSES = (1, 3, 11)
NODE_ONLY_PASSES = (2, 5)
RUN_TIMEOUT = 60
TRANSPORT: dict[ServerProcess, str] = {}
"""The ABCI transport each started app serves."""


def _start_app(home: Path, life: int) -> ServerProcess:
    """The app of the `life`-th power cycle: lives alternate socket and gRPC, so every crash point is
    recovered over both transports and the result must not depend on which one served which block."""
    transport = TRANSPORTS[life % len(TRANSPORTS)]
    app = start_kvstore(home, transport=transport)
    TRANSPORT[app] = transport
    return app


def _run_driver(home: Path, app: ServerProcess, crash: str | None) -> subprocess.CompletedProcess[str]:
    """One life of the node against the running `app` (over its transport), SIGKILLed at `crash` if given."""
    env = {key: value for key, value in os.environ.items() if key != CRASH_ENV}
    if crash is not None:
        env[CRASH_ENV] = crash
    return subprocess.run(
        [sys.executable, str(TESTS / "crash_driver.py"), str(home), app.address, str(UPTO), TRANSPORT[app]],
        env=env,
        cwd=TESTS,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )


def _db_items(path: Path) -> dict[bytes, bytes]:
    db = plyvel.DB(str(path))
    try:
        return dict(db.iterator())
    finally:
        db.close()


def _snapshot(home: Path) -> dict[str, dict[bytes, bytes]]:
    data = home / "data"
    return {name: _db_items(data / name) for name in ("blockstore.db", "state.db", "kvstore.db")}


def _crashes() -> list[tuple[str, bool]]:
    """(crash point:pass, whether the app dies too): power cuts first, then node-only crashes."""
    power_cuts = [(f"{point}:{passes}", True) for passes in POWER_CUT_PASSES for point in POINTS]
    return power_cuts + [(f"{point}:{passes}", False) for passes in NODE_ONLY_PASSES for point in POINTS]


def test_sigkill_at_35_points_recovers_to_the_uninterrupted_result(tmp_path: Path) -> None:
    reference_home, crashed_home = tmp_path / "reference", tmp_path / "crashed"
    app = _start_app(reference_home, 1)  # gRPC
    try:
        reference = _run_driver(reference_home, app, None)
    finally:
        app.kill()
    assert reference.returncode == 0, reference.stderr
    assert reference.stdout.startswith(f"synced {UPTO} ")

    crashes = _crashes()
    assert len({crash for crash, _ in crashes}) == len(crashes) >= 35
    lives = 0
    app = _start_app(crashed_home, lives)
    try:
        for crash, power_cut in crashes:
            run = _run_driver(crashed_home, app, crash)
            assert run.returncode == -signal.SIGKILL, (crash, run.returncode, run.stderr[-2000:])
            if power_cut:
                app.kill()
                lives += 1
                app = _start_app(crashed_home, lives)
        final = _run_driver(crashed_home, app, None)
    finally:
        app.kill()
    assert final.returncode == 0, final.stderr[-2000:]
    assert final.stdout == reference.stdout

    expected, got = _snapshot(reference_home), _snapshot(crashed_home)
    for name in expected:
        assert got[name] == expected[name], name
