"""genesis.json: chain id, initial height, genesis time, consensus params, validators, app state."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cometsync.types.params import ConsensusParams
from cometsync.types.rpc_json import JSONObject, hex_bytes, int_of, unwrap_result
from cometsync.types.timestamp import Timestamp
from cometsync.types.validator import Validator
from cometsync.types.validator_set import ValidatorSet


@dataclass(frozen=True, slots=True)
class Genesis:
    chain_id: str
    genesis_time: Timestamp
    initial_height: int
    consensus_params: ConsensusParams
    validators: tuple[Validator, ...]
    app_hash: bytes = b""
    app_state: Any = field(default=None, compare=False)
    app_state_bytes: bytes = field(default=b"", compare=False)
    """`app_state` as Go's `json.RawMessage` holds it (InitChain's app_state_bytes); b"" when absent."""

    def validator_set(self) -> ValidatorSet:
        """The height-1 validator set as `NewValidatorSet` builds it (priorities incremented once)."""
        return ValidatorSet.new(self.validators)

    @classmethod
    def from_json(cls, obj: JSONObject) -> Genesis:
        """A genesis document, or `/genesis`' result `{genesis: {...}}`. Initial height "0" means 1."""
        obj = unwrap_result(obj)
        obj = obj.get("genesis", obj)
        return cls(
            chain_id=obj["chain_id"],
            genesis_time=Timestamp.parse(obj["genesis_time"]),
            initial_height=max(int_of(obj.get("initial_height")), 1),
            consensus_params=ConsensusParams.from_rpc_json(obj.get("consensus_params") or {}),
            validators=tuple(Validator.from_rpc_json(val) for val in obj.get("validators") or ()),
            app_hash=hex_bytes(obj.get("app_hash")),
            app_state=obj.get("app_state"),
            app_state_bytes=_compact_json(obj["app_state"]) if "app_state" in obj else b"",
        )

    from_rpc_json = from_json

    @classmethod
    def load(cls, path: str | Path) -> Genesis:
        """genesis.json; `app_state_bytes` keeps the file's own bytes of `app_state`, as Go does."""
        text = Path(path).read_bytes().decode("utf-8")
        genesis = cls.from_json(json.loads(text))
        raw = _raw_member(text, "app_state")
        return genesis if raw is None else replace(genesis, app_state_bytes=raw.encode("utf-8"))


def _compact_json(value: Any) -> bytes:
    """The best stand-in for raw bytes when only parsed JSON is at hand (e.g. an RPC `/genesis`)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _skip_whitespace(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\n\r":
        pos += 1
    return pos


def _raw_member(text: str, key: str) -> str | None:
    """The exact source text of the top-level member `key` of the JSON object in `text` (which must be
    valid JSON); the last one wins, as in Go. None when the document has no such member."""
    decoder = json.JSONDecoder()
    pos = _skip_whitespace(text, 0)
    if not text.startswith("{", pos):
        return None
    found: str | None = None
    pos = _skip_whitespace(text, pos + 1)
    while text.startswith('"', pos):
        name, pos = decoder.raw_decode(text, pos)
        start = _skip_whitespace(text, _skip_whitespace(text, pos) + 1)  # past the ':'
        _, end = decoder.raw_decode(text, start)
        if name == key:
            found = text[start:end]
        pos = _skip_whitespace(text, end)
        if text.startswith(",", pos):
            pos = _skip_whitespace(text, pos + 1)
    return found
