"""`cometsync start` on a home in CometBFT's exact layout holding the real 310-block localnet chain.

The home is what `cometbft init` plus a synced node leave: CometBFT's own config.toml (unmodified: the app
runs apart, named by `--proxy_app`, as with `cometbft start`), genesis.json,
node0's key files, `data/blockstore.db` rebuilt from node0's raw values in Go's key layout, and a
`data/state.db` made by applying the chain through our executor. The built-in kvstore app starts empty,
so the handshake must replay all 310 stored blocks into it; then a fresh node fast-syncs the real blocks
from this one and reaches the app hash the real chain recorded.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import plyvel
from blocksync_fixtures import LOCALNET_CHAIN, Node
from node_cli import (
    free_port,
    handed_off,
    reached,
    rpc,
    run_cli,
    spawn_cli,
    start_with_app,
    stop_process,
    wait_for,
)
from state_fixtures import DATA, LOCALNET

from cometsync.config import load_config, save_config
from cometsync.crypto import load_node_key

COMETBFT_CONFIG = DATA / "cometbft-v0.38.25-config" / "config.toml"
TIP = LOCALNET_CHAIN.tip


def cometbft_home(root: Path) -> Path:
    """node0's home as CometBFT v0.38.25 lays it out, at the chain's tip."""
    home = root / "cometbft-node0"
    config, data = home / "config", home / "data"
    config.mkdir(parents=True)
    data.mkdir()
    config.joinpath("config.toml").write_bytes(COMETBFT_CONFIG.read_bytes())  # unmodified
    shutil.copy(LOCALNET / "genesis.json", config / "genesis.json")
    shutil.copy(LOCALNET / "node0_node_key.json", config / "node_key.json")
    shutil.copy(LOCALNET / "node0_priv_validator_key.json", config / "priv_validator_key.json")
    state = {"height": str(TIP), "round": 0, "step": 3}
    data.joinpath("priv_validator_state.json").write_text(json.dumps(state, indent=2))
    blockstore = plyvel.DB(str(data / "blockstore.db"), create_if_missing=True)
    LOCALNET_CHAIN.write_go_layout(blockstore)
    blockstore.close()
    executed = Node(root / "executed", LOCALNET_CHAIN)  # our executor on an in-process kvstore
    executed.apply_chain(TIP)
    executed.close()
    shutil.copytree(root / "executed" / "state.db", data / "state.db")
    return home


def fresh_home(root: Path, server_address: str) -> Path:
    home = root / "fresh"
    made = run_cli(["init", "--home", str(home), "--moniker", "fresh"])
    assert made.returncode == 0, made.stderr
    shutil.copy(LOCALNET / "genesis.json", home / "config" / "genesis.json")
    config = load_config(home)
    for key, value in {
        "cometsync.consensus_engine": "follow",
        "cometsync.kvstore_laddr": "tcp://127.0.0.1:0",
        "p2p.laddr": f"tcp://127.0.0.1:{free_port()}",
        "rpc.laddr": f"tcp://127.0.0.1:{free_port()}",
        "p2p.persistent_peers": server_address,
    }.items():
        config.override(key, value)
    save_config(config)
    return home


def status_json(port: int) -> dict[str, object]:
    shown = run_cli(["status", "--rpc", f"http://127.0.0.1:{port}", "--json"], timeout=30)
    assert shown.returncode == 0, shown.stderr
    result: dict[str, object] = json.loads(shown.stdout)
    return result


def test_start_on_a_real_cometbft_home_serves_its_chain(tmp_path: Path) -> None:
    home = cometbft_home(tmp_path)
    p2p_port, rpc_port, app_port = free_port(), free_port(), free_port()
    app = spawn_cli(
        ["kvstore", "--home", str(home), "--listen", f"127.0.0.1:{app_port}"], tmp_path / "app.log"
    )
    server = spawn_cli(
        start_with_app(home, app_port, p2p_port, rpc_port),
        tmp_path / "server.log",
    )
    follower = None
    try:
        wait_for(lambda: reached(rpc_port, TIP), 60, "the CometBFT home's node to serve RPC")
        server_log = (tmp_path / "server.log").read_text()
        assert f"replayed {TIP} stored blocks into the app" in server_log, server_log
        info = rpc(rpc_port, "abci_info")["response"]
        assert info["last_block_height"] == str(TIP)
        assert rpc(rpc_port, "block?height=202") == json.loads(
            (LOCALNET / "rpc_block" / "202.json").read_text()
        )

        node0_id = load_node_key(home / "config" / "node_key.json").node_id
        fresh = fresh_home(tmp_path, f"{node0_id}@127.0.0.1:{p2p_port}")
        fresh_rpc = int(load_config(fresh).rpc.laddr.rsplit(":", 1)[1])
        follower = spawn_cli(["start", "--home", str(fresh)], tmp_path / "fresh.log")
        # Block h is applied once h+1's commit arrives: the real chain's 310th block waits for a 311th.
        wait_for(lambda: reached(fresh_rpc, TIP - 1), 60, "the fresh node to sync the real chain")
        wait_for(lambda: handed_off(fresh_rpc), 30, "the fresh node to hand off")
        for height in (1, 62, 127, 202):
            expected = json.loads((LOCALNET / "rpc_block" / f"{height}.json").read_text())
            assert rpc(fresh_rpc, f"block?height={height}") == expected
        real_tip = json.loads((LOCALNET / "rpc_block" / f"{TIP}.json").read_text())["block"]["header"]
        fresh_info = rpc(fresh_rpc, "abci_info")["response"]
        assert fresh_info["last_block_height"] == str(TIP - 1)
        # The app hash after block 309 is the one the real chain's block 310 commits to.
        assert base64.b64decode(fresh_info["last_block_app_hash"]) == bytes.fromhex(real_tip["app_hash"])

        served, synced = status_json(rpc_port), status_json(fresh_rpc)
        served_status, synced_status = served["status"], synced["status"]
        assert isinstance(served_status, dict) and isinstance(synced_status, dict)
        assert served_status["sync_info"]["latest_block_height"] == str(TIP)
        assert synced_status["sync_info"]["latest_block_height"] == str(TIP - 1)
        assert synced_status["node_info"]["network"] == "localnet-4v"
        assert synced["blocksync"] is not None
    finally:
        codes = [stop_process(p) for p in (follower, server, app) if p is not None]
    assert codes == [0] * len(codes)
    assert (home / "config" / "config.toml").read_bytes() == COMETBFT_CONFIG.read_bytes()
