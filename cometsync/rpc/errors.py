"""JSON-RPC 2.0 errors with CometBFT's codes and messages, so clients see the same error objects."""

from __future__ import annotations

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

MESSAGES = {
    PARSE_ERROR: "Parse error. Invalid JSON",
    INVALID_REQUEST: "Invalid Request",
    METHOD_NOT_FOUND: "Method not found",
    INVALID_PARAMS: "Invalid params",
    INTERNAL_ERROR: "Internal error",
}


class RPCError(Exception):
    """An error answer; `data` is CometBFT's detail string (the Go error text)."""

    def __init__(self, code: int, data: str = "") -> None:
        super().__init__(data or MESSAGES[code])
        self.code = code
        self.data = data

    @property
    def message(self) -> str:
        return MESSAGES[self.code]

    def to_json(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "data": self.data}


class InvalidParams(RPCError):
    """A parameter that cannot be decoded (CometBFT answers -32602)."""

    def __init__(self, data: str) -> None:
        super().__init__(INVALID_PARAMS, data)


class InternalError(RPCError):
    """What CometBFT's handlers return as a Go error: bad heights, missing data, app failures (-32603)."""

    def __init__(self, data: str) -> None:
        super().__init__(INTERNAL_ERROR, data)
