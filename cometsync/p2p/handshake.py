"""Connection upgrade, sans-IO: SecretConnection, then the NodeInfo exchange and CometBFT's peer checks.

Mirrors `MultiplexTransport.upgrade` in `p2p/transport.go`: authenticate, check the dialed id, swap
length-delimited NodeInfos (each side writes its own without waiting), validate, then reject a peer whose
NodeInfo id is not its key's, that is ourselves, or that is incompatible.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError as ProtoDecodeError

from cometsync.crypto import PrivKey, PubKey
from cometsync.crypto.keyfiles import node_id_of
from cometsync.p2p.delimited import DelimitedReader
from cometsync.p2p.errors import DecodeError, HandshakeError, RejectedPeerError
from cometsync.p2p.node_info import MAX_NODE_INFO_SIZE, NodeInfo
from cometsync.p2p.secret_connection import SecretConnection
from cometsync.proto.tendermint.p2p import types_pb2


@dataclass(frozen=True)
class HandshakeResult:
    """An authenticated, compatible peer and the plaintext that followed its NodeInfo."""

    node_info: NodeInfo
    remote_pub_key: PubKey
    leftover: bytes


class PeerHandshake:
    """Drive with `receive(bytes)`; send `data_to_send()` after every call; `result` once done."""

    def __init__(
        self,
        priv_key: PrivKey,
        our_info: NodeInfo,
        dialed_id: str | None = None,
        eph_priv: bytes | None = None,
    ) -> None:
        self.secret = SecretConnection(priv_key, eph_priv)
        self._our_info = our_info
        self._dialed_id = dialed_id
        self._info_reader = DelimitedReader(MAX_NODE_INFO_SIZE)
        self.result: HandshakeResult | None = None

    def data_to_send(self) -> bytes:
        return self.secret.data_to_send()

    @property
    def stage(self) -> int:
        """Progress so far: 0 nothing, 1 key exchanged, 2 authenticated, 3 NodeInfo accepted."""
        if self.result is not None:
            return 3
        if self.secret.authenticated:
            return 2
        return 1 if self.secret.key_exchanged else 0

    def receive(self, data: bytes) -> HandshakeResult | None:
        """Feed wire bytes; returns the result the moment the handshake completes."""
        was_authenticated = self.secret.authenticated
        plaintext = self.secret.receive(data)
        if not self.secret.authenticated:
            return None
        if not was_authenticated:
            self._on_authenticated()
        self._info_reader.feed(plaintext)
        try:
            raw = self._info_reader.next_message()
        except DecodeError as exc:
            raise HandshakeError(f"bad NodeInfo: {exc}") from exc
        if raw is None:
            return None
        info = self._check_peer(raw)
        assert self.secret.remote_pub_key is not None
        self.result = HandshakeResult(info, self.secret.remote_pub_key, self._info_reader.take_rest())
        return self.result

    def _on_authenticated(self) -> None:
        assert self.secret.remote_pub_key is not None
        conn_id = node_id_of(self.secret.remote_pub_key)
        if self._dialed_id is not None and conn_id != self._dialed_id:
            raise HandshakeError(f"conn.ID ({conn_id}) dialed ID ({self._dialed_id}) mismatch")
        self.secret.write(self._our_info.encode())

    def _check_peer(self, raw: bytes) -> NodeInfo:
        try:
            info = NodeInfo.from_proto(types_pb2.DefaultNodeInfo.FromString(raw))
        except (ProtoDecodeError, UnicodeDecodeError) as exc:
            raise HandshakeError(f"malformed NodeInfo: {exc}") from exc
        info.validate()
        assert self.secret.remote_pub_key is not None
        conn_id = node_id_of(self.secret.remote_pub_key)
        if info.node_id != conn_id:
            raise HandshakeError(f"conn.ID ({conn_id}) NodeInfo.ID ({info.node_id}) mismatch")
        if info.node_id == self._our_info.node_id:
            raise RejectedPeerError("connected to ourselves")
        self._our_info.check_compatible(info)
        return info
