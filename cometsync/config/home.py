"""A node's home directory, laid out as `cometbft init` lays it out: config/ (config.toml, genesis.json,
node_key.json, priv_validator_key.json) and data/ (priv_validator_state.json, databases).
Existing files are kept, never overwritten, so `init` can be re-run safely.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from cometsync.config.genesis_doc import (
    GenesisValidator,
    check_chain_id,
    genesis_document,
    random_chain_id,
    write_genesis,
)
from cometsync.config.model import Config
from cometsync.config.toml_io import Notice, load_config, save_config
from cometsync.crypto import (
    KeyFileError,
    NodeKey,
    PrivKey,
    PrivValidatorKey,
    load_node_key,
    load_priv_validator_key,
    save_node_key,
    save_priv_validator_key,
)
from cometsync.crypto.sign_state import LastSignState
from cometsync.types import Genesis

DIR_MODE = 0o700
STATE_FILE_MODE = 0o600
INIT_VALIDATOR_POWER = 10
INIT_CHAIN_ID_PREFIX = "test-chain-"
T = TypeVar("T")


class HomeError(ValueError):
    """The home directory cannot be set up or holds a file cometsync cannot use."""


@dataclass
class InitReport:
    """What `init_home` did: files it created and files it found and kept."""

    config: Config
    node_id: str = ""
    chain_id: str = ""
    created: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class NodeKeys:
    """A node's two identities: p2p (node key) and consensus (validator key)."""

    node_key: NodeKey
    validator_key: PrivValidatorKey


def init_home(
    home: Path,
    chain_id: str | None = None,
    moniker: str | None = None,
    notice: Notice | None = None,
) -> InitReport:
    """Create what is missing under `home` like `cometbft init`: a single-validator genesis (power 10)
    with this node's validator key, keys, sign state and config.toml. `notice` receives load_config's
    note on unused keys of an existing config.toml.
    """
    if chain_id is not None:
        try:
            check_chain_id(chain_id)
        except ValueError as exc:
            raise HomeError(str(exc)) from None
    config = Config(home)
    config_exists = config.config_path.exists()
    if config_exists:
        config = load_config(home, notice)
    elif moniker is not None:
        config.override("moniker", moniker)
    ensure_layout(config)
    report = InitReport(config)
    validator_key = _validator_key(config, report)
    report.node_id = _node_key(config, report).node_id
    genesis = _genesis(config, validator_key, chain_id, report)
    report.chain_id = genesis.chain_id
    if config_exists:
        report.kept.append(config.config_path)
    else:
        report.created.append(save_config(config))
    return report


def ensure_layout(config: Config) -> None:
    """The home, config and data directories (0700, like CometBFT's EnsureRoot) and every file's parent."""
    for directory in (config.home, config.config_path.parent, config.db_path):
        _make_dir(directory)
    for path in (
        config.genesis_path,
        config.node_key_path,
        config.priv_validator_key_path,
        config.priv_validator_state_path,
    ):
        _make_dir(path.parent)


def _make_dir(directory: Path) -> None:
    try:
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise HomeError(f"cannot create directory {directory}: {exc.strerror or exc}") from None


def generate_keys(config: Config) -> NodeKeys:
    """Fresh node and validator keys plus an empty sign state, written where `config` says."""
    keys = NodeKeys(NodeKey(PrivKey.generate()), PrivValidatorKey(PrivKey.generate()))
    save_node_key(keys.node_key, config.node_key_path)
    save_priv_validator_key(keys.validator_key, config.priv_validator_key_path)
    write_sign_state(config.priv_validator_state_path)
    return keys


def write_sign_state(path: Path) -> None:
    """CometBFT's initial `priv_validator_state.json` (nothing signed yet), mode 0600."""
    text = LastSignState().to_json()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, STATE_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def _validator_key(config: Config, report: InitReport) -> PrivValidatorKey:
    key_path, state_path = config.priv_validator_key_path, config.priv_validator_state_path
    if not key_path.exists():
        key = PrivValidatorKey(PrivKey.generate())
        save_priv_validator_key(key, key_path)
        report.created.append(key_path)
        if not state_path.exists():
            write_sign_state(state_path)
            report.created.append(state_path)
        else:
            report.kept.append(state_path)
        return key
    key = _load(load_priv_validator_key, key_path)
    report.kept.append(key_path)
    if not state_path.exists():
        raise HomeError(
            f"{state_path} is missing but {key_path} exists: restore the validator's sign state "
            "(starting over from height 0 could make it sign twice)"
        )
    report.kept.append(state_path)
    return key


def _node_key(config: Config, report: InitReport) -> NodeKey:
    path = config.node_key_path
    if path.exists():
        report.kept.append(path)
        return _load(load_node_key, path)
    key = NodeKey(PrivKey.generate())
    save_node_key(key, path)
    report.created.append(path)
    return key


def _genesis(
    config: Config, validator_key: PrivValidatorKey, chain_id: str | None, report: InitReport
) -> Genesis:
    path = config.genesis_path
    if path.exists():
        report.kept.append(path)
        return load_genesis(path)
    validator = GenesisValidator(validator_key.pub_key, INIT_VALIDATOR_POWER)
    try:
        document = genesis_document(
            random_chain_id(INIT_CHAIN_ID_PREFIX) if chain_id is None else chain_id, [validator]
        )
    except ValueError as exc:
        raise HomeError(str(exc)) from None
    write_genesis(path, document)
    report.created.append(path)
    return Genesis.from_json(document)


def load_genesis(path: Path) -> Genesis:
    """Genesis.load with a one-line error naming the file."""
    try:
        return Genesis.load(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HomeError(f"{path}: not a usable genesis file: {exc!r}") from None


def _load(loader: Callable[[Path], T], path: Path) -> T:
    try:
        return loader(path)
    except KeyFileError as exc:
        raise HomeError(str(exc)) from None
