"""genesis.json: chain id, initial height, genesis time, consensus params, validators, app state."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
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
        )

    from_rpc_json = from_json

    @classmethod
    def load(cls, path: str | Path) -> Genesis:
        return cls.from_json(json.loads(Path(path).read_text()))
