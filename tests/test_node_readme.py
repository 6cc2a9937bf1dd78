"""The README's CLI reference is typer's own `--help` output; this test keeps the two identical.

Regenerate after changing a command: `python tests/test_node_readme.py`.
"""

from __future__ import annotations

import re
from pathlib import Path

import typer
from typer.testing import CliRunner

from cometsync.cli.main import app

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN, END = "<!-- cli-reference:begin -->", "<!-- cli-reference:end -->"
WIDTH = "100"


def cli_reference() -> str:
    """`cometsync --help` and every command's `--help`, as fenced blocks under one heading each."""
    runner = CliRunner(env={"COLUMNS": WIDTH, "TERM": "dumb", "NO_COLOR": "1"})
    names = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    sections = []
    for args in [[], *[[name] for name in names]]:
        result = runner.invoke(app, [*args, "--help"], prog_name="cometsync")
        assert result.exit_code == 0, result.output
        text = "\n".join(line.rstrip() for line in result.output.strip().splitlines())
        sections.append(f"### `{' '.join(['cometsync', *args])}`\n\n```text\n{text}\n```")
    return "\n\n".join(sections)


def _with_reference(readme: str, reference: str) -> str:
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    return pattern.sub(lambda _: f"{BEGIN}\n{reference}\n{END}", readme)


def test_readme_cli_reference_matches_help() -> None:
    readme = README.read_text(encoding="utf-8")
    assert BEGIN in readme and END in readme
    assert _with_reference(readme, cli_reference()) == readme, "run: python tests/test_node_readme.py"


def test_readme_commands_match_ci() -> None:
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    readme = README.read_text(encoding="utf-8")
    assert ci in readme
    assert "python3 -m pip install -e . && cometsync demo" in readme


if __name__ == "__main__":
    README.write_text(_with_reference(README.read_text(encoding="utf-8"), cli_reference()), encoding="utf-8")
