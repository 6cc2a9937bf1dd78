"""Blocksync against a real CometBFT v0.38 node, both ways, over real p2p on 127.0.0.1.

1. A real CometBFT validator makes blocks with txs; a fresh cometsync node set up the CometBFT way
   (`init`, the network's genesis.json, a persistent peer) fast-syncs them, hands off and follows: its
   blocks are CometBFT's, and its kvstore reaches the app hash CometBFT's next header records.
2. A cometsync solo producer makes blocks with txs; a fresh real CometBFT node fast-syncs them from it
   and executes them into its own kvstore to the app hash cometsync's next header records.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from cometbft import cometbft_bin, configure, init_home, node_id, spawn
from node_cli import (
    free_port,
    free_port_block,
    handed_off,
    height_of,
    reached,
    rpc,
    run_cli,
    spawn_cli,
    stop_process,
    wait_for,
)

from cometsync.config import load_config, save_config
from cometsync.crypto import load_node_key

T = TypeVar("T")
TXS = 10
SAMPLE_HEIGHTS = (1, 2, 7, 19, 30)


def broadcast_txs(rpc_port: int, prefix: str) -> None:
    """TXS kvstore txs through CheckTx (`broadcast_tx_sync`, which both nodes serve)."""
    for i in range(TXS):
        tx = urllib.parse.quote(f'"{prefix}{i}=value{i}"')
        result = rpc(rpc_port, f"broadcast_tx_sync?tx={tx}", timeout=30)
        assert result is not None and int(result.get("code", 0)) == 0, result


def txs_in_blocks(rpc_port: int, up_to: int) -> int:
    total = 0
    for height in range(1, up_to + 1):
        block = rpc(rpc_port, f"block?height={height}")
        assert block is not None, f"no block {height} on :{rpc_port}"
        total += len(block["block"]["data"]["txs"] or [])
    return total


def while_running(
    process: subprocess.Popen[bytes], log: Path, probe: Callable[[], T | None]
) -> Callable[[], T | None]:
    """`probe` for `wait_for` that fails at once, with the log's tail, if `process` has exited."""

    def check() -> T | None:
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        return probe()

    return check


def block_hash(rpc_port: int, height: int) -> str:
    block = rpc(rpc_port, f"block?height={height}")
    assert block is not None, f"no block {height} on :{rpc_port}"
    return str(block["block_id"]["hash"])


def app_hash_matches_next_header(app_port: int, chain_port: int) -> None:
    """The app behind `app_port` executed height H to the app hash block H+1 on `chain_port` records."""
    info = rpc(app_port, "abci_info")
    assert info is not None
    height = int(info["response"]["last_block_height"])
    wait_for(lambda: reached(chain_port, height + 1), 60, f"height {height + 1} on the producer")
    header = rpc(chain_port, f"block?height={height + 1}")["block"]["header"]
    # `abci_info` carries the app hash base64-encoded (Go's []byte in JSON), headers hex-encoded.
    app_hash = base64.b64decode(info["response"]["last_block_app_hash"])
    assert app_hash == bytes.fromhex(header["app_hash"]), f"app hash after height {height}"


