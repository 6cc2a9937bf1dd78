"""`priv_validator_state.json` (CometBFT's FilePVLastSignState): its JSON, CheckHRS and the solo rounds."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from cometsync.crypto.keyfiles import KeyFileError
from cometsync.crypto.sign_state import (
    STEP_PRECOMMIT,
    STEP_PREVOTE,
    STEP_PROPOSE,
    DoubleSignRisk,
    LastSignState,
    SignStateFile,
)

SIGNED = LastSignState(10, 1, STEP_PREVOTE, b"\x01" * 64, b"\xab\xcd")


def test_fresh_state_is_cometbft_init_file() -> None:
    assert json.loads(LastSignState().to_json()) == {"height": "0", "round": 0, "step": 0}


def test_json_matches_cometbft_layout_and_round_trips() -> None:
    doc = json.loads(SIGNED.to_json())
    assert doc == {
        "height": "10",
        "round": 1,
        "step": 2,
        "signature": base64.b64encode(b"\x01" * 64).decode(),
        "signbytes": "ABCD",
    }
    assert LastSignState.from_json(SIGNED.to_json()) == SIGNED


@pytest.mark.parametrize(
    ("height", "round_", "step", "message"),
    [
        (9, 5, STEP_PRECOMMIT, "height regression"),
        (10, 0, STEP_PRECOMMIT, "round regression"),
        (10, 1, STEP_PROPOSE, "step regression"),
    ],
)
def test_check_refuses_every_regression(height: int, round_: int, step: int, message: str) -> None:
    with pytest.raises(DoubleSignRisk, match=message):
        SIGNED.check(height, round_, step)


def test_check_allows_progress_and_reports_the_same_step() -> None:
    assert SIGNED.check(10, 1, STEP_PREVOTE) is True
    assert SIGNED.check(10, 1, STEP_PRECOMMIT) is False
    assert SIGNED.check(10, 2, STEP_PROPOSE) is False
    assert SIGNED.check(11, 0, STEP_PROPOSE) is False
    with pytest.raises(DoubleSignRisk, match="no sign bytes"):
        LastSignState(10, 1, STEP_PREVOTE).check(10, 1, STEP_PREVOTE)


def test_next_free_round_skips_every_round_the_key_signed_in() -> None:
    assert SIGNED.next_free_round(11) == 0
    assert SIGNED.next_free_round(10) == 2  # prevoted in round 1: round 1 is not reused even to precommit
    assert LastSignState(10, 0, STEP_PROPOSE, b"\x01" * 64, b"p").next_free_round(10) == 1
    with pytest.raises(DoubleSignRisk, match="height regression"):
        SIGNED.next_free_round(9)


def test_file_records_atomically_private_and_refuses_contradictions(tmp_path: Path) -> None:
    path = tmp_path / "priv_validator_state.json"
    with pytest.raises(KeyFileError, match="is missing: without the key's last signed height"):
        SignStateFile.load(path)  # refused like CometBFT: the key may have signed before
    path.write_text(LastSignState().to_json())
    state_file = SignStateFile.load(path)
    assert state_file.state == LastSignState()  # a key that never signed
    state_file.record(5, 0, STEP_PRECOMMIT, b"\x02" * 64, b"bytes-5")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SignStateFile.load(path).state == LastSignState(5, 0, STEP_PRECOMMIT, b"\x02" * 64, b"bytes-5")
    state_file.record(5, 0, STEP_PRECOMMIT, b"\x02" * 64, b"bytes-5")  # the same vote again is fine
    with pytest.raises(DoubleSignRisk, match="signed for other bytes"):
        state_file.record(5, 0, STEP_PRECOMMIT, b"\x03" * 64, b"other")
    with pytest.raises(DoubleSignRisk, match=f"{path}: height regression"):
        state_file.record(4, 0, STEP_PRECOMMIT, b"\x03" * 64, b"older")
    assert SignStateFile.load(path).state.sign_bytes == b"bytes-5"
    assert list(path.parent.iterdir()) == [path]  # no temp file left behind


def test_malformed_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "priv_validator_state.json"
    path.write_text('{"height": "x", "round": 0, "step": 0}')
    with pytest.raises(KeyFileError, match=r"priv_validator_state\.json: malformed last sign state"):
        SignStateFile.load(path)
