"""A block the app cannot execute mid-sync stops the node: `cometsync start` syncing over real TCP from a
`cometsync start` producer into a real app process over gRPC exits 1 within a bound, in order, with one
`error:` line naming the height and the app's reason; what it stored is kept and the next start resumes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from abci_failing_app import refusal
from abci_process import TESTS_DIR, ServerProcess
from node_cli import handed_off, producer_and_follower, reached, spawn_cli, stop_process, wait_for

from cometsync.crypto import load_node_key
from cometsync.state import StateStore
from cometsync.store import BlockStore

FAIL_AT = 12
EXIT_BOUND_SECONDS = 60.0


def _stored_heights(home: Path) -> tuple[int, int]:
    data = home / "data"
    blocks, states = BlockStore.open(data / "blockstore.db"), StateStore.open(data / "state.db")
    try:
        state = states.load()
        return blocks.height, state.last_block_height if state is not None else 0
    finally:
        blocks.close()
        states.close()


def test_a_block_the_app_refuses_stops_the_node_with_one_error(tmp_path: Path) -> None:
    producer_home, follower_home, base = producer_and_follower(tmp_path, "30ms")
    producer_id = load_node_key(producer_home / "config" / "node_key.json").node_id
    peers = ["--p2p.persistent_peers", f"{producer_id}@127.0.0.1:{base}"]
    producer = spawn_cli(["start", "--home", str(producer_home)], tmp_path / "node0.log")
    app = ServerProcess([sys.executable, str(TESTS_DIR / "abci_failing_app.py"), str(FAIL_AT)])
    follower: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: reached(base + 1, FAIL_AT + 10), 90, f"the producer at height {FAIL_AT + 10}")
        log = tmp_path / "follower.log"
        follower = spawn_cli(
            ["start", "--home", str(follower_home), "--proxy_app", f"grpc://{app.address}", *peers], log
        )
        try:
            code = follower.wait(EXIT_BOUND_SECONDS)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the failed node ran on:\n{log.read_text()[-3000:]}") from None
        output = log.read_text(errors="replace")
        assert code == 1, output[-3000:]
        errors = [line for line in output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, output[-3000:]
        assert errors[0].startswith(f"error: blocksync failed at height {FAIL_AT}: "), errors
        assert errors[0].endswith(refusal(FAIL_AT)), errors
        assert "Traceback" not in output and "shutdown:" not in output, output[-3000:]
        # Saved before it was applied, as CometBFT saves it: the next handshake replays it into the app.
        assert _stored_heights(follower_home) == (FAIL_AT, FAIL_AT - 1)

        restart_log = tmp_path / "restart.log"
        follower = spawn_cli(["start", "--home", str(follower_home), *peers], restart_log)
        wait_for(lambda: handed_off(base + 11), 90, "the restarted follower to hand off")
        assert stop_process(follower) == 0
        assert f"replayed {FAIL_AT} stored blocks into the app" in restart_log.read_text()
    finally:
        if follower is not None and follower.poll() is None:
            follower.kill()
            follower.wait(10)
        app.terminate()
        assert stop_process(producer) == 0
