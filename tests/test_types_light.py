"""tendermint-rs model-based light-client set: single-step verification reproduces every verdict."""

from __future__ import annotations

from pathlib import Path

import pytest
from types_fixtures import DATA, load_json

from cometsync.types import (
    LightVerificationError,
    NotEnoughTrust,
    SignedHeader,
    Timestamp,
    ValidatorSet,
    verify_light,
)

FILES = sorted((DATA / "tendermint-rs/light_client_model_based_single_step").glob("*.json"))


def _verdict(trusted: SignedHeader, trusted_next: ValidatorSet, step: dict[str, object], period: int) -> str:
    block = step["block"]
    assert isinstance(block, dict)
    untrusted = SignedHeader.from_rpc_json(block["signed_header"])
    try:
        verify_light(
            trusted,
            trusted_next,
            untrusted,
            ValidatorSet.from_rpc_json(block["validator_set"]),
            period,
            Timestamp.parse(str(step["now"])),
        )
    except NotEnoughTrust:
        return "NOT_ENOUGH_TRUST"
    except LightVerificationError:
        return "INVALID"
    return "SUCCESS"


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_single_step_verdicts(path: Path) -> None:
    case = load_json(str(path.relative_to(DATA)))
    initial = case["initial"]
    trusted = SignedHeader.from_rpc_json(initial["signed_header"])
    trusted_next = ValidatorSet.from_rpc_json(initial["next_validator_set"])
    period = int(initial["trusting_period"])
    for index, step in enumerate(case["input"]):
        verdict = _verdict(trusted, trusted_next, step, period)
        assert verdict == step["verdict"], f"input #{index}"
        if verdict == "SUCCESS":
            trusted = SignedHeader.from_rpc_json(step["block"]["signed_header"])
            trusted_next = ValidatorSet.from_rpc_json(step["block"]["next_validator_set"])


def test_model_based_set_is_complete() -> None:
    assert len(FILES) == 41
