"""Joining a network the way CometBFT's docs say, with no cometsync-specific edit: `init`, copy the network's
genesis.json in, set `persistent_peers`, `start`. The network is a `cometsync testnet` whose genesis holds
three validators: node0 has 10 of the 12 votes (its `auto` engine produces the blocks), node1 has 1 (its
`auto` engine follows and says why), and the newcomer is no validator at all.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from node_cli import (
    free_port,
    free_port_block,
    handed_off,
    reached,
    run_cli,
    spawn_cli,
    start_with_app,
    stop_process,
    wait_for,
)

from cometsync.crypto import load_node_key

POWERS = {"node0": "10", "node1": "1", "node2": "1"}


def three_validator_testnet(root: Path) -> tuple[list[Path], int]:
    base = free_port_block(3)
    made = run_cli(["testnet", "--v", "3", "--o", str(root), "--starting-port", str(base)])
    assert made.returncode == 0, made.stderr
    homes = [root / f"node{index}" for index in range(3)]
    genesis = json.loads((homes[0] / "config" / "genesis.json").read_text())
    for validator in genesis["validators"]:
        validator["power"] = POWERS[validator["name"]]
    for home in homes:
        (home / "config" / "genesis.json").write_text(json.dumps(genesis, indent=2))
        config = home / "config" / "config.toml"
        config.write_text(config.read_text().replace('timeout_commit = "1s"', 'timeout_commit = "200ms"'))
    return homes, base


def newcomer(root: Path, genesis: Path, peer: str) -> Path:
    """The CometBFT procedure, step by step, on a fresh home."""
    home = root / "newcomer"
    made = run_cli(["init", "--home", str(home)])
    assert made.returncode == 0, made.stderr
    (home / "config" / "genesis.json").write_bytes(genesis.read_bytes())
    config = home / "config" / "config.toml"
    text = config.read_text()
    assert 'persistent_peers = ""' in text
    config.write_text(text.replace('persistent_peers = ""', f'persistent_peers = "{peer}"'))
    return home


def test_a_new_node_joins_a_many_validator_network_and_follows(tmp_path: Path) -> None:
    homes, base = three_validator_testnet(tmp_path / "net")
    node0_peer = f"{load_node_key(homes[0] / 'config' / 'node_key.json').node_id}@127.0.0.1:{base}"
    processes = []
    try:
        processes.append(spawn_cli(["start", "--home", str(homes[0])], tmp_path / "node0.log"))
        wait_for(lambda: reached(base + 1, 15), 90, "node0 to produce 15 blocks")
        processes.append(
            spawn_cli(
                ["start", "--home", str(homes[1]), "--p2p.persistent_peers", node0_peer],
                tmp_path / "node1.log",
            )
        )
        home = newcomer(tmp_path, homes[0] / "config" / "genesis.json", node0_peer)
        app_port, p2p_port, rpc_port = free_port(), free_port(), free_port()
        processes.append(
            spawn_cli(
                ["kvstore", "--home", str(home), "--listen", f"127.0.0.1:{app_port}"], tmp_path / "app.log"
            )
        )
        processes.append(
            spawn_cli(
                start_with_app(home, app_port, p2p_port, rpc_port),
                tmp_path / "newcomer.log",
            )
        )
        wait_for(lambda: handed_off(rpc_port), 90, "the newcomer to catch up and hand off")
        caught_up_at = wait_for(lambda: reached(rpc_port, 15), 30, "the newcomer to hold node0's blocks")
        wait_for(lambda: reached(rpc_port, caught_up_at + 5), 60, "the newcomer to follow new blocks")
        wait_for(lambda: reached(base + 11, caught_up_at), 90, "node1 to follow")
    finally:
        codes = [stop_process(process) for process in reversed(processes)]
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in ("node0", "node1", "newcomer")}
    assert codes == [0] * len(codes), logs
    assert "engine auto: solo" in logs["node0"] and "10 of 12 voting power" in logs["node0"]
    assert re.search(
        r"holds 1 of 12 voting power .*does not run BFT consensus with other validators", logs["node1"]
    )
    assert "never signs or proposes" in logs["node1"] and "engine follow" in logs["node1"]
    assert "engine auto: follow (this node is not a validator)" in logs["newcomer"]
    assert "error:" not in logs["newcomer"] and "Traceback" not in "".join(logs.values())


def test_explicit_solo_without_the_power_is_one_clear_error(tmp_path: Path) -> None:
    homes, _ = three_validator_testnet(tmp_path / "net")
    config = homes[1] / "config" / "config.toml"
    config.write_text(config.read_text().replace('consensus_engine = "auto"', 'consensus_engine = "solo"'))
    result = run_cli(["start", "--home", str(homes[1])], timeout=90)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "1 of 12 voting power" in errors[0], result.stderr
    assert 'set "auto" or "follow" to follow the chain' in result.stderr
    assert "Traceback" not in result.stderr
