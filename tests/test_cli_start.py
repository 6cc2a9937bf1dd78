"""`cometsync start` as real subprocesses on a `cometsync testnet` home: node0 (solo) makes blocks, node1
(fresh, follow) fast-syncs them over TCP on 127.0.0.1, `status --json` reads it, SIGTERM stops both cleanly.
"""

from __future__ import annotations

import json
from pathlib import Path

from node_cli import handed_off, producer_and_follower, reached, run_cli, spawn_cli, stop_process, wait_for

from cometsync.crypto import load_node_key
from cometsync.store import BlockStore


def _testnet(tmp_path: Path) -> tuple[Path, Path, int]:
    return producer_and_follower(tmp_path, "50ms")


def test_start_sync_status_and_sigterm(tmp_path: Path) -> None:
    node0, node1, base = _testnet(tmp_path)
    producer_id = load_node_key(node0 / "config" / "node_key.json").node_id
    producer = spawn_cli(["start", "--home", str(node0)], tmp_path / "node0.log")
    follower = None
    try:
        wait_for(lambda: reached(base + 1, 20), 60, "node0 at height 20")
        follower = spawn_cli(
            [
                "start",
                "--home",
                str(node1),
                "--moniker",
                "follower",
                "--p2p.persistent_peers",
                f"{producer_id}@127.0.0.1:{base}",
            ],
            tmp_path / "node1.log",
        )
        wait_for(lambda: handed_off(base + 11), 60, "node1 to hand off")
        status = run_cli(["status", "--rpc", f"http://127.0.0.1:{base + 11}", "--json"], timeout=30)
        assert status.returncode == 0, status.stderr
        shown = json.loads(status.stdout)
        assert "follower" in json.dumps(shown)
        wait_for(lambda: reached(base + 11, 25), 60, "node1 following node0")
    finally:
        codes = [stop_process(p) for p in (follower, producer) if p is not None]
    log1 = (tmp_path / "node1.log").read_text()
    assert codes == [0, 0], log1[-2000:]
    assert "Traceback" not in log1 + (tmp_path / "node0.log").read_text()
    assert "event=handoff" in log1
    # Stores were closed (the LevelDB locks are free) and both chains agree block by block.
    stores = [BlockStore.open(home / "data" / "blockstore.db") for home in (node0, node1)]
    try:
        common = min(store.height for store in stores)
        assert common >= 25
        metas = [store.load_block_meta(common) for store in stores]
        assert metas[0] is not None and metas[1] is not None
        assert metas[0].block_id == metas[1].block_id
    finally:
        for store in stores:
            store.close()
