"""verify_pair attribution, verify-ahead, and CometBFT's TestCheckExtendedCommit cases (Clock-driven)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from blocksync_fixtures import (
    LOCALNET_CHAIN,
    VOTEEXT_CHAIN,
    Network,
    Node,
    RecordedApp,
    make_reactor,
    run_until,
    start_clock,
    with_bad_commit_signature,
    with_bad_ext_signature,
    with_flipped_tx,
)

from cometsync.blocksync.codec import (
    BLOCKSYNC_CHANNEL,
    BlockRequest,
    StatusResponse,
    decode,
    encode,
    encode_block_response,
)
from cometsync.blocksync.verify import Culprit, PairVerificationError, check_commits, commit_job, verify_pair
from cometsync.blocksync.verify_ahead import (
    CHAIN_PROOF_REACH,
    CHAIN_PROOF_SPACING,
    InlineExecutor,
    VerifyAhead,
)
from cometsync.state import State
from cometsync.types import Block, BlockIDFlag, CommitSig, ExtendedCommit, ExtendedCommitSig


def _state_at(tmp_path: Path, height: int, voteext: bool = False) -> tuple[Node, State]:
    chain = VOTEEXT_CHAIN if voteext else LOCALNET_CHAIN
    node = Node(tmp_path, chain, RecordedApp(chain) if voteext else None)
    node.apply_chain(height)
    return node, node.state


def test_verify_pair_accepts_the_real_chain_across_the_validator_change(tmp_path: Path) -> None:
    node, state = _state_at(tmp_path, 150)
    for h in range(151, 157):
        first, second = LOCALNET_CHAIN.block(h), LOCALNET_CHAIN.block(h + 1)
        verified = verify_pair(
            state, first, second, None, validate_block=lambda b, st=state: node.executor.validate_block(st, b)
        )
        assert verified.block_id == first.block_id()
        assert verified.seen_commit == second.last_commit
        node.apply_chain(h)
        state = node.state


def test_attribution(tmp_path: Path) -> None:
    node, state = _state_at(tmp_path, 41)
    first, second = LOCALNET_CHAIN.block(42), LOCALNET_CHAIN.block(43)

    def culprit(a: object, b: object, st: State = state) -> Culprit:
        with pytest.raises(PairVerificationError) as info:
            verify_pair(st, a, b, None, validate_block=lambda blk: node.executor.validate_block(st, blk))  # type: ignore[arg-type]
        return info.value.culprit

    assert culprit(with_flipped_tx(first), second) is Culprit.FIRST  # +2/3 signed another block
    assert culprit(first, with_bad_commit_signature(second)) is Culprit.SECOND  # commit itself invalid
    wrong_state = dataclasses.replace(state, app_hash=b"\x01" * 8)
    assert culprit(first, second, wrong_state) is Culprit.BOTH  # committed block, but not for our state
    assert Culprit.BOTH.heights(42) == [42, 43]


def test_ext_commit_attribution(tmp_path: Path) -> None:
    node, state = _state_at(tmp_path, 4, voteext=True)
    first, second = VOTEEXT_CHAIN.block(5), VOTEEXT_CHAIN.block(6)
    ext = VOTEEXT_CHAIN.ext_commit(5)
    assert ext is not None
    check = lambda b: node.executor.validate_block(state, b)  # noqa: E731
    verify_pair(state, first, second, ext, validate_block=check)
    for bad in (None, with_bad_ext_signature(ext, _last_commit_index(ext)), _all_absent(ext)):
        with pytest.raises(PairVerificationError) as info:
            verify_pair(state, first, second, bad, validate_block=check)
        assert info.value.culprit is Culprit.FIRST


def test_verify_ahead_checks_upcoming_heights_and_rechecks_after_a_set_change(tmp_path: Path) -> None:
    """Block 152 changes the validators from 154 on: heights up to 153 run ahead at once, later ones
    only once the state knows the new set; a verdict made with another set is never used."""
    node, state = _state_at(tmp_path, 150)
    done: list[int] = []
    blocks = {h: LOCALNET_CHAIN.block(h) for h in range(151, 161)}
    with ThreadPoolExecutor(2) as pool:
        ahead = VerifyAhead(pool, lambda: done.append(1), max_in_flight=8, chain_proofs=False)
        for block in blocks.values():
            ahead.block_arrived(block, None)
        ahead.plan(state)
        pool.shutdown(wait=True)
    assert len(done) == 3
    verdict = ahead.verdict_for(state, blocks[152], None)
    assert verdict is not None and verdict.commit_error is None

    node.apply_chain(152)
    inline = VerifyAhead(InlineExecutor(), lambda: done.append(1), chain_proofs=False)
    for block in blocks.values():
        inline.block_arrived(block, None)
    inline.plan(node.state)
    assert len(done) == 3 + 7  # 153..159, with the post-change set for 154+
    stale = dataclasses.replace(node.state, validators=state.validators)
    redone = inline.verdict_for(stale, blocks[155], None)
    assert redone == check_commits(commit_job(stale, blocks[155], None))
    assert redone is not None and redone.commit_error is not None  # 154 is signed by the new set
    assert len(done) == 11  # redone with the state's set, not reused


class _CountingInline(InlineExecutor):
    """Runs jobs at once and records the height of each commit it checked."""

    def __init__(self) -> None:
        self.heights: list[int] = []

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.heights.append(args[0].height)
        return super().submit(fn, *args, **kwargs)


def _chain_ahead(blocks: dict[int, Block]) -> tuple[VerifyAhead, _CountingInline]:
    executor = _CountingInline()
    ahead = VerifyAhead(executor, lambda: None)
    for block in blocks.values():
        ahead.block_arrived(block, None)
    return ahead, executor


def _sync_with(node: Node, ahead: VerifyAhead, blocks: dict[int, Block], upto: int) -> None:
    """Verify and apply held blocks the way the sync loop does, up to `upto`."""
    while node.state.last_block_height < upto:
        h = node.state.last_block_height + 1
        ahead.plan(node.state)
        verdict = ahead.verdict_for(node.state, blocks[h + 1], None)
        assert verdict is not None
        state = node.state
        verify_pair(
            state,
            blocks[h],
            blocks[h + 1],
            None,
            verdict=verdict,
            validate_block=lambda b, st=state: node.executor.validate_block(st, b),
        )
        node.apply_chain(h)


def _culprit_of_next_pair(node: Node, ahead: VerifyAhead, blocks: dict[int, Block]) -> Culprit:
    """Verify the pair after the node's state with the verdict VerifyAhead gives; it must fail."""
    h = node.state.last_block_height + 1
    ahead.plan(node.state)
    verdict = ahead.verdict_for(node.state, blocks[h + 1], None)
    with pytest.raises(PairVerificationError) as info:
        verify_pair(
            node.state,
            blocks[h],
            blocks[h + 1],
            None,
            verdict=verdict,
            validate_block=lambda b: node.executor.validate_block(node.state, b),
        )
    return info.value.culprit


