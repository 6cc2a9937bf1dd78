"""`cometsync kvstore`: CometBFT v0.38's example kvstore app, served over gRPC, persistent under --home.

Prints `kvstore listening on HOST:PORT` once it accepts calls, runs until SIGTERM/SIGINT, then stops
cleanly; a bad address, a port in use or a locked database is one error line and exit code 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def kvstore(
    home: Annotated[Path, typer.Option("--home", help="Directory holding data/kvstore.db.")],
    listen: Annotated[
        str, typer.Option("--listen", help="gRPC address: 127.0.0.1:26658, grpc://…, tcp://…, port 0 = any.")
    ] = "127.0.0.1:26658",
    retain_blocks: Annotated[
        int, typer.Option("--retain-blocks", min=0, help="Blocks CometBFT should retain (0 = all).")
    ] = 0,
) -> None:
    """Run the example kvstore ABCI app (drop-in for CometBFT v0.38's) over gRPC."""
    from cometsync.abci.kvstore.serve import main_with_errors

    code = main_with_errors(home, listen, retain_blocks)
    if code:
        raise typer.Exit(code=code)
