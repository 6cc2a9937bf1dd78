"""`cometsync init`: create a node home like `cometbft init`; re-running keeps every existing file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cometsync.config import ConfigError, HomeError, init_home
from cometsync.config.model import default_home
from cometsync.crypto import KeyFileError


def fail(message: str) -> typer.Exit:
    """Print one `error:` line on stderr; the caller raises the returned Exit (code 1)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def note(message: str) -> None:
    """A non-fatal remark on stderr (e.g. the CometBFT keys a config.toml has that cometsync ignores)."""
    typer.echo(f"note: {message}", err=True)


def init(
    home: Annotated[
        Path | None, typer.Option("--home", help="Node home directory [default: $CMTHOME or ~/.cometsync]")
    ] = None,
    chain_id: Annotated[
        str | None,
        typer.Option(
            "--chain-id",
            help="Chain id of a new genesis [default: test-chain-<random>]",
        ),
    ] = None,
    moniker: Annotated[
        str | None, typer.Option("--moniker", help="Node name in a new config.toml [default: host name]")
    ] = None,
) -> None:
    """Initialize a node home: config.toml, genesis.json, node and validator keys, data/."""
    root = home or default_home()
    try:
        report = init_home(root, chain_id=chain_id, moniker=moniker, notice=note)
    except (ConfigError, HomeError, KeyFileError) as exc:
        raise fail(str(exc)) from None
    for path in report.created:
        typer.echo(f"created {path}")
    for path in report.kept:
        typer.echo(f"found {path} (kept)")
    config = report.config
    if chain_id is not None and chain_id != report.chain_id:
        typer.echo(
            f"note: --chain-id {chain_id} not applied, the existing genesis has chain id {report.chain_id}"
        )
    if moniker is not None and config.config_path in report.kept and moniker != config.base.moniker:
        typer.echo(
            f"note: --moniker {moniker} not applied, the existing config.toml has {config.base.moniker!r}"
        )
    typer.echo(f"node id {report.node_id}, chain id {report.chain_id}, home {root}")