def test_one_commit_proves_a_linked_run_of_blocks(tmp_path: Path) -> None:
    """30 held blocks with one validator set: the commit of the highest is the only one checked."""
    node, _ = _state_at(tmp_path, 10)
    blocks = {h: LOCALNET_CHAIN.block(h) for h in range(11, 42)}
    ahead, executor = _chain_ahead(blocks)
    _sync_with(node, ahead, blocks, 40)
    assert executor.heights == [40]
    assert ahead.chain_proven == 29  # 11..39; 40 used its own verdict


def test_a_long_run_is_proven_in_steps_of_at_most_the_proof_reach(tmp_path: Path) -> None:
    """140 held blocks: proofs at most CHAIN_PROOF_REACH apart (each plan walks that far at most), and
    still only a few commits checked for all of them."""
    node, _ = _state_at(tmp_path, 10)
    blocks = {h: LOCALNET_CHAIN.block(h) for h in range(11, 152)}
    ahead, executor = _chain_ahead(blocks)
    _sync_with(node, ahead, blocks, 150)
    proofs = sorted(executor.heights)
    assert len(proofs) <= 140 // CHAIN_PROOF_SPACING
    assert all(b - a <= CHAIN_PROOF_REACH + 1 for a, b in zip([10, *proofs], proofs, strict=False))
    assert node.state.last_block_height == 150


def test_chain_proofs_stop_at_a_validator_change_and_verify_each_height_there(tmp_path: Path) -> None:
    """Block 152 changes the set from 154 on: 151..153 are proven by 153's commit, 154 on per height
    until the state knows the new set, then by chain proofs again."""
    node, _ = _state_at(tmp_path, 150)
    blocks = {h: LOCALNET_CHAIN.block(h) for h in range(151, 200)}
    ahead, executor = _chain_ahead(blocks)
    _sync_with(node, ahead, blocks, 198)
    assert executor.heights[0] == 153
    assert len(executor.heights) < 10
    assert node.state.last_block_height == 198


def test_a_forged_block_in_the_run_is_caught_per_height_and_blamed_exactly(tmp_path: Path) -> None:
    """Block 20 carries a corrupted signature in its LastCommit (hash recomputed): its header no longer
    links to 21, the proof from 19 fails, heights are checked one by one and 20's sender is named."""
    node, _ = _state_at(tmp_path, 10)
    blocks = {h: LOCALNET_CHAIN.block(h) for h in range(11, 42)}
    blocks[20] = with_bad_commit_signature(blocks[20])
    ahead, executor = _chain_ahead(blocks)
    _sync_with(node, ahead, blocks, 18)
    assert 19 in executor.heights
    assert _culprit_of_next_pair(node, ahead, blocks) is Culprit.SECOND