def test_cometsync_syncs_from_real_cometbft(tmp_path: Path) -> None:
    binary = cometbft_bin()
    cmt_home = tmp_path / "cometbft"
    init_home(binary, cmt_home)
    cmt_p2p, cmt_rpc = free_port(), free_port()
    configure(cmt_home, p2p_port=cmt_p2p, rpc_port=cmt_rpc, proxy_app='"kvstore"', timeout_commit='"100ms"')
    producer = spawn(binary, cmt_home, tmp_path / "cometbft.log")
    follower = None
    try:
        wait_for(lambda: reached(cmt_rpc, 3), 60, "CometBFT at height 3")
        broadcast_txs(cmt_rpc, "cmt")
        wait_for(lambda: reached(cmt_rpc, max(SAMPLE_HEIGHTS) + 2), 90, "CometBFT past the sample heights")
        included = height_of(cmt_rpc)
        assert included is not None and txs_in_blocks(cmt_rpc, included) == TXS

        home = tmp_path / "cometsync"
        made = run_cli(["init", "--home", str(home)])
        assert made.returncode == 0, made.stderr
        shutil.copy(cmt_home / "config" / "genesis.json", home / "config" / "genesis.json")
        config = load_config(home)
        config.override("cometsync.kvstore_laddr", "tcp://127.0.0.1:0")
        save_config(config)
        base = free_port_block(1)
        follower = spawn_cli(
            [
                "start",
                "--home",
                str(home),
                "--p2p.laddr",
                f"tcp://127.0.0.1:{base}",
                "--rpc.laddr",
                f"tcp://127.0.0.1:{base + 1}",
                "--p2p.persistent_peers",
                f"{node_id(binary, cmt_home)}@127.0.0.1:{cmt_p2p}",
            ],
            tmp_path / "cometsync.log",
        )
        target = height_of(cmt_rpc)
        assert target is not None
        log = tmp_path / "cometsync.log"
        wait_for(while_running(follower, log, lambda: handed_off(base + 1)), 120, "cometsync to hand off")
        wait_for(lambda: reached(base + 1, target), 60, f"cometsync at CometBFT's height {target}")
        for height in SAMPLE_HEIGHTS:
            assert block_hash(base + 1, height) == block_hash(cmt_rpc, height)
        app_hash_matches_next_header(base + 1, cmt_rpc)
    finally:
        codes = [stop_process(p) for p in (follower, producer) if p is not None]
    log = (tmp_path / "cometsync.log").read_text()
    assert codes[0] == 0, log[-3000:]
    assert "Traceback" not in log


def test_real_cometbft_syncs_from_cometsync(tmp_path: Path) -> None:
    binary = cometbft_bin()
    base = free_port_block(1)
    made = run_cli(["testnet", "--v", "1", "--o", str(tmp_path / "net"), "--starting-port", str(base)])
    assert made.returncode == 0, made.stderr
    home = tmp_path / "net" / "node0"
    config = load_config(home)
    config.override("consensus.timeout_commit", "50ms")
    save_config(config)
    producer = spawn_cli(["start", "--home", str(home)], tmp_path / "cometsync.log")
    syncer = None
    try:
        wait_for(lambda: reached(base + 1, 3), 60, "cometsync at height 3")
        broadcast_txs(base + 1, "cs")
        wait_for(lambda: reached(base + 1, 60), 90, "cometsync at height 60")
        assert txs_in_blocks(base + 1, 60) == TXS

        cmt_home = tmp_path / "cometbft"
        init_home(binary, cmt_home)
        shutil.copy(home / "config" / "genesis.json", cmt_home / "config" / "genesis.json")
        cmt_p2p, cmt_rpc = free_port(), free_port()
        producer_id = load_node_key(home / "config" / "node_key.json").node_id
        configure(
            cmt_home,
            p2p_port=cmt_p2p,
            rpc_port=cmt_rpc,
            peers=f"{producer_id}@127.0.0.1:{base}",
            proxy_app='"kvstore"',
        )
        target = height_of(base + 1)
        assert target is not None
        syncer = spawn(binary, cmt_home, tmp_path / "cometbft.log")
        synced = while_running(syncer, tmp_path / "cometbft.log", lambda: reached(cmt_rpc, target - 1))
        wait_for(synced, 120, f"CometBFT synced to {target - 1}")
        for height in SAMPLE_HEIGHTS:
            assert block_hash(cmt_rpc, height) == block_hash(base + 1, height)
        app_hash_matches_next_header(cmt_rpc, base + 1)
        status = rpc(cmt_rpc, "status")
        assert status is not None, json.dumps(status)
    finally:
        codes = [stop_process(p) for p in (syncer, producer) if p is not None]
    assert codes[-1] == 0, (tmp_path / "cometsync.log").read_text()[-3000:]
