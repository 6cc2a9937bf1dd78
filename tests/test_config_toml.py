"""config.toml: CometBFT's file loads (unused keys noticed once), ours round-trips and stays readable by
CometBFT (same keys, same TOML types), and every bad value is an error naming file, section and key.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from cometsync.config import (
    Config,
    ConfigError,
    Duration,
    load_config,
    parse_config,
    render_config,
    save_config,
)

COMETBFT_CONFIG = Path(__file__).parent / "data" / "cometbft-v0.38.25-config" / "config.toml"
PEER = "814cd33118b2fc4c8f598745eec0a0f757302490@127.0.0.1:28100"
# Where cometsync's defaults differ from `cometbft init`'s on purpose (see docs/cli.md).
INTENDED_DIFFERENCES = {"proxy_app", "moniker", "abci"}


def write_home(tmp_path: Path, text: str) -> Path:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.toml").write_text(text)
    return tmp_path


def test_cometbft_config_loads_with_one_notice(tmp_path: Path) -> None:
    home = write_home(tmp_path, COMETBFT_CONFIG.read_text())
    notices: list[str] = []
    config = load_config(home, notice=notices.append)
    assert len(notices) == 1
    notice = notices[0]
    assert str(home / "config" / "config.toml") in notice
    for key in ("filter_peers", "rpc.cors_allowed_origins", "p2p.pex", "consensus.timeout_propose"):
        assert key in notice and key in config.ignored_keys
    for section in ("[mempool]", "[statesync]", "[storage]", "[tx_index]"):
        assert section in notice
    assert "p2p.laddr" not in config.ignored_keys and "proxy_app" not in config.ignored_keys
    assert config.base.proxy_app == "tcp://127.0.0.1:26658"
    assert config.base.abci == "socket"
    assert config.base.moniker == "cometbft-node"
    assert config.p2p.laddr == "tcp://0.0.0.0:26656"
    assert config.p2p.send_rate == config.p2p.recv_rate == 5120000
    assert config.p2p.flush_throttle_timeout == Duration.parse("100ms")
    assert config.p2p.handshake_timeout == Duration.parse("20s")
    assert config.rpc.laddr == "tcp://127.0.0.1:26657"
    assert config.blocksync.version == "v0"
    assert config.consensus.timeout_commit == Duration.parse("1s")
    assert config.instrumentation.prometheus_listen_addr == ":26660"
    assert config.instrumentation.namespace == "cometbft"
    assert config.cometsync.window_bytes == 128 * 1024 * 1024
    assert config.cometsync.consensus_engine == "auto"


def test_cometbft_defaults_equal_ours_except_where_intended(tmp_path: Path) -> None:
    """Every key cometsync writes exists in CometBFT's file with the same TOML type and default value."""
    cometbft = tomllib.loads(COMETBFT_CONFIG.read_text())
    ours = tomllib.loads(render_config(Config(tmp_path)))
    for key, value in ours.items():
        if key == "cometsync":
            continue
        if isinstance(value, dict):
            for name, item in value.items():
                assert cometbft[key][name] == item, f"[{key}] {name}"
        elif key not in INTENDED_DIFFERENCES:
            assert cometbft[key] == value, key
    assert {key for key in ours if not isinstance(ours[key], dict)} <= set(cometbft)
    assert "cometsync" not in cometbft


def test_no_notice_for_our_own_file(tmp_path: Path) -> None:
    config = Config(tmp_path)
    save_config(config)
    notices: list[str] = []
    loaded = load_config(tmp_path, notice=notices.append)
    assert notices == [] and loaded == config
    assert (tmp_path / "config" / "config.toml").stat().st_mode & 0o777 == 0o644


