"""The sans-IO socket-protocol codec: CometBFT's uvarint framing byte for byte, in-order pairing, and
fuzzed truncated, oversized and garbage input (a typed error or a wait for more bytes, never a crash)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cometsync.abci.codec import ClientCodec, FrameDecoder, encode_frame, encode_uvarint, request_frame
from cometsync.abci.errors import ABCIAppException, ABCIProtocolError
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2

FUZZ = settings(max_examples=300, deadline=None)


def response_frame(**fields: object) -> bytes:
    return encode_frame(abci_pb2.Response(**fields))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (1, b"\x01"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (300, b"\xac\x02"),
        (2**63, b"\x80" * 9 + b"\x01"),
    ],
)
def test_uvarint_matches_go_binary_put_uvarint(value: int, encoded: bytes) -> None:
    assert encode_uvarint(value) == encoded


def test_request_frame_is_length_then_request() -> None:
    # CometBFT: Request{echo: {message: "hi"}} = 0a 04 0a 02 68 69, prefixed by its length as a uvarint.
    assert request_frame("echo", abci_pb2.RequestEcho(message="hi")) == b"\x06\x0a\x04\x0a\x02hi"
    assert request_frame("flush", abci_pb2.RequestFlush()) == b"\x02\x12\x00"


def test_request_frame_matches_the_envelope_protobuf_encodes() -> None:
    """The hand-written envelope is `Request{<method>: request}` as protobuf encodes it, for every method."""
    finalize = abci_pb2.RequestFinalizeBlock(height=7, txs=[b"k=v", b""], hash=b"\x01" * 32)
    finalize.decided_last_commit.round = 1
    for field in abci_pb2.Request.DESCRIPTOR.oneofs_by_name["value"].fields:
        envelope = abci_pb2.Request()
        request = finalize if field.name == "finalize_block" else getattr(envelope, field.name).__class__()
        getattr(envelope, field.name).CopyFrom(request)
        assert request_frame(field.name, request) == encode_frame(envelope), field.name


def test_answers_pair_in_order_and_flush_tokens_come_back() -> None:
    codec: ClientCodec[str | None] = ClientCodec()
    codec.send("info", abci_pb2.RequestInfo(), "info-call")
    codec.send("flush", abci_pb2.RequestFlush(), None)
    codec.send("echo", abci_pb2.RequestEcho(message="x"), "echo-call")
    stream = (
        response_frame(info=abci_pb2.ResponseInfo(last_block_height=7))
        + response_frame(flush=abci_pb2.ResponseFlush())
        + response_frame(echo=abci_pb2.ResponseEcho(message="x"))
    )
    received = codec.receive(stream[:3])
    assert received.answers == [] and received.error is None
    received = codec.receive(stream[3:])
    assert received.error is None
    assert [token for token, _ in received.answers] == ["info-call", None, "echo-call"]
    assert received.answers[0][1].last_block_height == 7 and received.answers[2][1].message == "x"
    assert codec.drain() == []


def test_mismatched_answer_is_a_protocol_error_and_sticks() -> None:
    codec: ClientCodec[str] = ClientCodec()
    codec.send("commit", abci_pb2.RequestCommit(), "commit-call")
    received = codec.receive(response_frame(info=abci_pb2.ResponseInfo()))
    assert isinstance(received.error, ABCIProtocolError)
    assert "info does not answer the pending request commit" in str(received.error)
    assert codec.receive(response_frame(commit=abci_pb2.ResponseCommit())).error is received.error
    assert codec.drain() == [("commit", "commit-call")]


def test_unsolicited_and_empty_answers_are_protocol_errors() -> None:
    unsolicited = ClientCodec[str]().receive(response_frame(echo=abci_pb2.ResponseEcho()))
    assert isinstance(unsolicited.error, ABCIProtocolError) and "no call was pending" in str(
        unsolicited.error
    )
    codec: ClientCodec[str] = ClientCodec()
    codec.send("echo", abci_pb2.RequestEcho(), "echo-call")
    assert isinstance(codec.receive(b"\x00").error, ABCIProtocolError)  # an empty Response


def test_exception_answer_carries_the_app_message() -> None:
    codec: ClientCodec[str] = ClientCodec()
    codec.send("finalize_block", abci_pb2.RequestFinalizeBlock(), "block")
    received = codec.receive(response_frame(exception=abci_pb2.ResponseException(error="disk full")))
    assert isinstance(received.error, ABCIAppException) and received.error.app_message == "disk full"


def test_oversized_length_is_refused_before_any_payload_arrives() -> None:
    decoder = FrameDecoder(max_frame_bytes=1024)
    with pytest.raises(ABCIProtocolError, match="1025 bytes exceeds the 1024-byte limit"):
        decoder.feed(encode_uvarint(1025))
    assert FrameDecoder(max_frame_bytes=1024).feed(encode_uvarint(1024) + bytes(1024)) == [bytes(1024)]


def test_overlong_varint_is_refused() -> None:
    with pytest.raises(ABCIProtocolError, match="longer than a 64-bit varint"):
        FrameDecoder().feed(b"\xff" * 10)


@FUZZ
@given(st.lists(st.binary(max_size=300), max_size=8), st.data())
def test_frames_survive_any_split(payloads: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(encode_uvarint(len(p)) + p for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    decoder = FrameDecoder()
    out: list[bytes] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out += decoder.feed(stream[start:end])
    assert out == payloads and decoder.buffered == 0


@FUZZ
@given(st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=4), st.integers(1, 10**6))
def test_truncated_stream_waits_and_reports_truncation(payloads: list[bytes], seed: int) -> None:
    stream = b"".join(encode_uvarint(len(p)) + p for p in payloads)
    cut = seed % len(stream)
    decoder = FrameDecoder()
    decoded = decoder.feed(stream[:cut])
    assert decoded == payloads[: len(decoded)]
    assert decoder.buffered == cut - sum(len(encode_uvarint(len(p))) + len(p) for p in decoded)


@FUZZ
@given(st.binary(max_size=2000), st.integers(1, 4096))
def test_garbage_is_a_typed_error_or_more_bytes_awaited(garbage: bytes, limit: int) -> None:
    codec: ClientCodec[int] = ClientCodec(max_frame_bytes=limit)
    for token in range(3):
        codec.send("echo", abci_pb2.RequestEcho(), token)
    received = codec.receive(garbage)
    assert received.error is None or isinstance(received.error, ABCIProtocolError | ABCIAppException)
    assert [token for token, _ in received.answers] == list(range(len(received.answers)))
    assert len(received.answers) + len(codec.drain()) == 3
