"""`cometsync start`: run a node from a home directory until SIGINT/SIGTERM, like `cometbft node`.

Flags override config.toml keys as CometBFT's do; every error a user can cause, and a failure that stops a
running node (a block the app cannot apply), is one `error:` line and exit code 1; a signal stops the node
cleanly (stores flushed and closed) with exit code 0.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, cast

import typer
from twisted.internet.error import ReactorNotRunning
from twisted.python.failure import Failure

from cometsync.cli.init_cmd import fail, note
from cometsync.config import ConfigError, load_config
from cometsync.config.model import Config, default_home

if TYPE_CHECKING:
    from cometsync.node.reactor_types import MainReactor

OVERRIDE_FLAGS = ("proxy_app", "moniker", "p2p.laddr", "p2p.persistent_peers", "rpc.laddr")


def _load(home: Path, overrides: dict[str, str | None]) -> Config:
    """Flags are applied before the file's values are checked (a flag may replace a refused value)."""
    flags = {key: value for key, value in overrides.items() if value is not None}
    return load_config(home, note, flags)


def _configure_logging(config: Config) -> None:
    level = logging.getLevelName(config.base.log_level.split(",")[0].split(":")[-1].upper())
    logging.basicConfig(
        level=level if isinstance(level, int) else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s level=%(levelname)s module=%(name)s msg=%(message)s",
    )
    # Per-peer chatter is for debugging; progress lines carry what an operator needs.
    for noisy in ("cometsync.p2p", "cometsync.blocksync"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, level if isinstance(level, int) else 0))


def run_node(config: Config) -> int:
    """Start the node on the global reactor and run until a signal; returns the process exit code:
    0 after a signal, 1 after a start-up error or a failure that stopped the node (one `error:` line)."""
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    from twisted.internet import reactor as global_reactor

    from cometsync.node import Node, NodeStartError, RunningNode, default_out

    reactor = cast("MainReactor", global_reactor)
    out, tty = default_out()
    node = Node(config, reactor=reactor, out=out, tty=tty)
    outcome = _Outcome()

    def stop_reactor() -> None:
        """The node stops in the reactor's before-shutdown trigger, whatever asked for the stop."""
        try:
            reactor.stop()
        except ReactorNotRunning:
            return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        reactor.callFromThread(shutdown, signal.Signals(signum).name)

    def shutdown(reason: str) -> None:
        typer.echo(f"received {reason}: shutting down", err=True)
        outcome.stop_reason = reason
        stop_reactor()

    def install_signal_handlers() -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, on_signal)

    def started(running: RunningNode) -> None:
        typer.echo(
            f"node {running.parts.identity.node_key.node_id} started: p2p port {running.p2p_port}, "
            f"rpc port {running.rpc_port or '-'}, engine {config.cometsync.consensus_engine}",
            err=True,
        )

    def fail(message: str) -> None:
        if outcome.code == 0:
            typer.echo(f"error: {message}", err=True)
            outcome.code = 1
        stop_reactor()

    def start_failed(failure: Failure) -> None:
        if outcome.stop_reason is not None:
            # The stop tore down what start-up was waiting on (e.g. the kvstore child): not an error.
            typer.echo(f"start-up interrupted by {outcome.stop_reason}", err=True)
            return
        error = failure.value
        if not isinstance(error, NodeStartError):
            logging.getLogger(__name__).error("start failed: %s", failure.getTraceback())
        fail(str(error) if isinstance(error, NodeStartError) else f"{type(error).__name__}: {error}")

    def begin() -> None:
        node.start().addCallbacks(started, start_failed)

    node.failed.addCallback(fail)
    # Twisted's own signal handling reaps the kvstore child (SIGCHLD) and wakes the loop at once for any
    # signal; it keeps an installed SIGINT handler and replaces SIGTERM's, so ours go in before and after.
    install_signal_handlers()
    reactor.callWhenRunning(install_signal_handlers)
    reactor.addSystemEventTrigger("before", "shutdown", node.stop)
    reactor.callWhenRunning(begin)
    reactor.run()
    return outcome.code


@dataclass
class _Outcome:
    code: int = 0
    stop_reason: str | None = None


def start(
    home: Annotated[
        Path | None, typer.Option("--home", help="Node home directory [default: $CMTHOME or ~/.cometsync]")
    ] = None,
    proxy_app: Annotated[
        str | None,
        typer.Option("--proxy_app", help='ABCI app address (grpc://host:port) or "kvstore" (built-in)'),
    ] = None,
    moniker: Annotated[str | None, typer.Option("--moniker", help="Node name")] = None,
    p2p_laddr: Annotated[
        str | None, typer.Option("--p2p.laddr", help="P2P listen address (tcp://host:port)")
    ] = None,
    persistent_peers: Annotated[
        str | None, typer.Option("--p2p.persistent_peers", help="Comma-separated id@host:port peers")
    ] = None,
    rpc_laddr: Annotated[str | None, typer.Option("--rpc.laddr", help="RPC listen address")] = None,
) -> None:
    """Run the node: handshake the app, fast-sync from peers, hand off to the consensus engine."""
    home = home or default_home()
    overrides = dict(
        zip(OVERRIDE_FLAGS, (proxy_app, moniker, p2p_laddr, persistent_peers, rpc_laddr), strict=True)
    )
    try:
        config = _load(home, overrides)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    _configure_logging(config)
    code = run_node(config)
    if code:
        raise typer.Exit(code=code)