def test_round_trip_of_every_kind_and_awkward_strings(tmp_path: Path) -> None:
    config = Config(tmp_path)
    config.override("moniker", 'tab\there "quoted" back\\slash\nnew line \x7f é ☃')
    config.override("p2p.persistent_peers", PEER)
    config.override("p2p.allow_duplicate_ip", "true")
    config.override("p2p.send_rate", "1_000")
    config.override("consensus.timeout_commit", "1m30s")
    config.override("cometsync.verify_workers", 0)
    config.override("rpc.laddr", "unix:///tmp/rpc.sock")
    assert parse_config(render_config(config), tmp_path) == config
    assert config.p2p.send_rate == 1000 and config.p2p.allow_duplicate_ip is True
    assert 'timeout_commit = "1m30s"' in render_config(config)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[p2p]\nsend_rate = "fast"\n', "[p2p] send_rate: expected an integer, got 'fast'"),
        ("[p2p]\nsend_rate = -1\n", "[p2p] send_rate: must be at least 0"),
        ('[p2p]\nflush_throttle_timeout = "100"\n', "[p2p] flush_throttle_timeout: invalid duration '100'"),
        ("[p2p]\nhandshake_timeout = 20\n", "[p2p] handshake_timeout: expected a duration string"),
        (
            '[p2p]\npersistent_peers = "abc@1.2.3.4:26656"\n',
            "[p2p] persistent_peers: invalid node id 'abc'",
        ),
        (f'[p2p]\npersistent_peers = "{PEER[:-6]}"\n', "[p2p] persistent_peers: address"),
        ('[p2p]\nladdr = "localhost"\n', "[p2p] laddr: 'localhost' is not host:port"),
        ('[p2p]\nallow_duplicate_ip = "yes"\n', "[p2p] allow_duplicate_ip: expected true or false"),
        ('[blocksync]\nversion = "v1"\n', "[blocksync] version: must be one of 'v0', got 'v1'"),
        (
            '[cometsync]\nconsensus_engine = "bft"\n',
            "[cometsync] consensus_engine: must be one of 'auto', 'follow', 'solo'",
        ),
        ("[cometsync]\nwindow_bytes = 0\n", "[cometsync] window_bytes: must be at least 1"),
        ('proxy_app = "http://x:1"\n', "proxy_app: ABCI address 'http://x:1': unsupported scheme"),
        ('db_backend = "rocksdb"\n', "db_backend: must be one of 'goleveldb', 'cleveldb'"),
        ("moniker = 5\n", "moniker: expected a string, got 5"),
        ('log_format = "xml"\n', "log_format: must be one of 'plain', 'json'"),
        ("[p2p\nladdr = 1\n", "not valid TOML"),
        ("p2p = 5\n", "p2p: expected a [p2p] table, got 5"),
        ('[moniker]\nname = "x"\n', "moniker: expected a string, got {'name': 'x'}"),
        ('log_level = "nonsense"\n', "log_level: must be one of 'debug', 'info', 'error', 'none'"),
        ('log_level = "main:loud"\n', "log_level: level of 'main' must be one of"),
        ('log_level = "main:info,"\n', 'log_level: expected "module:level" pairs'),
        ("[cometsync]\nverify_workers = 100000\n", "[cometsync] verify_workers: must be at most"),
    ],
)
def test_errors_name_file_section_and_key(tmp_path: Path, toml: str, expected: str) -> None:
    home = write_home(tmp_path, toml)
    with pytest.raises(ConfigError) as raised:
        load_config(home)
    message = str(raised.value)
    assert message.startswith(f"{home / 'config' / 'config.toml'}: ")
    assert expected in message
    assert "\n" not in message


def test_missing_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no such file.*cometsync init --home"):
        load_config(tmp_path)


def test_override_is_a_one_liner_per_flag(tmp_path: Path) -> None:
    config = Config(tmp_path)
    config.override("proxy_app", "tcp://127.0.0.1:36658")
    config.override("moniker", "alice")
    config.override("p2p.laddr", "tcp://127.0.0.1:36656")
    config.override("p2p.persistent_peers", PEER)
    config.override("rpc.laddr", "tcp://127.0.0.1:36657")
    config.override("p2p.dial_timeout", Duration.parse("5s"))
    assert config.base.proxy_app == "tcp://127.0.0.1:36658" and config.base.moniker == "alice"
    assert config.p2p.laddr == "tcp://127.0.0.1:36656" and config.p2p.persistent_peers == PEER
    assert config.rpc.laddr == "tcp://127.0.0.1:36657" and config.p2p.dial_timeout.seconds == 5.0


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("p2p.nope", "1", "unknown config key 'p2p.nope'"),
        ("mempool.size", "1", "unknown config key 'mempool.size'"),
        ("base.moniker", "x", "unknown config key 'base.moniker'"),
        ("p2p.send_rate", "lots", "p2p.send_rate: expected an integer, got 'lots'"),
        ("p2p.pex", "true", "unknown config key 'p2p.pex'"),
        ("p2p.allow_duplicate_ip", "maybe", "p2p.allow_duplicate_ip: expected true or false"),
        ("consensus.timeout_commit", "-1s", "consensus.timeout_commit: must be at least 0"),
        ("cometsync.consensus_engine", "raft", "cometsync.consensus_engine: must be one of"),
    ],
)
def test_override_errors(tmp_path: Path, key: str, value: str, expected: str) -> None:
    config = Config(tmp_path)
    before = render_config(config)
    with pytest.raises(ConfigError, match="^" + expected.replace("(", r"\(")):
        config.override(key, value)
    assert render_config(config) == before


