"""CPU cost of the pool's own bookkeeping per synced block (no network, no verification).

Run: `python benchmarks/pool_bench.py`. Peers answer every request at once; the loop pops every block
that has its successor. Prints microseconds of pool logic per block for a few peer counts, so the
reactor's budget per block can be compared with verification and apply costs measured elsewhere.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from twisted.internet import task

from cometsync.pool import BlockPool, PoolConfig, SendRequest

BLOCKS = 20_000
PEER_COUNTS = (1, 10, 50)


@dataclass(frozen=True)
class BenchBlock:
    height: int


def sync_blocks(peer_count: int, blocks: int) -> float:
    """Seconds of wall time to sync `blocks` heights from `peer_count` instantly answering peers."""
    clock = task.Clock()
    pool: BlockPool[BenchBlock, BenchBlock] = BlockPool(1, clock, PoolConfig())
    pool.start()
    for i in range(peer_count):
        pool.set_peer_range(f"peer{i}", 1, blocks + 1)
    clock.advance(3.0)
    began = time.perf_counter()
    pool.tick()
    for _ in range(blocks * 10):
        if pool.height > blocks:
            break
        for action in pool.drain_actions():
            if isinstance(action, SendRequest):
                pool.add_block(action.peer_id, BenchBlock(action.height), None, 1000)
        first, second, _ = pool.peek_two_blocks()
        while first is not None and second is not None:
            pool.pop_request(float(pool.height))
            first, second, _ = pool.peek_two_blocks()
        clock.advance(0.001)
        pool.tick()
    else:
        raise RuntimeError(f"sync with {peer_count} peers did not finish")
    return time.perf_counter() - began


def main() -> None:
    print(f"pool bookkeeping, {BLOCKS} blocks of 1000 B, peers answer instantly")
    print(f"{'peers':>6} {'us/block':>10} {'blocks/s':>10}")
    for peers in PEER_COUNTS:
        seconds = sync_blocks(peers, BLOCKS)
        print(f"{peers:>6} {seconds / BLOCKS * 1e6:>10.1f} {BLOCKS / seconds:>10.0f}")


if __name__ == "__main__":
    main()
