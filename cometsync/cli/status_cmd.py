"""`cometsync status`: a node's blocksync progress from its RPC, as a table or JSON, once or live."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer

from cometsync.cli.init_cmd import fail
from cometsync.config import ConfigError, load_config

DEFAULT_RPC_URL = "http://127.0.0.1:26657"
REQUEST_TIMEOUT_SECONDS = 5.0
CLEAR_SCREEN = "\x1b[2J\x1b[H"
PEER_ROW = "{:<40}  {:<21}  {:>8}  {:>8}  {:>7}  {:>8}  {:>8}"


class RPCUnavailable(Exception):
    """The RPC could not be reached or did not answer JSON-RPC."""


def rpc_url_from_laddr(laddr: str) -> str:
    """`[rpc] laddr` as a URL to dial: tcp:// becomes http://, a wildcard host becomes loopback."""
    address = laddr.strip()
    if "://" in address:
        scheme, _, address = address.partition("://")
        if scheme not in ("tcp", "http", "https"):
            raise ValueError(f"cannot reach an RPC listening on {laddr!r}")
        scheme = "http" if scheme == "tcp" else scheme
    else:
        scheme = "http"
    host, _, port = address.rpartition(":")
    if host in ("", "0.0.0.0", "[::]"):
        host = "127.0.0.1"
    return f"{scheme}://{host}:{port}"


def fetch_result(url: str, method: str) -> Any:
    """`result` of a URI call; an RPC error object becomes None (e.g. blocksync not running)."""
    try:
        with urllib.request.urlopen(f"{url}/{method}", timeout=REQUEST_TIMEOUT_SECONDS) as reply:
            body = json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read())
        except ValueError:
            raise RPCUnavailable(f"{url}/{method}: HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise RPCUnavailable(f"cannot reach the RPC at {url}: {reason}") from None
    if not isinstance(body, dict) or ("result" not in body and "error" not in body):
        raise RPCUnavailable(f"{url}/{method}: not a JSON-RPC answer")
    return body.get("result")


def fetch_snapshot(url: str) -> dict[str, Any]:
    return {"status": fetch_result(url, "status"), "blocksync": fetch_result(url, "blocksync_status")}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return (
        f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
    )


def render_table(snapshot: dict[str, Any]) -> str:
    """The human view: node line, pool line, rate/ETA, caught-up decision, then one row per peer."""
    lines = []
    status = snapshot.get("status") or {}
    if status:
        node, sync = status["node_info"], status["sync_info"]
        lines.append(
            f"node       {node['moniker']} ({node['id']}) on {node['network']}, latest block "
            f"{sync['latest_block_height']}, catching up: {'yes' if sync['catching_up'] else 'no'}"
        )
    sync_status = snapshot.get("blocksync")
    if not sync_status:
        lines.append("blocksync  not running")
        return "\n".join(lines)
    held_mib = int(sync_status["bytes_held"]) / (1 << 20)
    lines += [
        f"pool       height {sync_status['height']} / max peer height {sync_status['max_peer_height']}, "
        f"pending {sync_status['pending_requests']}, in flight {sync_status['in_flight_requests']}, "
        f"held {held_mib:.1f} MiB",
        f"rate       {sync_status['blocks_per_second']:.1f} blocks/s, "
        f"ETA {_duration(sync_status['eta_seconds'])}",
        f"caught up  {'yes' if sync_status['caught_up'] else 'no'} ({sync_status['caught_up_reason']})",
    ]
    lines += ["", PEER_ROW.format("PEER", "ADDRESS", "BASE", "HEIGHT", "PENDING", "BLOCKS/S", "KB/S")]
    for peer in sync_status["peers"]:
        kib_rate = peer["bytes_per_second"] / 1024
        lines.append(
            PEER_ROW.format(
                peer["id"],
                peer["address"],
                peer["base"],
                peer["height"],
                peer["pending"],
                f"{peer['blocks_per_second']:.1f}",
                f"{kib_rate:.1f}",
            )
        )
    lines += [
        f"banned     {ban['id']} for {_duration(ban['remaining_seconds'])}" for ban in sync_status["banned"]
    ]
    return "\n".join(lines)


def _resolve_url(home: Path | None, rpc: str | None) -> str:
    if rpc:
        return rpc_url_from_laddr(rpc).rstrip("/")
    if home is None:
        return DEFAULT_RPC_URL
    config = load_config(home, notice=lambda _message: None)
    if not config.rpc.laddr:
        raise ValueError(f"{config.config_path}: [rpc] laddr is empty, the node serves no RPC")
    return rpc_url_from_laddr(config.rpc.laddr)


def _show(url: str, as_json: bool, clear: bool) -> None:
    snapshot = fetch_snapshot(url)
    text = json.dumps(snapshot, indent=2) if as_json else render_table(snapshot)
    typer.echo((CLEAR_SCREEN if clear else "") + text)


def status(
    home: Annotated[Path | None, typer.Option("--home", help="Node home: dial its [rpc] laddr")] = None,
    rpc: Annotated[str | None, typer.Option("--rpc", help=f"RPC URL [default: {DEFAULT_RPC_URL}]")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print /status and /blocksync_status as JSON")
    ] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Refresh until interrupted (Ctrl-C)")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between refreshes")] = 2.0,
) -> None:
    """Show blocksync progress: pool height, max peer height, rate, ETA, caught-up decision, peers."""
    try:
        url = _resolve_url(home, rpc)
    except (ConfigError, ValueError) as exc:
        raise fail(str(exc)) from None
    clear = watch and sys.stdout.isatty()
    try:
        _show(url, as_json, clear)
        while watch:
            time.sleep(interval)
            if not clear:
                typer.echo("")
            _show(url, as_json, clear)
    except RPCUnavailable as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
