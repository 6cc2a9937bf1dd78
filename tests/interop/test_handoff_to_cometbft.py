"""Hand a home cometsync wrote to real CometBFT v0.38: `cometsync start` makes blocks (with enough data that
LevelDB flushes its memtable meanwhile), stop it, then `cometbft start` on the same home with the same app.
CometBFT must serve every block, report the heights, and extend the chain from the state it found.

Runs when COMETBFT_BIN names a CometBFT v0.38 binary; skipped otherwise.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.leveldb_files import goleveldb_dropped_batches, journal_sizes
from tests.node_cli import (
    free_port,
    free_port_block,
    reached,
    rpc,
    run_cli,
    spawn_cli,
    stop_process,
    wait_for,
)

COMETBFT_BIN = os.environ.get("COMETBFT_BIN", "")
pytestmark = pytest.mark.skipif(
    not COMETBFT_BIN or not Path(COMETBFT_BIN).is_file(),
    reason="set COMETBFT_BIN to a CometBFT v0.38 binary to run the hand-off to CometBFT",
)
TX_COUNT = 60
TX_VALUE_BYTES = 100_000
"""6 MB of txs: more than LevelDB's 4 MiB memtable, so it flushes in the background while we write."""


def broadcast(port: int, tx: bytes) -> None:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "broadcast_tx_sync",
            "params": {"tx": base64.b64encode(tx).decode()},
        }
    ).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    assert answer["result"]["code"] == 0, answer


def block_ids(port: int, heights: range) -> dict[int, object]:
    found: dict[int, object] = {}
    for height in heights:
        result = rpc(port, f"block?height={height}", timeout=30)
        assert result is not None and result["block"]["header"]["height"] == str(height), height
        found[height] = result["block_id"]
    return found


def test_cometbft_reopens_a_home_cometsync_wrote(tmp_path: Path) -> None:
    base = free_port_block(1)
    made = run_cli(["testnet", "--v", "1", "--o", str(tmp_path / "net"), "--starting-port", str(base)])
    assert made.returncode == 0, made.stderr
    home = tmp_path / "net" / "node0"
    config = home / "config" / "config.toml"
    config.write_text(config.read_text().replace('timeout_commit = "1s"', 'timeout_commit = "100ms"'))
    rpc_port, app_port = base + 1, free_port()

    node = spawn_cli(["start", "--home", str(home)], tmp_path / "cometsync.log")
    try:
        wait_for(lambda: reached(rpc_port, 3), 60, "cometsync to produce blocks")
        for index in range(TX_COUNT):
            broadcast(rpc_port, b"key%d=" % index + os.urandom(TX_VALUE_BYTES // 2).hex().encode())
        top = wait_for(lambda: reached(rpc_port, 3), 10, "cometsync's height") + 20
        wait_for(lambda: reached(rpc_port, top), 120, "cometsync to commit the txs")
        ours = block_ids(rpc_port, range(1, top + 1))
    finally:
        assert stop_process(node) == 0, (tmp_path / "cometsync.log").read_text()
    for name in ("blockstore.db", "state.db", "kvstore.db"):
        assert goleveldb_dropped_batches(home / "data" / name) == [], name
        assert set(journal_sizes(home / "data" / name).values()) == {0}, name

    # The kvstore's default transport is the one cometsync writes as config.toml's `abci`, as CometBFT reads.
    app = spawn_cli(
        ["kvstore", "--home", str(home), "--listen", f"127.0.0.1:{app_port}"], tmp_path / "app.log"
    )
    log = (tmp_path / "cometbft.log").open("wb")
    cometbft = subprocess.Popen(
        [
            COMETBFT_BIN,
            "start",
            "--home",
            str(home),
            "--proxy_app",
            f"127.0.0.1:{app_port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        wait_for(lambda: reached(rpc_port, top + 3), 120, "CometBFT to extend the chain it found")
        status = rpc(rpc_port, "status")
        assert status["sync_info"]["earliest_block_height"] == "1"
        theirs = block_ids(rpc_port, range(1, top + 1))
        assert theirs == ours
    finally:
        cometbft.terminate()
        cometbft.wait(30)
        stop_process(app)
    text = (tmp_path / "cometbft.log").read_text()
    assert "journal error" not in text and "panic" not in text, text[-4000:]
