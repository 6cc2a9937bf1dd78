"""Request parameters decoded the way CometBFT's RPC server does, for URI queries and JSON-RPC bodies.

URI values are text: integers may be bare (`height=5`) or quoted (`height="5"`), bytes are `0x`-hex or a
quoted string. JSON-RPC values are JSON: integers as numbers or decimal strings, bytes as base64.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence

from cometsync.rpc.errors import InvalidParams

_INT_TEXT = re.compile(r"^-?[0-9]+$")
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
MAX_INT_TEXT = 64
"""Longer text is no int64 (and Python refuses to parse over 4300 digits)."""
MAX_SHOWN = 64


def shown(value: object) -> str:
    """A value as error messages quote it, cut short: a client's megabyte is not echoed back."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."


def _int_of(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise InvalidParams(f"{name}: expected an integer, got {shown(value)}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _INT_TEXT.match(value):
        if len(value) > MAX_INT_TEXT:
            raise InvalidParams(f"{name}: {shown(value)} does not fit in int64")
        number = int(value)
    else:
        raise InvalidParams(f"{name}: expected an integer, got {shown(value)}")
    if not INT64_MIN <= number <= INT64_MAX:
        raise InvalidParams(f"{name}: {shown(number)} does not fit in int64")
    return number


class Params:
    """Named parameters of one call; missing and empty values read as "not given"."""

    def __init__(self, values: Mapping[str, object], *, uri: bool) -> None:
        self._values = {key: value for key, value in values.items() if value not in ("", None)}
        self._uri = uri

    @classmethod
    def from_query(cls, query: Mapping[bytes, Sequence[bytes]]) -> Params:
        """Twisted's `request.args`; the first value of each name counts (Go's `Query().Get`)."""
        values = {
            key.decode(errors="replace"): items[0].decode(errors="replace")
            for key, items in query.items()
            if items
        }
        return cls(values, uri=True)

    @classmethod
    def from_json(cls, raw: object, names: Sequence[str]) -> Params:
        """JSON-RPC `params`: an object by name, or an array in the method's parameter order."""
        if raw is None:
            return cls({}, uri=False)
        if isinstance(raw, dict):
            return cls(raw, uri=False)
        if isinstance(raw, list):
            if len(raw) != len(names):
                raise InvalidParams(f"expected {len(names)} parameters ({list(names)}), got {len(raw)}")
            return cls(dict(zip(names, raw, strict=True)), uri=False)
        raise InvalidParams(f"unknown type for JSON params: {type(raw).__name__}. Expected map or array")

    def optional_int(self, name: str) -> int | None:
        value = self._values.get(name)
        if value is None:
            return None
        if self._uri and isinstance(value, str) and not _INT_TEXT.match(value):
            value = self._json_text(name, value)
        return _int_of(name, value)

    def int_or(self, name: str, default: int) -> int:
        value = self.optional_int(name)
        return default if value is None else value

    def required_bytes(self, name: str) -> bytes:
        value = self._values.get(name)
        if value is None:
            raise InvalidParams(f"missing parameter {name!r}")
        if not isinstance(value, str):
            raise InvalidParams(f"{name}: expected a string, got {shown(value)}")
        if self._uri:
            return self._uri_bytes(name, value)
        return self._base64(name, value)

    def _uri_bytes(self, name: str, text: str) -> bytes:
        if text[:2].lower() == "0x":
            try:
                return bytes.fromhex(text[2:])
            except ValueError:
                raise InvalidParams(f"{name}: invalid hex {shown(text)}") from None
        decoded = self._json_text(name, text) if text.startswith('"') else None
        if not isinstance(decoded, str):
            raise InvalidParams(f"{name}: expected 0x-hex or a quoted string, got {shown(text)}")
        return decoded.encode()

    @staticmethod
    def _base64(name: str, text: str) -> bytes:
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidParams(f"{name}: invalid base64 {shown(text)}") from None

    @staticmethod
    def _json_text(name: str, text: str) -> object:
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            raise InvalidParams(f"{name}: cannot decode {shown(text)}") from None
