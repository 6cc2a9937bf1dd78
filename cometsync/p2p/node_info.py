"""`DefaultNodeInfo`: what a node says about itself right after authenticating, and CometBFT's checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from cometsync.p2p.delimited import delimit
from cometsync.p2p.errors import HandshakeError, NetworkMismatch, RejectedPeerError
from cometsync.p2p.netaddress import AddressError, remove_protocol, split_host_port, validate_node_id
from cometsync.proto.tendermint.p2p import types_pb2

P2P_PROTOCOL = 8
BLOCK_PROTOCOL = 11
MAX_NODE_INFO_SIZE = 10240
MAX_NUM_CHANNELS = 16
COMETBFT_VERSION = "0.38.25"


def _is_ascii_text(text: str) -> bool:
    return bool(text) and all(32 <= ord(ch) <= 126 for ch in text)


@dataclass(frozen=True)
class ProtocolVersion:
    p2p: int = P2P_PROTOCOL
    block: int = BLOCK_PROTOCOL
    app: int = 0


@dataclass(frozen=True)
class NodeInfo:
    """CometBFT's `DefaultNodeInfo` (network = chain id, channels = one byte per channel id)."""

    node_id: str
    listen_addr: str
    network: str
    channels: bytes
    moniker: str
    version: str = COMETBFT_VERSION
    protocol_version: ProtocolVersion = field(default_factory=ProtocolVersion)
    tx_index: str = "off"
    rpc_address: str = ""

    def to_proto(self) -> types_pb2.DefaultNodeInfo:
        pb = types_pb2.DefaultNodeInfo(
            protocol_version=types_pb2.ProtocolVersion(
                p2p=self.protocol_version.p2p,
                block=self.protocol_version.block,
                app=self.protocol_version.app,
            ),
            default_node_id=self.node_id,
            listen_addr=self.listen_addr,
            network=self.network,
            version=self.version,
            channels=self.channels,
            moniker=self.moniker,
            other=types_pb2.DefaultNodeInfoOther(tx_index=self.tx_index, rpc_address=self.rpc_address),
        )
        # gogoproto non-nullable fields: always on the wire, even when empty.
        pb.protocol_version.SetInParent()
        pb.other.SetInParent()
        return pb

    def encode(self) -> bytes:
        """Length-delimited bytes, exactly what CometBFT writes into the SecretConnection."""
        return delimit(self.to_proto().SerializeToString())

    @classmethod
    def from_proto(cls, pb: types_pb2.DefaultNodeInfo) -> NodeInfo:
        return cls(
            node_id=pb.default_node_id,
            listen_addr=pb.listen_addr,
            network=pb.network,
            channels=bytes(pb.channels),
            moniker=pb.moniker,
            version=pb.version,
            protocol_version=ProtocolVersion(
                pb.protocol_version.p2p, pb.protocol_version.block, pb.protocol_version.app
            ),
            tx_index=pb.other.tx_index,
            rpc_address=pb.other.rpc_address,
        )

    def validate(self) -> None:
        """CometBFT's `Validate`: id and listen address parse, ASCII fields, at most 16 distinct channels."""
        try:
            validate_node_id(self.node_id)
            split_host_port(remove_protocol(self.listen_addr))
        except AddressError as exc:
            raise HandshakeError(f"invalid node info: {exc}") from exc
        if self.version and (not _is_ascii_text(self.version) or not self.version.strip(" ")):
            raise HandshakeError(f"invalid node info: version {self.version!r} is not ASCII text")
        if len(self.channels) > MAX_NUM_CHANNELS:
            raise HandshakeError(f"invalid node info: {len(self.channels)} channels, max {MAX_NUM_CHANNELS}")
        if len(set(self.channels)) != len(self.channels):
            raise HandshakeError("invalid node info: duplicate channel id")
        if not _is_ascii_text(self.moniker) or not self.moniker.strip(" "):
            raise HandshakeError(f"invalid node info: moniker {self.moniker!r} must be non-empty ASCII text")
        if self.tx_index not in ("", "on", "off"):
            raise HandshakeError(f"invalid node info: tx_index {self.tx_index!r}")
        if self.rpc_address and (not _is_ascii_text(self.rpc_address) or not self.rpc_address.strip(" ")):
            raise HandshakeError(f"invalid node info: rpc_address {self.rpc_address!r}")

    def check_compatible(self, other: NodeInfo) -> None:
        """CometBFT's `CompatibleWith`: same block protocol, same network, one channel in common."""
        if other.protocol_version.block != self.protocol_version.block:
            raise RejectedPeerError(
                f"peer is on block protocol {other.protocol_version.block}, "
                f"we are on {self.protocol_version.block}"
            )
        if other.network != self.network:
            raise NetworkMismatch(other.node_id, other.network, self.network)
        if self.channels and not set(self.channels) & set(other.channels):
            raise RejectedPeerError(
                f"peer has no common channels: ours {self.channels.hex()}, theirs {other.channels.hex()}"
            )

    def has_channel(self, channel_id: int) -> bool:
        return channel_id in self.channels
