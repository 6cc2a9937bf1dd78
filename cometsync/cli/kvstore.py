"""`cometsync kvstore`: CometBFT v0.38's example kvstore app, persistent under --home, served over the ABCI
socket protocol (CometBFT's default, as `abci-cli kvstore`) or gRPC.

Prints `kvstore listening on HOST:PORT` once it accepts calls, runs until SIGTERM/SIGINT, then stops
cleanly; a bad address, a port in use or a locked database is one error line and exit code 1.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class Transport(StrEnum):
    socket = "socket"
    grpc = "grpc"


def kvstore(
    home: Annotated[Path, typer.Option("--home", help="Directory holding data/kvstore.db.")],
    listen: Annotated[
        str,
        typer.Option(
            "--listen",
            help="Address: 127.0.0.1:26658, tcp://…, unix:///path (grpc://… for gRPC); port 0 = any.",
        ),
    ] = "127.0.0.1:26658",
    abci: Annotated[
        Transport, typer.Option("--abci", help="ABCI transport: socket (CometBFT's default) or grpc.")
    ] = Transport.socket,
    retain_blocks: Annotated[
        int, typer.Option("--retain-blocks", min=0, help="Blocks CometBFT should retain (0 = all).")
    ] = 0,
) -> None:
    """Run the example kvstore ABCI app (drop-in for CometBFT v0.38's) over the socket protocol or gRPC."""
    from cometsync.abci.kvstore.serve import main_with_errors

    code = main_with_errors(home, listen, retain_blocks, abci.value)
    if code:
        raise typer.Exit(code=code)
