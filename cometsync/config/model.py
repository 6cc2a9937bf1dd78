"""The node's configuration: CometBFT v0.38's config.toml sections (the keys cometsync uses) plus
`[cometsync]` for what CometBFT has no key for. Field names are the TOML keys.
"""

from __future__ import annotations

import os
import socket
from dataclasses import Field, dataclass, field, replace
from pathlib import Path
from typing import Any

from cometsync.config import checks
from cometsync.config.duration import Duration
from cometsync.config.fields import ConfigError, coerce, from_text, setting, settings_of

COMETBFT_VERSION = "0.38.25"
MIB = 1024 * 1024
CONFIG_DIR = "config"
CONFIG_FILE = "config.toml"
DEFAULT_DATA_DIR = "data"


def default_home() -> Path:
    """`$CMTHOME` when set (as CometBFT honours it), else `~/.cometsync`."""
    return Path(os.environ.get("CMTHOME") or Path.home() / ".cometsync")


def default_moniker() -> str:
    """CometBFT's default: the host name, or "anonymous" when it cannot be read."""
    try:
        return socket.gethostname() or "anonymous"
    except OSError:
        return "anonymous"


def _ms(milliseconds: int) -> Duration:
    return Duration(milliseconds * 1_000_000)


@dataclass
class BaseConfig:
    """Top-level keys: the app, the node's name, where its files live."""

    version: str = setting(
        COMETBFT_VERSION, "The CometBFT release whose config.toml this file follows. Do not modify this."
    )
    proxy_app: str = setting(
        "kvstore",
        "TCP or UNIX socket address of the ABCI application (tcp://host:port, host:port, unix://path;\n"
        'grpc://host:port selects gRPC), or "kvstore" / "persistent_kvstore" to run the built-in kvstore\n'
        "app in a child process listening on [cometsync] kvstore_laddr",
        check=checks.proxy_app,
    )
    moniker: str = setting(default_moniker(), "A custom human readable name for this node")
    db_backend: str = setting(
        "goleveldb", "Database backend: cometsync stores in LevelDB", choices=("goleveldb", "cleveldb")
    )
    db_dir: str = setting(DEFAULT_DATA_DIR, "Database directory", check=checks.non_empty)
    log_level: str = setting(
        "info",
        'Output level for logging ("debug", "info", "error", "none"), including package level options',
        check=checks.log_level,
    )
    log_format: str = setting("plain", "Output format: 'plain' (text) or 'json'", choices=("plain", "json"))
    genesis_file: str = setting(
        "config/genesis.json",
        "Path to the JSON file containing the initial validator set and other meta data",
        check=checks.non_empty,
    )
    priv_validator_key_file: str = setting(
        "config/priv_validator_key.json",
        "Path to the JSON file containing the private key to use as a validator in the consensus protocol",
        check=checks.non_empty,
    )
    priv_validator_state_file: str = setting(
        "data/priv_validator_state.json",
        "Path to the JSON file containing the last sign state of a validator",
        check=checks.non_empty,
    )
    node_key_file: str = setting(
        "config/node_key.json",
        "Path to the JSON file containing the private key to use for node authentication in the p2p protocol",
        check=checks.non_empty,
    )
    abci: str = setting(
        "socket",
        "Mechanism to connect to the ABCI application: socket | grpc",
        choices=("socket", "grpc"),
    )


@dataclass
class RPCConfig:
    """The JSON-RPC status server."""

    laddr: str = setting(
        "tcp://127.0.0.1:26657",
        "TCP or UNIX socket address for the RPC server to listen on (empty: no RPC server)",
        check=checks.listen_address(optional=True, unix=True),
    )
    max_open_connections: int = setting(
        900, "Maximum number of simultaneous connections (0 - unlimited)", minimum=0
    )
    max_request_batch_size: int = setting(
        10, "Maximum number of requests in a JSON-RPC batch request (0 - unlimited)", minimum=0
    )
    max_body_bytes: int = setting(1000000, "Maximum size of request body, in bytes", minimum=0)


