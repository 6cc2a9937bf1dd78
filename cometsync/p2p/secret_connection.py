"""CometBFT's SecretConnection (STS over X25519, Merlin, HKDF-SHA256, ChaCha20-Poly1305), sans-IO.

Feed received bytes to `SecretConnection.receive`, write plaintext with `write`, and send whatever
`data_to_send` returns. The handshake order and every byte match `p2p/conn/secret_connection.go` v0.38.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from google.protobuf import wrappers_pb2
from google.protobuf.message import DecodeError as ProtoDecodeError
from merlin_transcripts.merlin_transcript import MerlinTranscript

from cometsync.crypto import PrivKey, PubKey
from cometsync.p2p.delimited import DelimitedReader, delimit
from cometsync.p2p.errors import DecodeError, FrameError, HandshakeError
from cometsync.proto.tendermint.crypto import keys_pb2
from cometsync.proto.tendermint.p2p import conn_pb2

DATA_LEN_SIZE = 4
DATA_MAX_SIZE = 1024
TOTAL_FRAME_SIZE = DATA_LEN_SIZE + DATA_MAX_SIZE
AEAD_TAG_SIZE = 16
SEALED_FRAME_SIZE = TOTAL_FRAME_SIZE + AEAD_TAG_SIZE
KEY_SIZE = 32
CHALLENGE_SIZE = 32
MAX_HANDSHAKE_MSG_SIZE = 1024 * 1024  # protoio reader limit CometBFT uses for both handshake messages

HKDF_INFO = b"TENDERMINT_SECRET_CONNECTION_KEY_AND_CHALLENGE_GEN"
TRANSCRIPT_LABEL = b"TENDERMINT_SECRET_CONNECTION_TRANSCRIPT_HASH"
LABEL_EPH_LOWER = b"EPHEMERAL_LOWER_PUBLIC_KEY"
LABEL_EPH_UPPER = b"EPHEMERAL_UPPER_PUBLIC_KEY"
LABEL_DH_SECRET = b"DH_SECRET"
LABEL_MAC = b"SECRET_CONNECTION_MAC"

_MAX_NONCE = 2**64 - 1


def derive_secrets(dh_secret: bytes, loc_is_least: bool) -> tuple[bytes, bytes]:
    """(recv_key, send_key) from HKDF-SHA256 over the DH secret; the lower eph key receives first."""
    out = HKDF(algorithm=hashes.SHA256(), length=2 * KEY_SIZE + 32, salt=None, info=HKDF_INFO).derive(
        dh_secret
    )
    first, second = out[:KEY_SIZE], out[KEY_SIZE : 2 * KEY_SIZE]
    return (first, second) if loc_is_least else (second, first)


def compute_challenge(lo_eph_pub: bytes, hi_eph_pub: bytes, dh_secret: bytes) -> bytes:
    """The 32-byte Merlin challenge both sides sign."""
    transcript = MerlinTranscript(TRANSCRIPT_LABEL)
    transcript.append_message(LABEL_EPH_LOWER, lo_eph_pub)
    transcript.append_message(LABEL_EPH_UPPER, hi_eph_pub)
    transcript.append_message(LABEL_DH_SECRET, dh_secret)
    challenge = bytes(transcript.challenge_bytes(LABEL_MAC, CHALLENGE_SIZE))
    if len(challenge) != CHALLENGE_SIZE:  # explicit: the library's own checks are asserts
        raise HandshakeError("merlin transcript returned a challenge of the wrong size")
    return challenge


def compute_dh_secret(eph_priv: bytes, remote_eph_pub: bytes) -> bytes:
    """X25519; a low-order remote point (all-zero shared secret) is refused as CometBFT does."""
    try:
        return X25519PrivateKey.from_private_bytes(eph_priv).exchange(
            X25519PublicKey.from_public_bytes(remote_eph_pub)
        )
    except ValueError as exc:
        raise HandshakeError("detected low order point from remote peer") from exc


def eph_public_key(eph_priv: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(eph_priv).public_key().public_bytes_raw()


def _nonce(counter: int) -> bytes:
    return b"\x00\x00\x00\x00" + struct.pack("<Q", counter)


class FrameSealer:
    """Cuts plaintext into 1024-byte frames and seals them.

    One 1028-byte frame buffer is reused for the connection's life, as Go does, so padding carries bytes
    of earlier frames: this keeps our ciphertext byte-identical to CometBFT's.
    """

    def __init__(self, key: bytes) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._frame = bytearray(TOTAL_FRAME_SIZE)
        self.counter = 0

    def seal(self, data: bytes) -> bytes:
        sealed: list[bytes] = []
        view = memoryview(data)
        for start in range(0, len(data), DATA_MAX_SIZE):
            chunk = view[start : start + DATA_MAX_SIZE]
            struct.pack_into("<I", self._frame, 0, len(chunk))
            self._frame[DATA_LEN_SIZE : DATA_LEN_SIZE + len(chunk)] = chunk
            if self.counter >= _MAX_NONCE:
                raise FrameError("send nonce exhausted")
            sealed.append(self._aead.encrypt(_nonce(self.counter), bytes(self._frame), None))
            self.counter += 1
        return b"".join(sealed)


class FrameOpener:
    """Opens a stream of sealed frames; any bad tag, replay, reorder or length ends the connection."""

    def __init__(self, key: bytes) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._buf = bytearray()
        self.counter = 0

    def open(self, data: bytes) -> bytes:
        self._buf += data
        whole = len(self._buf) - len(self._buf) % SEALED_FRAME_SIZE
        if not whole:
            return b""
        view = memoryview(self._buf)
        out: list[bytes] = []
        try:
            for start in range(0, whole, SEALED_FRAME_SIZE):
                out.append(self._open_frame(view[start : start + SEALED_FRAME_SIZE]))
        finally:
            view.release()
        del self._buf[:whole]
        return b"".join(out)

    def _open_frame(self, sealed: memoryview) -> bytes:
        if self.counter >= _MAX_NONCE:
            raise FrameError("receive nonce exhausted")
        try:
            frame = self._aead.decrypt(_nonce(self.counter), bytes(sealed), None)
        except InvalidTag as exc:
            raise FrameError(f"failed to decrypt SecretConnection frame {self.counter}") from exc
        self.counter += 1
        (length,) = struct.unpack_from("<I", frame)
        if length > DATA_MAX_SIZE:
            raise FrameError(f"frame data length {length} is greater than {DATA_MAX_SIZE}")
        return frame[DATA_LEN_SIZE : DATA_LEN_SIZE + length]


def encode_auth_sig_message(pub_key: PubKey, signature: bytes) -> bytes:
    msg = conn_pb2.AuthSigMessage(pub_key=keys_pb2.PublicKey(ed25519=pub_key.key), sig=signature)
    return delimit(msg.SerializeToString())


def encode_eph_pub_message(eph_pub: bytes) -> bytes:
    return delimit(wrappers_pb2.BytesValue(value=eph_pub).SerializeToString())


def _decode_auth_sig(raw: bytes) -> tuple[PubKey, bytes]:
    try:
        msg = conn_pb2.AuthSigMessage.FromString(raw)
    except ProtoDecodeError as exc:
        raise HandshakeError(f"malformed AuthSigMessage: {exc}") from exc
    if msg.pub_key.WhichOneof("sum") != "ed25519":
        raise HandshakeError(f"expected ed25519 pubkey, got {msg.pub_key.WhichOneof('sum')}")
    try:
        return PubKey(msg.pub_key.ed25519), msg.sig
    except ValueError as exc:
        raise HandshakeError(str(exc)) from exc


class SecretConnection:
    """One side of a SecretConnection: handshake first, then sealed frames both ways."""

    def __init__(self, priv_key: PrivKey, eph_priv: bytes | None = None) -> None:
        self._priv_key = priv_key
        self._eph_priv = eph_priv if eph_priv is not None else os.urandom(32)
        self.eph_pub = eph_public_key(self._eph_priv)
        self._outgoing = bytearray(encode_eph_pub_message(self.eph_pub))
        self._raw = DelimitedReader(MAX_HANDSHAKE_MSG_SIZE)
        self._plain = DelimitedReader(MAX_HANDSHAKE_MSG_SIZE)
        self._sealer: FrameSealer | None = None
        self._opener: FrameOpener | None = None
        self.challenge = b""
        self.remote_pub_key: PubKey | None = None

    @property
    def authenticated(self) -> bool:
        return self.remote_pub_key is not None

    @property
    def key_exchanged(self) -> bool:
        """The peer's ephemeral key arrived (frames flow from here on)."""
        return self._opener is not None

    def data_to_send(self) -> bytes:
        """Bytes to put on the wire now (cleartext eph key, then sealed frames)."""
        out = bytes(self._outgoing)
        self._outgoing.clear()
        return out

    def write(self, data: bytes) -> None:
        """Seal `data` as one CometBFT `Write` (frames of up to 1024 bytes)."""
        if self._sealer is None:
            raise HandshakeError("cannot write before the key exchange completed")
        self._outgoing += self._sealer.seal(data)

    def receive(self, data: bytes) -> bytes:
        """Consume wire bytes; return application plaintext (empty while still authenticating)."""
        if self._opener is None:
            self._raw.feed(data)
            if not self._receive_eph_key():
                return b""
            data = self._raw.take_rest()
        assert self._opener is not None
        plaintext = self._opener.open(data)
        if self.authenticated:
            return plaintext
        self._plain.feed(plaintext)
        return self._receive_auth_sig()

    def _receive_eph_key(self) -> bool:
        try:
            raw = self._raw.next_message()
            if raw is None:
                return False
            remote_eph = wrappers_pb2.BytesValue.FromString(raw).value
        except (DecodeError, ProtoDecodeError) as exc:
            raise HandshakeError(f"bad ephemeral key message: {exc}") from exc
        if len(remote_eph) != KEY_SIZE:
            raise HandshakeError(f"ephemeral key must be {KEY_SIZE} bytes, got {len(remote_eph)}")
        lo, hi = sorted((self.eph_pub, remote_eph))
        dh_secret = compute_dh_secret(self._eph_priv, remote_eph)
        recv_key, send_key = derive_secrets(dh_secret, self.eph_pub == lo)
        self.challenge = compute_challenge(lo, hi, dh_secret)
        self._sealer = FrameSealer(send_key)
        self._opener = FrameOpener(recv_key)
        signature = self._priv_key.sign(self.challenge)
        self.write(encode_auth_sig_message(self._priv_key.pub_key, signature))
        return True

    def _receive_auth_sig(self) -> bytes:
        try:
            raw = self._plain.next_message()
        except DecodeError as exc:
            raise HandshakeError(f"bad AuthSigMessage: {exc}") from exc
        if raw is None:
            return b""
        remote_pub, signature = _decode_auth_sig(raw)
        if not remote_pub.verify(self.challenge, signature):
            raise HandshakeError("challenge verification failed")
        self.remote_pub_key = remote_pub
        return self._plain.take_rest()
