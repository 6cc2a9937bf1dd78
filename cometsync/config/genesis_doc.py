"""Writing genesis.json exactly as CometBFT v0.38's `GenesisDoc.SaveAs` does (field order, int64 as
strings, upper-case hex addresses, two-space indent, no trailing newline), so CometBFT nodes load it.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cometsync.crypto import PubKey
from cometsync.crypto.keyfiles import PUB_KEY_TYPE
from cometsync.types import ConsensusParams, Timestamp

MAX_CHAIN_ID_LENGTH = 50
GENESIS_FILE_MODE = 0o644
_CHAIN_ID_CHARS = string.digits + string.ascii_uppercase + string.ascii_lowercase


@dataclass(frozen=True)
class GenesisValidator:
    """One entry of genesis `validators`."""

    pub_key: PubKey
    power: int
    name: str = ""


def random_chain_id(prefix: str) -> str:
    """CometBFT's generated ids: `test-chain-` (init) or `chain-` (testnet) and six random letters/digits."""
    return prefix + "".join(secrets.choice(_CHAIN_ID_CHARS) for _ in range(6))


def check_chain_id(chain_id: str) -> None:
    """CometBFT's genesis rules for the chain id. ValueError if it would be rejected."""
    if not chain_id:
        raise ValueError("the chain id must not be empty")
    if len(chain_id) > MAX_CHAIN_ID_LENGTH:
        raise ValueError(f"the chain id is longer than {MAX_CHAIN_ID_LENGTH} characters: {chain_id!r}")


def genesis_document(
    chain_id: str,
    validators: Sequence[GenesisValidator],
    *,
    genesis_time: Timestamp | None = None,
    initial_height: int = 0,
    params: ConsensusParams | None = None,
) -> dict[str, Any]:
    """A genesis document as JSON-ready data; the time defaults to now (nanosecond precision)."""
    check_chain_id(chain_id)
    if initial_height < 0:
        raise ValueError(f"the initial height must not be negative, got {initial_height}")
    when = genesis_time or Timestamp.from_unix_nanos(time.time_ns())
    return {
        "genesis_time": when.rfc3339(),
        "chain_id": chain_id,
        "initial_height": str(initial_height),
        "consensus_params": (params or ConsensusParams.default()).to_rpc_json(),
        "validators": [_validator_json(validator) for validator in validators],
        "app_hash": "",
    }


def _validator_json(validator: GenesisValidator) -> dict[str, Any]:
    if validator.power <= 0:
        raise ValueError(
            f"genesis validator {validator.name!r} needs a positive power, got {validator.power}"
        )
    return {
        "address": validator.pub_key.address().hex().upper(),
        "pub_key": {"type": PUB_KEY_TYPE, "value": base64.b64encode(validator.pub_key.key).decode("ascii")},
        "power": str(validator.power),
        "name": validator.name,
    }


def write_genesis(path: Path, document: dict[str, Any]) -> None:
    """Write genesis.json with mode 0644 (it is public)."""
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    path.chmod(GENESIS_FILE_MODE)