@dataclass
class P2PConfig:
    """Peer-to-peer: listening, peers and the per-connection limits of MConnection."""

    laddr: str = setting(
        "tcp://0.0.0.0:26656", "Address to listen for incoming connections", check=checks.listen_address()
    )
    external_address: str = setting(
        "",
        "Address to advertise to peers for them to dial. If empty, the listen address is used",
        check=checks.listen_address(optional=True),
    )
    persistent_peers: str = setting(
        "",
        "Comma separated list of nodes (id@host:port) to keep persistent connections to",
        check=checks.peer_list,
    )
    max_num_inbound_peers: int = setting(40, "Maximum number of inbound peers", minimum=0)
    max_num_outbound_peers: int = setting(
        10, "Maximum number of outbound peers to connect to, excluding persistent peers", minimum=0
    )
    unconditional_peer_ids: str = setting(
        "",
        "List of node IDs, to which a connection will be (re)established ignoring any existing limits",
        check=checks.node_id_list,
    )
    persistent_peers_max_dial_period: Duration = setting(
        Duration(0),
        "Maximum pause when redialing a persistent peer (if zero, exponential backoff is used)",
        minimum=0,
    )
    flush_throttle_timeout: Duration = setting(
        _ms(100), "Time to wait before flushing messages out on the connection", minimum=0
    )
    max_packet_msg_payload_size: int = setting(
        1024, "Maximum size of a message packet payload, in bytes", minimum=1
    )
    send_rate: int = setting(5120000, "Rate at which packets can be sent, in bytes/second", minimum=0)
    recv_rate: int = setting(5120000, "Rate at which packets can be received, in bytes/second", minimum=0)
    allow_duplicate_ip: bool = setting(
        False, "Toggle to disable guard against peers connecting from the same ip."
    )
    handshake_timeout: Duration = setting(_ms(20_000), "Peer connection configuration.", minimum=0)
    dial_timeout: Duration = setting(_ms(3_000), "How long to wait for a dialled peer to accept", minimum=0)


@dataclass
class BlocksyncConfig:
    """Block sync: v0.38 knows only version "v0"."""

    version: str = setting("v0", 'Block Sync version to use: "v0" is the only one', choices=("v0",))


@dataclass
class ConsensusConfig:
    """Consensus: the timing keys the block-producing (solo) engine honours."""

    timeout_commit: Duration = setting(
        _ms(1_000),
        "How long we wait after committing a block, before starting on the new height",
        minimum=0,
    )
    skip_timeout_commit: bool = setting(
        False, "Make progress as soon as we have all the precommits (as if TimeoutCommit = 0)"
    )
    create_empty_blocks: bool = setting(True, "EmptyBlocks mode and possible interval between empty blocks")
    create_empty_blocks_interval: Duration = setting(
        Duration(0), "How long to wait before producing an empty block (0s: no wait)", minimum=0
    )


@dataclass
class InstrumentationConfig:
    """Instrumentation: Prometheus metrics."""

    prometheus: bool = setting(
        False, "When true, Prometheus metrics are served under /metrics on prometheus_listen_addr."
    )
    prometheus_listen_addr: str = setting(
        ":26660",
        "Address to listen for Prometheus collector(s) connections",
        check=checks.listen_address(optional=True),
    )
    max_open_connections: int = setting(
        3, "Maximum number of simultaneous connections (0 - unlimited)", minimum=0
    )
    namespace: str = setting("cometbft", "Instrumentation namespace", check=checks.non_empty)


@dataclass
class CometsyncConfig:
    """cometsync's own knobs, which CometBFT does not have (CometBFT ignores this table)."""

    window_bytes: int = setting(
        128 * MIB,
        "Bytes of blocks held or awaited by the block pool (bounds memory whatever the block size)",
        minimum=1,
    )
    max_pending_per_peer: int = setting(20, "Block requests in flight to one peer", minimum=1)
    verify_workers: int = setting(
        2,
        "Worker processes verifying commit signatures (0: verify in the main process; at most 4 per\n"
        "CPU core and 64)",
        minimum=0,
        check=checks.verify_workers,
    )
    consensus_engine: str = setting(
        "auto",
        'What runs once caught up: "auto" decides at start from the current validators: "solo" when this\n'
        'node\'s validator key holds more than 2/3 of the voting power, else "follow"; "follow" keeps\n'
        'syncing blocks from peers (cometsync runs no BFT consensus with other validators); "solo"\n'
        "produces the blocks (it refuses to start without that power); or a plug-in engine's name",
        check=checks.consensus_engine,
    )
    full_store_check: bool = setting(
        False,
        "Check every stored block's meta, parts and commits at start (default: both ends, the last 1000\n"
        "heights and 64 spread over the range, a few thousand reads however long the chain)",
    )
    kvstore_laddr: str = setting(
        "tcp://127.0.0.1:26658",
        'Address of the built-in kvstore app\'s child process when proxy_app = "kvstore", served over the\n'
        "transport chosen by abci",
        check=checks.listen_address(unix=True),
    )
    abci_consensus_timeout: Duration = setting(
        Duration(0),
        "Deadline of each ABCI call on the consensus connection (FinalizeBlock, Commit, ...); 0s: wait for\n"
        "the app as long as it takes, as CometBFT does. A call past its deadline stops the node",
        minimum=0,
    )
    abci_call_timeout: Duration = setting(
        _ms(10_000),
        "Deadline of each ABCI call on the query, mempool and snapshot connections (Info, Query, CheckTx);\n"
        "0s: no deadline",
        minimum=0,
    )


