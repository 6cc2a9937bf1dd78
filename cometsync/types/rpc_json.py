"""Helpers for CometBFT's RPC JSON conventions: upper-case hex hashes, base64 bytes, int64 as strings."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

JSONObject = Mapping[str, Any]


def hex_bytes(value: str | None) -> bytes:
    return bytes.fromhex(value) if value else b""


def to_hex(value: bytes) -> str:
    return value.hex().upper()


def b64_bytes(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def to_b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def int_of(value: str | int | None) -> int:
    """int64 fields come as decimal strings, small ints as numbers; null means zero."""
    return int(value) if value is not None else 0


def unwrap_result(obj: JSONObject) -> JSONObject:
    """Accept either a full JSON-RPC response or its `result`."""
    if "result" in obj and "jsonrpc" in obj:
        result: JSONObject = obj["result"]
        return result
    return obj