def test_paths_resolve_against_home(tmp_path: Path) -> None:
    config = Config(tmp_path)
    assert config.config_path == tmp_path / "config" / "config.toml"
    assert config.genesis_path == tmp_path / "config" / "genesis.json"
    assert config.node_key_path == tmp_path / "config" / "node_key.json"
    assert config.priv_validator_key_path == tmp_path / "config" / "priv_validator_key.json"
    assert config.priv_validator_state_path == tmp_path / "data" / "priv_validator_state.json"
    assert config.db_path == tmp_path / "data"
    config.override("db_dir", "/var/lib/chain")
    config.override("genesis_file", "elsewhere/genesis.json")
    assert config.db_path == Path("/var/lib/chain")
    assert config.genesis_path == tmp_path / "elsewhere" / "genesis.json"


def _same_value(original: object, rewritten: object) -> bool:
    if isinstance(original, str) and isinstance(rewritten, str) and original != rewritten:
        try:  # a Go duration may be written in another spelling ("1000ms" as "1s")
            return Duration.parse(original) == Duration.parse(rewritten)
        except ValueError:
            return False
    return original == rewritten


def test_a_rewritten_cometbft_file_keeps_every_key_and_value(tmp_path: Path) -> None:
    """CometBFT-only keys and tables ([mempool], [statesync], rpc.cors_allowed_origins...) survive a
    load and save by cometsync, so CometBFT still finds its settings in the file."""
    original = tomllib.loads(COMETBFT_CONFIG.read_text())
    home = write_home(tmp_path, COMETBFT_CONFIG.read_text())
    config = load_config(home, notice=lambda _: None)
    save_config(config)
    rewritten = tomllib.loads((home / "config" / "config.toml").read_text())
    for key, value in original.items():
        if isinstance(value, dict):
            for name, item in value.items():
                assert _same_value(item, rewritten[key][name]), f"[{key}] {name}"
        else:
            assert _same_value(value, rewritten[key]), key
    assert set(rewritten) == set(original) | {"cometsync"}
    reloaded = load_config(home, notice=lambda _: None)
    assert reloaded == config and reloaded.ignored_keys == config.ignored_keys


def test_unknown_nested_tables_and_arrays_round_trip(tmp_path: Path) -> None:
    text = (
        'extra = [1, 2.5, "x"]\n[p2p]\nlater = {a = 1, "b c" = [true]}\n'
        '[p2p.deep]\nk = 1979-05-27T07:32:00Z\n[newtable]\ns = "v"\n[newtable.inner]\nn = -3\n'
    )
    config = parse_config(text, tmp_path)
    assert tomllib.loads(render_config(config))["newtable"] == {"s": "v", "inner": {"n": -3}}
    assert parse_config(render_config(config), tmp_path) == config
    assert tomllib.loads(render_config(config))["p2p"]["deep"] == tomllib.loads(text)["p2p"]["deep"]


def test_flags_apply_before_the_file_is_checked(tmp_path: Path) -> None:
    """`cometbft start --p2p.laddr ...` works whatever the file says; the file's value is never checked."""
    home = write_home(tmp_path, '[p2p]\nladdr = "localhost"\n[cometsync]\nverify_workers = 100000\n')
    flags = {"p2p.laddr": "tcp://127.0.0.1:36656", "cometsync.verify_workers": "1"}
    config = load_config(home, overrides=flags)
    assert config.p2p.laddr == "tcp://127.0.0.1:36656" and config.cometsync.verify_workers == 1
    with pytest.raises(ConfigError, match=r"\[p2p\] laddr: 'localhost' is not host:port"):
        load_config(home, overrides={"cometsync.verify_workers": "1"})


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"p2p.laddr": "nowhere"}, "p2p.laddr: 'nowhere' is not host:port"),
        ({"p2p.pex": "true"}, "unknown config key 'p2p.pex'"),
        ({"cometsync.verify_workers": "many"}, "cometsync.verify_workers: expected an integer"),
    ],
)
def test_bad_flags_name_the_flag(tmp_path: Path, flags: dict[str, str], expected: str) -> None:
    home = write_home(tmp_path, "")
    with pytest.raises(ConfigError, match="^" + expected):
        load_config(home, overrides=flags)


@pytest.mark.parametrize(
    "level", ["info", "debug", "error", "none", "main:info,state:error,*:error", "*:debug"]
)
def test_cometbft_log_levels_load(tmp_path: Path, level: str) -> None:
    assert parse_config(f'log_level = "{level}"\n', tmp_path).base.log_level == level


def test_verify_workers_cap_follows_the_cores(tmp_path: Path) -> None:
    limit = min(64, 4 * (os.cpu_count() or 1))
    assert (
        parse_config(f"[cometsync]\nverify_workers = {limit}\n", tmp_path).cometsync.verify_workers == limit
    )
    with pytest.raises(ConfigError, match=f"must be at most {limit} .*got {limit + 1}"):
        parse_config(f"[cometsync]\nverify_workers = {limit + 1}\n", tmp_path)