SECTIONS = ("base", "rpc", "p2p", "blocksync", "consensus", "instrumentation", "cometsync")
"""Section attributes of `Config` in file order; "base" is the TOML top level, the others are tables."""
SECTION_TYPES: dict[str, type] = {
    "base": BaseConfig,
    "rpc": RPCConfig,
    "p2p": P2PConfig,
    "blocksync": BlocksyncConfig,
    "consensus": ConsensusConfig,
    "instrumentation": InstrumentationConfig,
    "cometsync": CometsyncConfig,
}


def setting_for(key: str) -> tuple[str, Field[Any], type]:
    """(section attribute, field, type) of a flag-style key ("moniker", "p2p.laddr"); ConfigError if
    cometsync has no such setting."""
    section_name, _, name = key.rpartition(".")
    section_attr = section_name or "base"
    if section_attr in SECTION_TYPES and not (section_attr == "base" and section_name):
        for item, kind in settings_of(SECTION_TYPES[section_attr]):
            if item.name == name:
                return section_attr, item, kind
    raise ConfigError(f"unknown config key {key!r}")


@dataclass
class Config:
    """A node's whole configuration, rooted at its home directory (relative paths resolve against it)."""

    home: Path
    base: BaseConfig = field(default_factory=BaseConfig)
    rpc: RPCConfig = field(default_factory=RPCConfig)
    p2p: P2PConfig = field(default_factory=P2PConfig)
    blocksync: BlocksyncConfig = field(default_factory=BlocksyncConfig)
    consensus: ConsensusConfig = field(default_factory=ConsensusConfig)
    instrumentation: InstrumentationConfig = field(default_factory=InstrumentationConfig)
    cometsync: CometsyncConfig = field(default_factory=CometsyncConfig)
    ignored_keys: tuple[str, ...] = ()
    """Keys of the loaded file that cometsync does not use (CometBFT-only settings)."""
    unknown: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Those keys' values by section attribute ("base" holds top-level keys and unknown tables), written
    back by `render_config` so a rewrite keeps CometBFT's settings."""

    def override(self, key: str, value: Any) -> None:
        """Set one key like a `cometbft start` flag: `override("p2p.laddr", "tcp://0.0.0.0:26656")`.

        `key` is the TOML name ("moniker", "p2p.persistent_peers"); a string value is parsed as a flag
        would be ("true", "100ms", "5120000"). Raises ConfigError naming the key.
        """
        section_attr, item, kind = setting_for(key)
        section = getattr(self, section_attr)
        try:
            parsed = from_text(value, kind) if isinstance(value, str) else value
            setattr(self, section_attr, replace(section, **{item.name: coerce(parsed, kind, item)}))
        except ValueError as exc:
            raise ConfigError(f"{key}: {exc}") from None

    def resolve(self, path: str) -> Path:
        """CometBFT's rootify: absolute paths stay, relative ones are under the home directory."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.home / candidate

    @property
    def config_path(self) -> Path:
        return self.home / CONFIG_DIR / CONFIG_FILE

    @property
    def genesis_path(self) -> Path:
        return self.resolve(self.base.genesis_file)

    @property
    def node_key_path(self) -> Path:
        return self.resolve(self.base.node_key_file)

    @property
    def priv_validator_key_path(self) -> Path:
        return self.resolve(self.base.priv_validator_key_file)

    @property
    def priv_validator_state_path(self) -> Path:
        return self.resolve(self.base.priv_validator_state_file)

    @property
    def db_path(self) -> Path:
        """The database directory (`db_dir`): block store, state store and the kvstore app's data."""
        return self.resolve(self.base.db_dir)
