"""CometBFT's own example app, `abci-cli kvstore`, as a subprocess: an ABCI server cometsync did not write."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from unittest import SkipTest

ABCI_CLI_ENV = "ABCI_CLI"


def abci_cli_bin() -> str:
    """The binary from ABCI_CLI; the test is skipped (with the reason) where none is configured."""
    path = os.environ.get(ABCI_CLI_ENV, "")
    if not path or not Path(path).is_file() or not os.access(path, os.X_OK):
        raise SkipTest(
            f"{ABCI_CLI_ENV} does not point at CometBFT v0.38's abci-cli (set it to run this test)"
        )
    return path


def spawn_kvstore(
    binary: str, address: str, transport: str, persist: Path, log: Path
) -> subprocess.Popen[bytes]:
    """`abci-cli kvstore --abci TRANSPORT --address ADDRESS --persist DIR`, output to `log`."""
    out = log.open("wb")
    try:
        argv = [binary, "kvstore", "--abci", transport, "--address", address, "--persist", str(persist)]
        return subprocess.Popen([*argv, "--log_level", "error"], stdout=out, stderr=subprocess.STDOUT)
    finally:
        out.close()


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
