"""Parameter decoding (CometBFT's URI and JSON-RPC rules), listen addresses, and the rate/ETA meter."""

from __future__ import annotations

import pytest

from cometsync.cli.status_cmd import rpc_url_from_laddr
from cometsync.rpc import InvalidParams, ListenAddress, SyncProgress
from cometsync.rpc.params import Params


def test_uri_integers_bare_or_quoted() -> None:
    assert Params({"height": "5"}, uri=True).optional_int("height") == 5
    assert Params({"height": '"5"'}, uri=True).optional_int("height") == 5
    assert Params({"height": ""}, uri=True).optional_int("height") is None
    for bad in ("5.5", "abc", '"x"', str(1 << 63)):
        with pytest.raises(InvalidParams):
            Params({"height": bad}, uri=True).optional_int("height")


def test_json_integers_as_numbers_or_strings() -> None:
    assert Params.from_json({"height": 7}, ["height"]).optional_int("height") == 7
    assert Params.from_json(["7"], ["height"]).optional_int("height") == 7
    with pytest.raises(InvalidParams):
        Params.from_json({"height": True}, ["height"]).optional_int("height")
    with pytest.raises(InvalidParams, match="expected 2 parameters"):
        Params.from_json(["1"], ["minHeight", "maxHeight"])
    with pytest.raises(InvalidParams, match="Expected map or array"):
        Params.from_json("1", ["height"])


def test_bytes_hex_quoted_or_base64() -> None:
    assert Params({"tx": "0x6b3d76"}, uri=True).required_bytes("tx") == b"k=v"
    assert Params({"tx": '"k=v"'}, uri=True).required_bytes("tx") == b"k=v"
    assert Params({"tx": "az12"}, uri=False).required_bytes("tx") == b"k=v"
    for values, uri in (({"tx": "k=v"}, True), ({"tx": "0xzz"}, True), ({"tx": "!!"}, False), ({}, False)):
        with pytest.raises(InvalidParams):
            Params(values, uri=uri).required_bytes("tx")


def test_listen_addresses() -> None:
    assert ListenAddress.parse("tcp://127.0.0.1:26657") == ListenAddress("127.0.0.1", 26657)
    assert ListenAddress.parse(":26660") == ListenAddress("", 26660)
    assert ListenAddress.parse("unix:///tmp/rpc.sock") == ListenAddress(path="/tmp/rpc.sock")
    for bad in ("udp://1.2.3.4:5", "localhost", "tcp://h:99999"):
        with pytest.raises(ValueError):
            ListenAddress.parse(bad)
    assert rpc_url_from_laddr("tcp://0.0.0.0:26657") == "http://127.0.0.1:26657"
    assert rpc_url_from_laddr("http://10.0.0.2:1") == "http://10.0.0.2:1"


def test_progress_rate_window_and_eta() -> None:
    progress = SyncProgress(window_seconds=10)
    progress.observe(0.0, 100)
    progress.observe(0.5, 200)
    assert progress.blocks_per_second() == 0.0  # less than a second of samples
    assert progress.eta_seconds(200, 300) is None
    for second in range(1, 31):
        progress.observe(float(second), 100 + 20 * second)
    assert progress.blocks_per_second() == pytest.approx(20.0)
    assert progress.eta_seconds(700, 1100) == pytest.approx(20.0)
    assert progress.eta_seconds(1100, 1100) == 0.0
    for second in range(31, 45):
        progress.observe(float(second), 700)  # stalled for longer than the window
    assert progress.blocks_per_second() == 0.0
    with pytest.raises(ValueError):
        SyncProgress(window_seconds=0)
