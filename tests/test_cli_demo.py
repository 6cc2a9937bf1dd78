"""`cometsync demo` end to end: two `cometsync start` children, sync, hand-off, agreement, exit 0."""

from __future__ import annotations

import re
from pathlib import Path

from node_cli import run_cli

BLOCKS = 40


def test_demo_nodes_agree(tmp_path: Path) -> None:
    result = run_cli(
        ["demo", "--dir", str(tmp_path), "--blocks", str(BLOCKS), "--follow-seconds", "2"], timeout=150
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "OK: both nodes agree" in output
    assert "exit codes [0, 0]" in output
    assert "Traceback" not in output
    assert "event=handoff" in (tmp_path / "node1" / "node.log").read_text()
    for node in ("node0", "node1"):  # the brief's demo: the kvstore app over gRPC
        assert 'abci = "grpc"' in (tmp_path / node / "config" / "config.toml").read_text()
    # node1's progress comes from /blocksync_status; the line printed at hand-off shows the synced height.
    shown = [(int(h), int(t)) for h, t in re.findall(r"node1: height (\d+)/(\d+)", result.stdout)]
    assert shown, result.stdout
    assert max(height for height, _ in shown) >= BLOCKS - 1, result.stdout
    assert all(height <= target for height, target in shown)
