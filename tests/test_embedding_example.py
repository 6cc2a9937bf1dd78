"""The embedding example (docs/embedding.md) runs as a subprocess and syncs a chain served by
`cometsync start`; the app hash it reports matches the one the serving chain records."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from node_cli import cli_env, free_port_block, reached, rpc, run_cli, spawn_cli, stop_process, wait_for

from cometsync.config import load_config, save_config
from cometsync.crypto import load_node_key

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "embed_blocksync.py"


def test_embedded_reactor_syncs(tmp_path: Path) -> None:
    base = free_port_block(1)
    made = run_cli(["testnet", "--v", "1", "--o", str(tmp_path / "net"), "--starting-port", str(base)])
    assert made.returncode == 0, made.stderr
    home = tmp_path / "net" / "node0"
    config = load_config(home)
    config.override("consensus.timeout_commit", "50ms")
    save_config(config)
    node_id = load_node_key(home / "config" / "node_key.json").node_id
    server = spawn_cli(["start", "--home", str(home)], tmp_path / "server.log")
    try:
        wait_for(lambda: reached(base + 1, 20), 60, "the serving node at height 20")
        result = subprocess.run(
            [
                sys.executable,
                str(EXAMPLE),
                "--genesis",
                str(home / "config" / "genesis.json"),
                "--peer",
                f"{node_id}@127.0.0.1:{base}",
                "--data",
                str(tmp_path / "embedded"),
            ],
            capture_output=True,
            text=True,
            timeout=90,
            env=cli_env(),
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        words = result.stdout.split()
        height, app_hash = int(words[words.index("height") + 1]), words[words.index("app_hash") + 1]
        assert height >= 20
        next_block = wait_for(lambda: rpc(base + 1, f"block?height={height + 1}"), 30, "the next block")
        assert next_block["block"]["header"]["app_hash"] == app_hash
    finally:
        assert stop_process(server) == 0