def test_a_block_that_is_not_the_committed_one_is_never_proven_by_the_chain(tmp_path: Path) -> None:
    """A flipped tx in block 15 (data hash recomputed) breaks the link 15 -> 16: 15 is checked with
    its own commit, which names the real block, so 15's sender is blamed."""
    node, _ = _state_at(tmp_path, 10)
    blocks = {h: LOCALNET_CHAIN.block(h) for h in range(11, 42)}
    blocks[15] = (
        with_flipped_tx(blocks[15])
        if blocks[15].txs
        else dataclasses.replace(
            blocks[15], header=dataclasses.replace(blocks[15].header, app_hash=b"\x07" * 32)
        )
    )
    ahead, _ = _chain_ahead(blocks)
    _sync_with(node, ahead, blocks, 14)
    assert _culprit_of_next_pair(node, ahead, blocks) is Culprit.FIRST


def _all_absent(ext: ExtendedCommit) -> ExtendedCommit:
    absent = ExtendedCommitSig(CommitSig.absent(), b"", b"")
    return dataclasses.replace(ext, extended_signatures=tuple(absent for _ in ext.extended_signatures))


class ScriptedServer:
    """A peer serving the voteext chain with one deliberate fault (CometBFT's ExtendedCommitNetworkHelper)."""

    def __init__(self, ext_for: Callable[[int], bytes | None]) -> None:
        self.ext_for = ext_for

    def add_peer(self, peer: object) -> None:
        peer.send(BLOCKSYNC_CHANNEL, encode(StatusResponse(height=45, base=1)))  # type: ignore[attr-defined]

    def remove_peer(self, peer: object, reason: str) -> None:
        pass

    def filter_msg_bytes(self, channel_id: int, peer: object, msg_bytes: bytes) -> bool:
        return True

    def receive(self, channel_id: int, peer: object, msg_bytes: bytes) -> None:
        message = decode(msg_bytes)
        if isinstance(message, BlockRequest):
            h = message.height
            reply = encode_block_response(VOTEEXT_CHAIN.block_bytes(h), self.ext_for(h))
            peer.send(BLOCKSYNC_CHANNEL, reply)  # type: ignore[attr-defined]


def _honest_ext(h: int) -> bytes | None:
    return VOTEEXT_CHAIN.ext_commit_bytes(h)


def _ext_at_3_when_disabled(h: int) -> bytes | None:
    if h == 3:
        ext = VOTEEXT_CHAIN.ext_commit(5)
        assert ext is not None
        return dataclasses.replace(ext, height=3).to_proto_bytes()
    return _honest_ext(h)


def _changed_ext_at_5(change: Callable[[ExtendedCommit], ExtendedCommit]) -> Callable[[int], bytes | None]:
    def ext_for(h: int) -> bytes | None:
        ext = VOTEEXT_CHAIN.ext_commit(h)
        return change(ext).to_proto_bytes() if ext is not None and h == 5 else _honest_ext(h)

    return ext_for


def _bad_last_ext_signature(ext: ExtendedCommit) -> ExtendedCommit:
    return with_bad_ext_signature(ext, _last_commit_index(ext))


def _last_commit_index(ext: ExtendedCommit) -> int:
    flags = [s.commit_sig.block_id_flag for s in ext.extended_signatures]
    return max(i for i, flag in enumerate(flags) if flag == BlockIDFlag.COMMIT)


@pytest.mark.parametrize(
    "ext_for",
    [
        _ext_at_3_when_disabled,
        lambda h: None if h == 8 else _honest_ext(h),
        _changed_ext_at_5(_all_absent),
        _changed_ext_at_5(_bad_last_ext_signature),
    ],
    ids=[
        "extra-ext-commit-when-disabled",
        "missing-ext-commit-when-enabled",
        "all-absent-signatures",
        "invalid-signature-after-two-thirds",
    ],
)
def test_check_extended_commit(tmp_path: Path, ext_for: Callable[[int], bytes | None]) -> None:
    """TestCheckExtendedCommit: the syncer never catches up and the faulty peer is gone within 5 s."""
    clock = start_clock(VOTEEXT_CHAIN)
    network = Network(clock)
    syncer = Node(tmp_path, VOTEEXT_CHAIN, RecordedApp(VOTEEXT_CHAIN))
    reactor, handoff = make_reactor(syncer, clock)
    network.connect(ScriptedServer(ext_for), "faulty", reactor, "syncer")  # type: ignore[arg-type]
    reactor.start()
    run_until(clock, lambda: not network.open_peers("syncer"), max_seconds=5)
    assert network.open_peers("syncer") == []
    assert not handoff.switched.called
    assert reactor.state.last_block_height < 8
    assert network.disconnects[0][:2] == ("syncer", "faulty")
