"""Per-validator work of one synced block at 100-200 validators, next to the raw ed25519-zebra rate.

Run: `python benchmarks/validators_bench.py [--validators 100 150 200] [--seconds 0.3]`. For each set size
it generates a commit signed by every validator (`cometsync.testing.commits`) and times, in this one
process and run: the raw single-signature verify loop over the commit's signatures, `verify_commit`, and
every other step a syncing node performs per block whose cost grows with the validator count. Each figure
is CPU time, the best of several timing rounds, so a busy machine inflates them less.
"""

from __future__ import annotations

import argparse
import pickle
import time
from collections.abc import Callable

import ed25519_zebra

from cometsync.blocksync.codec import encode_block_response
from cometsync.blocksync.msg_filter import check_budgets
from cometsync.blocksync.verify import CommitJob
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2
from cometsync.state import State
from cometsync.state.transition import finalize_block_request, next_state
from cometsync.state.validation import median_time
from cometsync.testing import DevnetSpec
from cometsync.testing.commits import CommitFixture, make_commit_fixture
from cometsync.types import Block, Commit

ROUNDS = 7
TXS = 10


def best_ms(action: Callable[[], object], seconds: float) -> float:
    """CPU milliseconds per call (this process's CPU time, which other processes inflate least): the
    fastest of ROUNDS rounds, each running `action` for about seconds/ROUNDS."""
    clock = time.process_time
    began = clock()
    action()
    calls = max(1, int(seconds / ROUNDS / max(clock() - began, 1e-6)))
    fastest = float("inf")
    for _ in range(ROUNDS):
        began = clock()
        for _ in range(calls):
            action()
        fastest = min(fastest, (clock() - began) / calls)
    return fastest * 1000


def raw_verify(fix: CommitFixture) -> Callable[[], object]:
    """ed25519-zebra alone over the commit's signatures, sign bytes built beforehand."""
    commit = fix.commit
    messages = commit.all_vote_sign_bytes(fix.chain_id, range(commit.size()))
    items = [
        (sig.signature, message, val.pub_key)
        for sig, message, val in zip(commit.signatures, messages, fix.validators.validators, strict=True)
    ]
    verify = ed25519_zebra.ed_verify

    def run() -> None:
        for signature, message, pub_key in items:
            if not verify(signature, message, pub_key):
                raise SystemExit("an honest signature failed to verify")

    return run


def synced_state(fix: CommitFixture) -> State:
    """A state one block in (all three validator sets populated), as a syncing node saves it."""
    spec = DevnetSpec(chain_id=fix.chain_id, powers=(10,) * fix.validators.size())
    genesis = State.from_genesis(spec.genesis())
    response = finalize_response()
    return next_state(genesis, fix.block_id, fix.next_block.header, response)


def finalize_response() -> abci_pb2.ResponseFinalizeBlock:
    response = abci_pb2.ResponseFinalizeBlock(app_hash=b"\x01" * 32)
    for _ in range(TXS):
        response.tx_results.add(code=0, data=b"ok")
    return response


def apply_state(state: State, fix: CommitFixture, response: abci_pb2.ResponseFinalizeBlock) -> bytes:
    """What apply does per block besides the app: the next state, and its encoding for the state save."""
    return next_state(state, fix.block_id, fix.next_block.header, response).to_bytes()


def measure(count: int, seconds: float) -> list[tuple[str, float]]:
    fix = make_commit_fixture(count)
    chain_id, vals, commit = fix.chain_id, fix.validators, fix.commit
    block_bytes = fix.next_block.to_proto_bytes()
    response_bytes = encode_block_response(block_bytes)
    state = synced_state(fix)
    state.to_bytes()  # as the previous block's state save did: the sets the next state copies are encoded
    response = finalize_response()
    job = CommitJob(chain_id, vals, fix.height, commit, None)
    pickled = pickle.dumps(job)

    def fresh_commit() -> Commit:
        return Commit(commit.height, commit.round, commit.block_id, commit.signatures)

    def stored_commit() -> bytes:
        """A received commit is hashed (validate_basic), then encoded for the store."""
        fresh = fresh_commit()
        fresh.hash()
        return fresh.to_proto_bytes()

    def receive() -> None:
        Block.from_proto_bytes(block_bytes).validate_basic()

    steps: list[tuple[str, Callable[[], object]]] = [
        ("raw ed25519-zebra verify loop", raw_verify(fix)),
        ("verify_commit", lambda: vals.verify_commit(chain_id, fix.block_id, fix.height, commit)),
        ("  vote sign bytes, all votes", lambda: commit.all_vote_sign_bytes(chain_id, range(count))),
        ("decode + validate_basic (block)", receive),
        ("  Commit.hash", lambda: fresh_commit().hash()),
        ("Commit.hash + to_proto_bytes (save)", stored_commit),
        ("pickle CommitJob (to a worker)", lambda: pickle.dumps(job)),
        ("unpickle CommitJob (in the worker)", lambda: pickle.loads(pickled)),
        ("filter budgets (BlockResponse bytes)", lambda: check_budgets(response_bytes)),
        ("median_time (validate_block)", lambda: median_time(commit, vals)),
        ("FinalizeBlock request", lambda: finalize_block_request(fix.next_block, vals, 1)),
        ("next_state + State.to_bytes (apply)", lambda: apply_state(state, fix, response)),
        ("  next_state", lambda: next_state(state, fix.block_id, fix.next_block.header, response)),
        ("  increment_proposer_priority(1)", lambda: vals.copy_increment_proposer_priority(1)),
    ]
    return [(name, best_ms(action, seconds)) for name, action in steps]


def report(count: int, rows: list[tuple[str, float]]) -> None:
    raw_ms = rows[0][1]
    verify_ms = rows[1][1]
    print(f"\n{count} validators (one commit = {count} signatures)")
    print(f"{'step':38} {'ms/block':>9} {'x raw verify':>12}")
    for name, ms in rows:
        print(f"{name:38} {ms:9.3f} {ms / raw_ms:12.2f}")
    others = sum(ms for name, ms in rows[2:] if not name.startswith("  ") and "worker)" not in name)
    raw_rate, verify_rate = count / raw_ms * 1000, count / verify_ms * 1000
    print(f"raw verify: {raw_rate:,.0f} sigs/s; verify_commit: {verify_rate:,.0f} sigs/s")
    print(f"verify_commit / raw = {raw_ms / verify_ms:.2f}; reactor-thread work besides it = {others:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--validators", type=int, nargs="+", default=[100, 200])
    parser.add_argument("--seconds", type=float, default=0.3, help="timing budget per step")
    args = parser.parse_args()
    for count in args.validators:
        report(count, measure(count, args.seconds))


if __name__ == "__main__":
    main()
