"""JSON-RPC 2.0 request bodies decoded as CometBFT's server decodes them (sans-IO).

Go unmarshals the whole body into `[]RPCRequest` (or one `RPCRequest`): one malformed entry makes the
whole body a parse error (-32700); a well-formed batch longer than `max_request_batch_size` is refused as
an invalid request (-32600). Nesting too deep, numbers too long and non-JSON constants are parse errors,
never exceptions.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from cometsync.rpc.errors import INVALID_REQUEST, PARSE_ERROR, RPCError
from cometsync.rpc.params import shown

RequestID = str | int


class BatchTooLarge(RPCError):
    """CometBFT answers it with HTTP 200 and a one-entry array holding this error."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            INVALID_REQUEST, f"batch request exceeds maximum ({limit}) allowed number of requests"
        )


@dataclass(frozen=True)
class Call:
    """One request; `request_id` None is a notification, which gets no answer."""

    request_id: RequestID | None
    method: str
    params: object


@dataclass(frozen=True)
class Body:
    calls: tuple[Call, ...]
    batch: bool


def _parse_error(detail: str) -> RPCError:
    return RPCError(PARSE_ERROR, f"error unmarshaling request: {detail}")


def _refuse_constant(name: str) -> object:
    raise ValueError(f"invalid JSON constant {name}")


def _request_id(value: object) -> RequestID | None:
    """Go accepts a string or a number (truncated to an integer); anything else fails the body."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    raise _parse_error(f"json-rpc ID ({shown(value)}) is of unknown type ({type(value).__name__})")


def _string_field(item: dict[str, object], name: str) -> str:
    value = item.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _parse_error(f"{name} must be a string, got {shown(value)}")
    return value


def _call(item: object) -> Call:
    if item is None:
        return Call(None, "", None)  # Go unmarshals `null` into an empty request: a notification
    if not isinstance(item, dict):
        raise _parse_error(f"a request must be a JSON object, got {type(item).__name__}")
    _string_field(item, "jsonrpc")
    method = _string_field(item, "method")
    return Call(_request_id(item.get("id")), method, item.get("params"))


def decode_body(body: bytes, max_batch_size: int) -> Body:
    """The calls of a non-empty POST body; raises `RPCError` (parse error) or `BatchTooLarge`."""
    try:
        decoded = json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise _parse_error("JSON nested too deeply") from None
    except ValueError as exc:  # also UnicodeDecodeError and numbers over the int digit limit
        raise _parse_error(str(exc)) from None
    if not isinstance(decoded, list):
        return Body((_call(decoded),), batch=False)
    calls = tuple(_call(item) for item in decoded)
    if 0 < max_batch_size < len(calls):
        raise BatchTooLarge(max_batch_size)
    return Body(calls, batch=True)
