"""The `abci` / `proxy_app` settings as CometBFT v0.38 writes them, the deadlines, and the node's
`connect_app` transport choice and errors against real processes (nothing listening, the built-in
kvstore child)."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from abci_process import start_kvstore, temp_home
from node_cli import free_port
from twisted.internet import defer, reactor
from twisted.trial import unittest

from cometsync.abci import ABCIError
from cometsync.abci.address import SocketAddress
from cometsync.abci.connect import transport_for
from cometsync.config import Config, ConfigError, parse_config
from cometsync.node.app_process import KVStoreProcess
from cometsync.node.errors import NodeStartError
from cometsync.node.stages import builtin_app, connect_app
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2


def config_of(tmp_path: Path, text: str) -> Config:
    return parse_config(text, tmp_path)


def test_defaults_are_cometbfts() -> None:
    config = Config(Path("/h"))
    assert (config.base.abci, config.base.proxy_app) == ("socket", "kvstore")
    assert config.cometsync.abci_consensus_timeout.seconds == 0  # wait as long as it takes
    assert config.cometsync.abci_call_timeout.seconds == 10.0


@pytest.mark.parametrize("name", ["kvstore", "persistent_kvstore"])
def test_builtin_app_names_run_the_kvstore_child(tmp_path: Path, name: str) -> None:
    config = config_of(tmp_path, f'proxy_app = "{name}"\nabci = "grpc"\n')
    assert isinstance(builtin_app(config, reactor), KVStoreProcess)


@pytest.mark.parametrize("name", ["noop", "kvstore_connsync", "e2e"])
def test_unsupported_builtin_app_is_a_clear_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=f"built-in app '{name}' is not available in cometsync"):
        config_of(tmp_path, f'proxy_app = "{name}"\n')


@pytest.mark.parametrize(
    "address", ["tcp://127.0.0.1:26658", "127.0.0.1:26658", "unix:///run/app.sock", "grpc://10.0.0.1:9090"]
)
def test_address_forms_are_accepted(tmp_path: Path, address: str) -> None:
    config = config_of(tmp_path, f'proxy_app = "{address}"\n')
    assert config.base.proxy_app == address and builtin_app(config, reactor) is None


def test_abci_must_name_a_transport(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="abci: must be one of 'socket', 'grpc'"):
        config_of(tmp_path, 'abci = "local"\n')


def test_deadlines_are_durations(tmp_path: Path) -> None:
    config = config_of(tmp_path, '[cometsync]\nabci_consensus_timeout = "1m30s"\nabci_call_timeout = "0s"\n')
    assert (config.cometsync.abci_consensus_timeout.seconds, config.cometsync.abci_call_timeout.seconds) == (
        90,
        0,
    )


@pytest.mark.parametrize(
    ("abci", "address", "transport"),
    [("socket", "tcp://h:1", "socket"), ("grpc", "h:1", "grpc"), ("socket", "grpc://h:1", "grpc")],
)
def test_transport_choice(abci: str, address: str, transport: str) -> None:
    assert transport_for(abci, address) == transport


def test_socket_address_forms() -> None:
    assert SocketAddress.parse("tcp://127.0.0.1:5") == SocketAddress("127.0.0.1", 5)
    assert SocketAddress.parse("[::1]:5") == SocketAddress("::1", 5)
    assert str(SocketAddress.parse("unix:///a/b.sock")) == "unix:///a/b.sock"
    with pytest.raises(ValueError, match="unsupported scheme for the socket transport"):
        SocketAddress.parse("grpc://127.0.0.1:5")


class ConnectAppTest(unittest.TestCase):
    timeout = 90

    @defer.inlineCallbacks
    def test_nothing_listening_is_one_line_naming_the_transport(self) -> Generator[Any, Any, None]:
        home = temp_home(self.addCleanup)
        config = parse_config(f'proxy_app = "tcp://127.0.0.1:{free_port()}"\n', home)
        failure = yield self.assertFailure(
            defer.ensureDeferred(connect_app(config, None, reactor)), NodeStartError
        )
        self.assertIn("cannot reach the ABCI app at tcp://127.0.0.1:", str(failure))
        self.assertIn("(abci = 'socket')", str(failure))

    @defer.inlineCallbacks
    def test_grpc_app_behind_a_socket_setting_is_refused(self) -> Generator[Any, Any, None]:
        """A gRPC server is not a socket-protocol app: the mismatch is an error, never a hang."""
        app = start_kvstore(temp_home(self.addCleanup), transport="grpc")
        self.addCleanup(app.kill)
        settings = f'proxy_app = "tcp://{app.address}"\n[cometsync]\nabci_call_timeout = "5s"\n'
        conns = yield defer.ensureDeferred(
            connect_app(parse_config(settings, temp_home(self.addCleanup)), None, reactor)
        )
        self.addCleanup(conns.close)
        yield self.assertFailure(conns.info(abci_pb2.RequestInfo()), ABCIError)

    @defer.inlineCallbacks
    def test_builtin_child_serves_the_configured_transport(self) -> Generator[Any, Any, None]:
        for transport in ("socket", "grpc"):
            home = temp_home(self.addCleanup)
            laddr = f"tcp://127.0.0.1:{free_port()}"
            config = parse_config(f'abci = "{transport}"\n[cometsync]\nkvstore_laddr = "{laddr}"\n', home)
            process = builtin_app(config, reactor)
            assert process is not None
            conns = yield defer.ensureDeferred(connect_app(config, process, reactor))
            try:
                info = yield conns.info(abci_pb2.RequestInfo())
                self.assertEqual(info.version, "2.0.0")
                self.assertEqual(process.address.split("://")[0], "grpc" if transport == "grpc" else "tcp")
            finally:
                conns.close()
                yield process.stop()
