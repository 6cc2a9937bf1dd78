"""SecretConnection against CometBFT's vectors: Merlin, the HKDF golden file, and the v0.38.25 transcript."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from merlin_transcripts.merlin_transcript import MerlinTranscript

from cometsync.crypto import PrivKey
from cometsync.p2p.errors import FrameError, HandshakeError
from cometsync.p2p.secret_connection import (
    SEALED_FRAME_SIZE,
    FrameOpener,
    FrameSealer,
    SecretConnection,
    compute_challenge,
    compute_dh_secret,
    derive_secrets,
    encode_auth_sig_message,
    encode_eph_pub_message,
    eph_public_key,
)

DATA = Path(__file__).parent / "data"
HANDSHAKE: dict[str, Any] = json.loads((DATA / "cometbft-v0.38.25-p2p" / "handshake.json").read_text())


def _run_merlin_steps(
    transcript: MerlinTranscript | None, steps: list[dict[str, Any]], store: dict[str, bytes]
) -> MerlinTranscript:
    for step in steps:
        if step["op"] == "new":
            transcript = MerlinTranscript(step["label"].encode())
        elif step["op"] == "repeat":
            for _ in range(step["times"]):
                transcript = _run_merlin_steps(transcript, step["body"], store)
        elif step["op"] == "append_message":
            assert transcript is not None
            if "message_utf8" in step:
                message = step["message_utf8"].encode()
            elif "message_from" in step:
                message = store[step["message_from"]]
            else:
                message = bytes([0x63]) * 1024
            transcript.append_message(step["label"].encode(), message)
        else:
            assert transcript is not None
            store[step.get("store_as", "last")] = bytes(
                transcript.challenge_bytes(step["label"].encode(), step["length"])
            )
    assert transcript is not None
    return transcript


@pytest.mark.parametrize("index", [0, 1])
def test_merlin_vectors(index: int) -> None:
    vector = json.loads((DATA / "merlin" / "merlin_transcript_vectors.json").read_text())["vectors"][index]
    store: dict[str, bytes] = {}
    _run_merlin_steps(None, vector["steps"], store)
    result = store.get("chl", store.get("last"))
    assert result is not None and result.hex() == vector["expected_challenge_hex"]


def test_derive_secrets_golden() -> None:
    lines = DATA / "cometbft-v0.38" / "secret_connection" / "TestDeriveSecretsAndChallengeGolden.golden"
    rows = [line.split(",") for line in lines.read_text().split("\n") if line]
    assert len(rows) == 32
    for dh, least, recv, send, _legacy in rows:
        assert derive_secrets(bytes.fromhex(dh), least == "true") == (
            bytes.fromhex(recv),
            bytes.fromhex(send),
        )


def test_key_schedule_matches_transcript() -> None:
    derived = HANDSHAKE["derived"]
    inputs = HANDSHAKE["inputs"]
    eph_priv = {side: bytes.fromhex(inputs[side]["eph_priv_hex"]) for side in "AB"}
    for side in "AB":
        key = PrivKey(hashlib.sha256(inputs[side]["node_key_secret_ascii"].encode()).digest())
        assert key.to_bytes().hex() == inputs[side]["ed25519_priv_key_hex"]
        assert key.pub_key.address().hex() == inputs[side]["node_id"]
        assert eph_public_key(eph_priv[side]).hex() == inputs[side]["eph_pub_hex"]
        assert (
            encode_eph_pub_message(eph_public_key(eph_priv[side])).hex()
            == derived[side]["eph_pub_msg_delimited_hex"]
        )
    dh = compute_dh_secret(eph_priv["A"], bytes.fromhex(inputs["B"]["eph_pub_hex"]))
    assert dh == compute_dh_secret(eph_priv["B"], bytes.fromhex(inputs["A"]["eph_pub_hex"]))
    assert dh.hex() == derived["dh_secret_hex"]
    challenge = compute_challenge(
        bytes.fromhex(derived["lo_eph_pub_hex"]), bytes.fromhex(derived["hi_eph_pub_hex"]), dh
    )
    assert challenge.hex() == derived["merlin_challenge_hex"]
    for side in "AB":
        recv, send = derive_secrets(dh, derived[side]["loc_is_least"])
        assert (recv.hex(), send.hex()) == (
            derived[side]["recv_secret_hex"],
            derived[side]["send_secret_hex"],
        )
        key = PrivKey(bytes.fromhex(inputs[side]["ed25519_seed_hex"]))
        signature = key.sign(challenge)
        assert signature.hex() == derived[side]["auth_sig_hex"]
        assert (
            encode_auth_sig_message(key.pub_key, signature).hex()
            == derived[side]["auth_sig_msg_delimited_hex"]
        )


def _side(name: str) -> SecretConnection:
    inputs = HANDSHAKE["inputs"][name]
    return SecretConnection(
        PrivKey(bytes.fromhex(inputs["ed25519_seed_hex"])), eph_priv=bytes.fromhex(inputs["eph_priv_hex"])
    )


@pytest.mark.parametrize(("ours", "theirs"), [("A", "B"), ("B", "A")])
def test_decrypts_the_other_sides_stream(ours: str, theirs: str) -> None:
    conn = _side(ours)
    stream = bytes.fromhex(HANDSHAKE["wire"][theirs]["stream_hex"])
    plaintext = b"".join(conn.receive(stream[i : i + 700]) for i in range(0, len(stream), 700))
    expected = bytes.fromhex(HANDSHAKE["wire"][theirs]["secret_conn_plaintext_stream_hex"])
    auth_len = len(bytes.fromhex(HANDSHAKE["derived"][theirs]["auth_sig_msg_delimited_hex"]))
    assert plaintext == expected[auth_len:]
    assert conn.remote_pub_key is not None
    assert conn.remote_pub_key.key.hex() == HANDSHAKE["inputs"][theirs]["ed25519_pub_key_hex"]


@pytest.mark.parametrize("name", ["A", "B"])
def test_handshake_writes_exact_bytes_including_stale_padding(name: str) -> None:
    other = "B" if name == "A" else "A"
    conn = _side(name)
    chunks = [bytes.fromhex(c["hex"]) for c in HANDSHAKE["wire"][name]["chunks"]]
    assert conn.data_to_send() == chunks[0]
    other_chunks = [bytes.fromhex(c["hex"]) for c in HANDSHAKE["wire"][other]["chunks"]]
    assert conn.receive(other_chunks[0]) == b""
    assert conn.data_to_send() == chunks[1]
    conn.receive(other_chunks[1])
    assert conn.authenticated
    for chunk in HANDSHAKE["wire"][name]["chunks"][2:]:
        conn.write(bytes.fromhex(chunk["data_hex"]))
        assert conn.data_to_send().hex() == chunk["hex"]


def test_sealed_frames_round_trip_and_reject_tampering() -> None:
    key = bytes(range(32))
    sealed = FrameSealer(key).seal(b"x" * 2500)
    assert len(sealed) == 3 * SEALED_FRAME_SIZE
    assert FrameOpener(key).open(sealed) == b"x" * 2500
    for position in (0, 700, SEALED_FRAME_SIZE - 1, 2 * SEALED_FRAME_SIZE + 5):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        with pytest.raises(FrameError):
            FrameOpener(key).open(bytes(tampered))
    with pytest.raises(FrameError):
        FrameOpener(bytes(32)).open(sealed)
    replayed = sealed[:SEALED_FRAME_SIZE] * 2
    with pytest.raises(FrameError):
        FrameOpener(key).open(replayed)


def test_low_order_and_malformed_eph_keys_are_refused() -> None:
    conn = _side("A")
    with pytest.raises(HandshakeError):
        conn.receive(encode_eph_pub_message(bytes(32)))
    with pytest.raises(HandshakeError):
        _side("A").receive(encode_eph_pub_message(bytes(16)))
    with pytest.raises(HandshakeError):
        _side("A").receive(b"\xff" * 12)


def test_bad_auth_signature_and_wrong_key_type_are_refused() -> None:
    derived = HANDSHAKE["derived"]
    b_to_a = bytes.fromhex(derived["aead_key_b_to_a_hex"])
    b_key = PrivKey(bytes.fromhex(HANDSHAKE["inputs"]["B"]["ed25519_seed_hex"]))
    b_eph = bytes.fromhex(HANDSHAKE["wire"]["B"]["chunks"][0]["hex"])
    wrong_sig = b_key.sign(b"not the challenge")
    conn = _side("A")
    conn.receive(b_eph)
    with pytest.raises(HandshakeError, match="challenge verification failed"):
        conn.receive(FrameSealer(b_to_a).seal(encode_auth_sig_message(b_key.pub_key, wrong_sig)))
    secp = bytes.fromhex("0a231221") + bytes(33)
    conn = _side("A")
    conn.receive(b_eph)
    with pytest.raises(HandshakeError, match="expected ed25519"):
        conn.receive(FrameSealer(b_to_a).seal(bytes([len(secp)]) + secp))
