"""pyABCI's sample app (`abci.samples.SimpleApp`: accepts every tx) completed with the two methods it
leaves abstract, counting blocks: `python -m abci.server --port=P tests/interop/pyabci_app.py:app`."""

import logging

from abci.samples import SimpleApp  # type: ignore[import-not-found]
from abci.types import (  # type: ignore[import-not-found]
    RequestCommit,
    RequestInfo,
    ResponseCommit,
    ResponseInfo,
)


class CountingApp(SimpleApp):  # type: ignore[misc]
    """Remembers the last finalized height and reports it (with a derived app hash) in Info."""

    def __init__(self) -> None:
        super().__init__(on_block_height=self._finalized)
        self.pending = 0
        self.committed = 0

    def _finalized(self, height: int) -> None:
        self.pending = height

    async def info(self, req: RequestInfo) -> ResponseInfo:
        return ResponseInfo(version="pyabci", last_block_height=self.committed)

    async def commit(self, req: RequestCommit) -> ResponseCommit:
        self.committed = self.pending
        return ResponseCommit()


logging.basicConfig(level=logging.INFO)  # pyABCI logs "ABCI server is listening on ..." once it is
app = CountingApp()
