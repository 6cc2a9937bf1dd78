"""Test helper: ABCI servers (our kvstore CLI, or a test-only app module) as real subprocesses."""

from __future__ import annotations

import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

READY_TIMEOUT_SECONDS = 30.0
FREEZE_TIMEOUT_SECONDS = 10.0
TESTS_DIR = Path(__file__).resolve().parent


class ServerProcess:
    """A started server subprocess and the address it printed when ready."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=TESTS_DIR.parent
        )
        self.address = self._read_ready_address()
        self.port = 0 if self.address.startswith("unix:") else int(self.address.rsplit(":", 1)[1])

    def _read_ready_address(self) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while (remaining := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.proc.stdout], [], [], remaining)
            if not readable:
                break
            line = self.proc.stdout.readline()
            if not line:
                break
            if " listening on " in line:
                return line.strip().rsplit(" ", 1)[1]
        self.kill()
        raise AssertionError(f"server did not become ready: {self.stderr_text()}")

    def stderr_text(self) -> str:
        assert self.proc.stderr is not None
        self.proc.wait(timeout=10)
        return self.proc.stderr.read()

    def terminate(self) -> int:
        """SIGTERM, wait for exit, return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=20)
        self._close_pipes()
        return code

    def freeze(self) -> None:
        """SIGSTOP, returning once every thread is stopped: a thread the kernel has not yet scheduled
        stops only when it next runs, so on a busy machine a request sent at once may still be answered."""
        self.proc.send_signal(signal.SIGSTOP)
        tasks = Path(f"/proc/{self.proc.pid}/task")
        deadline = time.monotonic() + FREEZE_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if all(_thread_state(task) in ("T", "t", None) for task in tasks.iterdir()):
                return
            time.sleep(0.001)
        raise AssertionError(f"the server did not stop within {FREEZE_TIMEOUT_SECONDS:.0f}s of SIGSTOP")

    def thaw(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=20)
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()


def proc_stat(entry: Path) -> list[str] | None:
    """The fields of `/proc/<pid>[/task/<tid>]/stat` after "pid (comm)": [state, ppid, ...]; None if gone."""
    try:
        return (entry / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _thread_state(task: Path) -> str | None:
    fields = proc_stat(task)
    return fields[0] if fields else None


def temp_home(add_cleanup: Callable[..., object]) -> Path:
    """A fresh directory under the system temp dir, removed by the test's cleanup."""
    home = Path(tempfile.mkdtemp(prefix="cometsync-abci-"))
    add_cleanup(shutil.rmtree, home, True)
    return home


def kvstore_argv(home: Path, listen: str = "127.0.0.1:0", *extra: str, transport: str = "grpc") -> list[str]:
    """`cometsync kvstore ... --abci TRANSPORT` run with this interpreter (not the installed script)."""
    return [
        sys.executable,
        "-c",
        "from cometsync.cli.main import main; main()",
        "kvstore",
        "--home",
        str(home),
        "--listen",
        listen,
        "--abci",
        transport,
        *extra,
    ]


def start_kvstore(home: Path, listen: str = "127.0.0.1:0", transport: str = "grpc") -> ServerProcess:
    return ServerProcess(kvstore_argv(home, listen, transport=transport))


def start_inconsistent_app() -> ServerProcess:
    return ServerProcess([sys.executable, str(TESTS_DIR / "abci_inconsistent_app.py")])


def start_recording_app(transport: str, log: Path) -> ServerProcess:
    """`abci_recording_app.py`: an in-memory kvstore logging each method it is called with to `log`."""
    return ServerProcess([sys.executable, str(TESTS_DIR / "abci_recording_app.py"), transport, str(log)])
