"""Fuzzing the decoders that read peer bytes (hypothesis, bounded to a few seconds): whatever arrives, each
raises only its documented error type, never a crash or a traceback-worthy exception."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutations import mutated
from state_fixtures import LOCALNET, VOTEEXT
from twisted.internet import task

from cometsync.blocksync.codec import BLOCKSYNC_CHANNEL, MessageDecodeError, decode
from cometsync.blocksync.msg_filter import FilterRejected, MsgBytesFilter, SyncState, Verdict
from cometsync.blocksync.reactor import _decode_and_parse, blocksync_channel
from cometsync.crypto import PrivKey
from cometsync.p2p.delimited import DelimitedReader
from cometsync.p2p.errors import P2PError
from cometsync.p2p.mconnection import MConnection
from cometsync.p2p.secret_connection import FrameOpener, SecretConnection

FUZZ = settings(max_examples=120, deadline=2000, database=None, suppress_health_check=[HealthCheck.too_slow])
REAL = [
    (LOCALNET / "wire" / "block_response_2.pb").read_bytes(),
    (LOCALNET / "wire" / "block_response_62.pb").read_bytes(),
    (VOTEEXT / "wire" / "block_response_5.pb").read_bytes(),
]


peer_bytes = st.one_of(st.binary(max_size=2048), mutated(REAL))  # real BlockResponses, mutated


def _filter() -> MsgBytesFilter:
    return MsgBytesFilter(lambda peer, height: True, SyncState.ACTIVE)


@FUZZ
@given(peer_bytes)
def test_codec_and_block_parsing_raise_only_decode_errors(data: bytes) -> None:
    with contextlib.suppress(MessageDecodeError):
        decode(data)
    outcome = _decode_and_parse(data)  # never raises: the worker thread's contract
    assert outcome is not None


@FUZZ
@given(peer_bytes)
def test_filter_returns_a_verdict_or_rejects(data: bytes) -> None:
    try:
        verdict = _filter().check(BLOCKSYNC_CHANNEL, "p", data)
    except FilterRejected as err:
        assert err.kind and err.reason
        return
    assert isinstance(verdict, Verdict)


@FUZZ
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_delimited_reader_raises_only_decode_errors(chunks: list[bytes]) -> None:
    reader = DelimitedReader(1034)
    with contextlib.suppress(P2PError):
        for chunk in chunks:
            reader.feed(chunk)
            while reader.next_message() is not None:
                pass


class _Sink:
    def __init__(self) -> None:
        self.written = b""

    def write(self, data: bytes) -> None:
        self.written += data

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


@FUZZ
@given(st.lists(st.binary(max_size=1100), max_size=6))
def test_mconnection_turns_any_stream_into_messages_or_one_error(chunks: list[bytes]) -> None:
    errors: list[str] = []
    mconn = MConnection(task.Clock(), _Sink(), [blocksync_channel(4096)], lambda ch, msg: None, errors.append)
    mconn.start()
    for chunk in chunks:
        mconn.receive(chunk)
    assert len(errors) <= 1
    mconn.stop()


@FUZZ
@given(st.lists(st.binary(max_size=1100), max_size=4))
def test_secret_connection_handshake_rejects_garbage_with_p2p_errors(chunks: list[bytes]) -> None:
    conn = SecretConnection(PrivKey(bytes([3]) * 32), bytes([4]) * 32)
    with contextlib.suppress(P2PError):
        for chunk in chunks:
            conn.receive(chunk)


@FUZZ
@given(st.binary(min_size=1044, max_size=3 * 1044))
def test_frame_opener_rejects_forged_frames(data: bytes) -> None:
    opener = FrameOpener(bytes(32))
    try:
        opener.open(data)
    except P2PError:
        return
    raise AssertionError("a forged frame opened")
