"""CometBFT's JSON-RPC response envelope, encoded compactly like Go's `json.Marshal`."""

from __future__ import annotations

import json
from dataclasses import dataclass

from cometsync.rpc.errors import RPCError
from cometsync.rpc.requests import RequestID

URI_REQUEST_ID = -1


@dataclass(frozen=True)
class Answer:
    """An encoded envelope; `failed`: an error answer (HTTP 500 for a URI call)."""

    failed: bool
    body: bytes


def envelope(request_id: RequestID | None, result: object = None, error: RPCError | None = None) -> bytes:
    """A success or error answer; a missing id is omitted (Go's `omitempty`), as is empty error data."""
    payload: dict[str, object] = {"jsonrpc": "2.0"}
    if request_id is not None:
        payload["id"] = request_id
    if error is None:
        payload["result"] = result
    else:
        body = error.to_json()
        if not error.data:
            del body["data"]
        payload["error"] = body
    return json.dumps(payload, separators=(",", ":")).encode()


def batch(answers: list[bytes]) -> bytes:
    """Go writes a single answer as an object even for a batch request, several as an array."""
    if len(answers) == 1:
        return answers[0]
    return b"[" + b",".join(answers) + b"]"
