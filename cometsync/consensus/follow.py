"""`follow` (default for non-validators): after the switch keep ingesting each newly committed block.

Like CometBFT main's adaptive sync, the blocksync pool and sync loop keep running (peers polled every
second), so every new block is verified exactly as during blocksync: block h is applied once h+1, whose
LastCommit signs it, has arrived.
"""

from __future__ import annotations

from twisted.internet import defer

from cometsync.blocksync.phase import Phase
from cometsync.blocksync.reactor import BlocksyncReactor
from cometsync.consensus.engine import EngineError, EngineFactory, NodeContext
from cometsync.state import State


class FollowEngine:
    """Turns the blocksync reactor into a follower; reports its height and how far behind the peers it is."""

    name = "follow"

    def __init__(self, ctx: NodeContext) -> None:
        self._ctx = ctx
        self._switched = False
        self.blocks_synced_before_switch = 0

    def _reactor(self) -> BlocksyncReactor[State]:
        reactor = self._ctx.blocksync
        if reactor is None:
            raise EngineError("follow: the node context has no blocksync reactor to follow the chain with")
        return reactor

    # ------------------------------------------------------------------ ConsensusEngine

    def start(self) -> None:
        self._reactor().follow_after_switch()

    def switch_to_consensus(self, state: State, blocks_synced: int) -> None:
        self._switched = True
        self.blocks_synced_before_switch = blocks_synced

    def stop(self) -> defer.Deferred[None]:
        reactor = self._ctx.blocksync
        if reactor is not None:
            reactor.stop()
        return defer.succeed(None)

    @property
    def last_state(self) -> State | None:
        return self._reactor().state if self._switched else None

    @property
    def height(self) -> int:
        return self._reactor().state.last_block_height

    @property
    def behind(self) -> int:
        """Blocks between us and the highest peer (the tip block waits for its successor's commit)."""
        return max(0, self._reactor().pool.max_peer_height - self.height)

    def status(self) -> dict[str, object]:
        reactor = self._reactor()
        failure = reactor.failure
        return {
            "engine": self.name,
            "height": self.height,
            "following": reactor.phase is Phase.FOLLOWING,
            "max_peer_height": reactor.pool.max_peer_height,
            "behind": self.behind,
            "blocks_synced_before_switch": self.blocks_synced_before_switch,
            "error": str(failure) if failure is not None else None,
        }


follow_engine = EngineFactory(FollowEngine, needs_mempool=False)
"""Entry point `follow` of the `cometsync.consensus` group: it only applies what peers commit."""
