"""Entry point of the `cometsync` command: one typer app, commands registered per module."""

from __future__ import annotations

import typer

from cometsync import __version__
from cometsync.cli.demo_cmd import demo
from cometsync.cli.init_cmd import init
from cometsync.cli.kvstore import kvstore
from cometsync.cli.start_cmd import start
from cometsync.cli.status_cmd import status
from cometsync.cli.testnet_cmd import testnet

app = typer.Typer(
    name="cometsync",
    help="A CometBFT v0.38-compatible blocksync node: fast-sync from peers, then hand off to consensus.",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    no_args_is_help=True,
)


@app.callback()
def root() -> None:
    """cometsync: CometBFT v0.38 blocksync in Python."""


@app.command()
def version() -> None:
    """Print cometsync's version and the CometBFT protocol versions it speaks."""
    typer.echo(f"cometsync {__version__} (CometBFT v0.38 wire: p2p 8, block 11)")


app.command()(kvstore)
app.command()(status)
app.command()(init)
app.command()(testnet)
app.command()(start)
app.command()(demo)


def main() -> None:
    """Console-script entry point."""
    app()
