"""Home directory, config.toml and genesis files, compatible with CometBFT v0.38's."""

from cometsync.config.duration import Duration
from cometsync.config.fields import ConfigError
from cometsync.config.genesis_doc import GenesisValidator, genesis_document, random_chain_id, write_genesis
from cometsync.config.home import HomeError, InitReport, init_home, load_genesis
from cometsync.config.model import (
    BaseConfig,
    BlocksyncConfig,
    CometsyncConfig,
    Config,
    ConsensusConfig,
    InstrumentationConfig,
    P2PConfig,
    RPCConfig,
)
from cometsync.config.testnet import NodePorts, TestnetNode, free_starting_port, make_testnet
from cometsync.config.toml_io import load_config, parse_config, render_config, save_config

__all__ = [
    "BaseConfig",
    "BlocksyncConfig",
    "CometsyncConfig",
    "Config",
    "ConfigError",
    "ConsensusConfig",
    "Duration",
    "GenesisValidator",
    "HomeError",
    "InitReport",
    "InstrumentationConfig",
    "NodePorts",
    "P2PConfig",
    "RPCConfig",
    "TestnetNode",
    "free_starting_port",
    "genesis_document",
    "init_home",
    "load_config",
    "load_genesis",
    "make_testnet",
    "parse_config",
    "random_chain_id",
    "render_config",
    "save_config",
    "write_genesis",
]
