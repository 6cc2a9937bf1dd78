"""`cometsync demo` end to end: two `cometsync start` children, sync, hand-off, agreement, exit 0."""

from __future__ import annotations

from pathlib import Path

from node_cli import run_cli


def test_demo_nodes_agree(tmp_path: Path) -> None:
    result = run_cli(["demo", "--dir", str(tmp_path), "--blocks", "40", "--follow-seconds", "2"], timeout=150)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "OK: both nodes agree" in output
    assert "exit codes [0, 0]" in output
    assert "Traceback" not in output
    assert "event=handoff" in (tmp_path / "node1" / "node.log").read_text()
