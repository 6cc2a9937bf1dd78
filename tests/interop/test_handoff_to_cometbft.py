"""Hand a home cometsync wrote to real CometBFT v0.38: `cometsync start` (with enough data that LevelDB
flushes its memtable meanwhile), stop it, then `cometbft start` on the same home with the same app.
CometBFT must serve every block with the same block id, report the heights, and carry on from the state
it found: a producer's home goes on producing, a synced follower's home holds what was synced.

Runs when COMETBFT_BIN names a CometBFT v0.38 binary; skipped otherwise.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path

import plyvel
import pytest

from cometsync.state import StateStore
from cometsync.store import BlockStore
from cometsync.store.crashpoints import CRASH_ENV
from tests.leveldb_files import goleveldb_dropped_batches, journal_sizes
from tests.node_cli import (
    free_port,
    free_port_block,
    handed_off,
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


def make_testnet(root: Path, validators: int, non_validators: int) -> tuple[list[Path], int]:
    base = free_port_block(validators + non_validators)
    made = run_cli(
        [
            "testnet",
            "--v",
            str(validators),
            "--n",
            str(non_validators),
            "--o",
            str(root),
            "--starting-port",
            str(base),
        ]
    )
    assert made.returncode == 0, made.stderr
    homes = sorted(root.iterdir())
    for home in homes:
        config = home / "config" / "config.toml"
        config.write_text(config.read_text().replace('timeout_commit = "1s"', 'timeout_commit = "100ms"'))
    return homes, base


def commit_txs(rpc_port: int) -> int:
    """Send the txs to a producer and wait until they are committed; returns a height holding them all."""
    wait_for(lambda: reached(rpc_port, 3), 60, "cometsync to produce blocks")
    for index in range(TX_COUNT):
        broadcast(rpc_port, b"key%d=" % index + os.urandom(TX_VALUE_BYTES // 2).hex().encode())
    top = wait_for(lambda: reached(rpc_port, 3), 10, "cometsync's height") + 20
    wait_for(lambda: reached(rpc_port, top), 120, "cometsync to commit the txs")
    return top


def assert_goleveldb_replays_everything(home: Path) -> None:
    for name in ("blockstore.db", "state.db", "kvstore.db"):
        assert goleveldb_dropped_batches(home / "data" / name) == [], name
        assert set(journal_sizes(home / "data" / name).values()) == {0}, name


def run_cometbft(home: Path, log: Path, check: Callable[[], None]) -> None:
    """`cometbft start` on `home` with the kvstore on its data (the transport config.toml's `abci` names,
    the kvstore's default), `check()` while it runs, then stop both; CometBFT must not have lost data."""
    app_port = free_port()
    app = spawn_cli(
        ["kvstore", "--home", str(home), "--listen", f"127.0.0.1:{app_port}"], log.with_suffix(".app")
    )
    out = log.open("wb")
    cometbft = subprocess.Popen(
        [COMETBFT_BIN, "start", "--home", str(home), "--proxy_app", f"127.0.0.1:{app_port}"],
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    out.close()
    try:
        check()
    finally:
        cometbft.terminate()
        cometbft.wait(30)
        stop_process(app)
    text = log.read_text()
    assert "journal error" not in text and "panic" not in text, text[-4000:]


def test_cometbft_goes_on_producing_from_a_producer_home(tmp_path: Path) -> None:
    (home,), base = make_testnet(tmp_path / "net", 1, 0)
    rpc_port = base + 1
    node = spawn_cli(["start", "--home", str(home)], tmp_path / "cometsync.log")
    try:
        top = commit_txs(rpc_port)
        ours = block_ids(rpc_port, range(1, top + 1))
    finally:
        assert stop_process(node) == 0, (tmp_path / "cometsync.log").read_text()
    assert_goleveldb_replays_everything(home)

    def extends_the_chain() -> None:
        wait_for(lambda: reached(rpc_port, top + 3), 120, "CometBFT to extend the chain it found")
        assert rpc(rpc_port, "status")["sync_info"]["earliest_block_height"] == "1"
        assert block_ids(rpc_port, range(1, top + 1)) == ours

    run_cometbft(home, tmp_path / "cometbft.log", extends_the_chain)


def test_cometbft_holds_every_block_a_follower_synced(tmp_path: Path) -> None:
    """The documented hand-off: `cometsync start` until caught up, stop, `cometbft start` (no peers left)."""
    (producer, follower), base = make_testnet(tmp_path / "net", 1, 1)
    producer_rpc, follower_rpc = base + 1, base + 11
    nodes = [spawn_cli(["start", "--home", str(producer)], tmp_path / "producer.log")]
    try:
        top = commit_txs(producer_rpc)
        nodes.append(spawn_cli(["start", "--home", str(follower)], tmp_path / "follower.log"))
        wait_for(lambda: handed_off(follower_rpc), 120, "the follower to catch up")
        synced = wait_for(lambda: reached(follower_rpc, top), 60, "the follower to hold the txs")
        nodes.pop().send_signal(signal.SIGTERM)  # stop the follower first: it syncs no further
        ours = block_ids(producer_rpc, range(1, synced + 1))
    finally:
        codes = [stop_process(node) for node in nodes]
    assert codes == [0] * len(codes)
    assert_goleveldb_replays_everything(follower)
    stored = BlockStore.open(follower / "data" / "blockstore.db")
    height = stored.height
    stored.close()
    assert height >= synced

    def serves_what_was_synced() -> None:
        wait_for(lambda: rpc(follower_rpc, "status"), 60, "CometBFT's RPC")
        status = rpc(follower_rpc, "status")["sync_info"]
        assert (status["earliest_block_height"], status["latest_block_height"]) == ("1", str(height))
        assert block_ids(follower_rpc, range(1, synced + 1)) == ours

    run_cometbft(follower, tmp_path / "cometbft.log", serves_what_was_synced)


@pytest.mark.parametrize(
    ("crash_at", "behind"),
    [("executor.after_save_state", (1,)), ("executor.block_written", (0, 1))],
    ids=["state-saved-before-commit", "next-block-saved-during-commit"],
)
def test_cometbft_replays_the_block_of_a_follower_killed_before_its_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_at: str, behind: tuple[int, ...]
) -> None:
    """SIGKILL the follower after it saved block S's state but before the app committed S (the state one
    ahead of the app), or after it wrote block S+1 before its state (the store one ahead of the state, the
    app at S, or at S-1 while committing S): CometBFT's handshake must replay what the app lacks and
    serve every block the follower holds."""
    (producer, follower), base = make_testnet(tmp_path / "net", 1, 1)
    producer_rpc, follower_rpc = base + 1, base + 11
    crash_pass = 8  # the follower's 8th applied block, well inside blocksync
    producer_node = spawn_cli(["start", "--home", str(producer)], tmp_path / "producer.log")
    try:
        wait_for(lambda: reached(producer_rpc, crash_pass + 10), 120, "the producer to make blocks")
        monkeypatch.setenv(CRASH_ENV, f"{crash_at}:{crash_pass}")
        follower_node = spawn_cli(["start", "--home", str(follower)], tmp_path / "follower.log")
        monkeypatch.delenv(CRASH_ENV)
        assert follower_node.wait(120) == -signal.SIGKILL, (tmp_path / "follower.log").read_text()
        stored = BlockStore.open(follower / "data" / "blockstore.db")
        states = StateStore.open(follower / "data" / "state.db")
        height, saved = stored.height, states.load()
        stored.close()
        states.close()
        assert saved is not None and height - saved.last_block_height in (0, 1)
        state_height = saved.last_block_height
        assert height >= crash_pass  # the N-th block saved during a commit is at least block N
        wait_for(lambda: reached(producer_rpc, height), 120, "the producer to pass the follower")
        ours = block_ids(producer_rpc, range(1, height + 1))
    finally:
        assert stop_process(producer_node) == 0, (tmp_path / "producer.log").read_text()

    def replayed_and_serves() -> None:
        wait_for(lambda: rpc(follower_rpc, "status"), 60, "CometBFT's RPC")
        assert rpc(follower_rpc, "status")["sync_info"]["latest_block_height"] == str(height)
        assert rpc(follower_rpc, "abci_info")["response"]["last_block_height"] == str(height)
        assert block_ids(follower_rpc, range(1, height + 1)) == ours

    wait_for(lambda: _unlocked(follower / "data" / "kvstore.db"), 30, "the killed node's app to exit")
    run_cometbft(follower, tmp_path / "cometbft.log", replayed_and_serves)
    log = (tmp_path / "cometbft.log").read_text()
    found = [
        f"appHeight={state_height - gap} storeHeight={height} stateHeight={state_height}" for gap in behind
    ]
    assert any(line in log for line in found), log  # CometBFT's handshake found the app behind


def _unlocked(path: Path) -> bool | None:
    """True once no process holds the LevelDB at `path` (the app child of a killed node exits on its own)."""
    try:
        plyvel.DB(str(path)).close()
    except plyvel.IOError:
        return None
    return True


def kvstore_transport() -> str:
    """The transport our kvstore can serve CometBFT's file default (`abci = "socket"`) with: the socket
    protocol where `cometsync kvstore --abci` exists, else gRPC (and cometsync then speaks gRPC too)."""
    shown = run_cli(["kvstore", "--help"])
    return "socket" if "--abci" in shown.stdout else "grpc"


def test_a_cometbft_init_home_runs_in_cometsync_then_back_in_cometbft(tmp_path: Path) -> None:
    """`cometbft init` then `cometsync start` with no edit (its only validator: `auto` produces), then
    `cometbft start` on the same home carries on: both ways, one home."""
    home = tmp_path / "home"
    made = subprocess.run(
        [COMETBFT_BIN, "init", "--home", str(home)], capture_output=True, timeout=60, check=False
    )
    assert made.returncode == 0, made.stderr
    written = (home / "config" / "config.toml").read_bytes()
    p2p_port, rpc_port, app_port = free_port(), free_port(), free_port()
    ports = ["--p2p.laddr", f"tcp://127.0.0.1:{p2p_port}", "--rpc.laddr", f"tcp://127.0.0.1:{rpc_port}"]
    transport = kvstore_transport()
    app_args = ["kvstore", "--home", str(home), "--listen", f"127.0.0.1:{app_port}"]
    app_args += ["--abci", transport] if transport == "socket" else []
    app = spawn_cli(app_args, tmp_path / "app.log")
    node = spawn_cli(
        ["start", "--home", str(home), "--proxy_app", f"tcp://127.0.0.1:{app_port}", *ports],
        tmp_path / "cometsync.log",
    )
    try:
        top = wait_for(lambda: reached(rpc_port, 4), 90, "cometsync to produce on the CometBFT home")
        ours = block_ids(rpc_port, range(1, top + 1))
    finally:
        codes = [stop_process(node), stop_process(app)]
    assert codes == [0, 0], (tmp_path / "cometsync.log").read_text()
    assert "engine auto: solo" in (tmp_path / "cometsync.log").read_text()
    assert (home / "config" / "config.toml").read_bytes() == written
    assert_goleveldb_replays_everything(home)

    app = spawn_cli(app_args, tmp_path / "app2.log")
    abci = ["--abci", transport]
    out = (tmp_path / "cometbft.log").open("wb")
    cometbft = subprocess.Popen(
        [COMETBFT_BIN, "start", "--home", str(home), "--proxy_app", f"127.0.0.1:{app_port}", *abci, *ports],
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    out.close()
    try:
        wait_for(lambda: reached(rpc_port, top + 2), 120, "CometBFT to extend what cometsync made")
        assert block_ids(rpc_port, range(1, top + 1)) == ours
    finally:
        cometbft.terminate()
        cometbft.wait(30)
        stop_process(app)
    text = (tmp_path / "cometbft.log").read_text()
    assert "journal error" not in text and "panic" not in text, text[-4000:]
