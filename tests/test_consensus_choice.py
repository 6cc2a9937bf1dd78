"""`consensus_engine = "auto"`: solo only with more than 2/3 of the current power, follow otherwise."""

from __future__ import annotations

import logging

import pytest

from cometsync.consensus.choice import choose_engine, decide_engine, holds_supermajority
from cometsync.crypto import PrivKey, PrivValidatorKey
from cometsync.state import State
from cometsync.testing import DevnetSpec
from cometsync.types import Validator, ValidatorSet


def validator_set(*powers: int) -> tuple[ValidatorSet, list[bytes]]:
    keys = [PrivKey(bytes([index + 1]) * 32) for index in range(len(powers))]
    validators = [
        Validator.from_pub_key(key.pub_key.key, power) for key, power in zip(keys, powers, strict=True)
    ]
    return ValidatorSet.new(validators), [v.address for v in validators]


@pytest.mark.parametrize(
    ("held", "total", "alone"), [(3, 4, True), (2, 3, False), (67, 100, True), (66, 99, False), (0, 0, False)]
)
def test_more_than_two_thirds_is_strict(held: int, total: int, alone: bool) -> None:
    assert holds_supermajority(held, total) is alone


def test_auto_solo_when_the_node_holds_the_power() -> None:
    validators, addresses = validator_set(10, 1, 1)
    choice = choose_engine("auto", validators, addresses[0], 7)
    assert choice.engine == "solo" and not choice.warning
    assert "10 of 12 voting power at height 7" in choice.note


def test_auto_follows_as_one_validator_of_several_and_says_why() -> None:
    validators, addresses = validator_set(1, 1, 1)
    choice = choose_engine("auto", validators, addresses[1], 1)
    assert choice.engine == "follow" and choice.warning
    assert "holds 1 of 3 voting power" in choice.note
    assert "does not run BFT consensus with other validators" in choice.note
    assert "never signs or proposes" in choice.note
    assert "\n" not in choice.note


def test_auto_follows_quietly_when_not_a_validator() -> None:
    validators, _ = validator_set(5, 5)
    outsider = PrivKey(b"\x99" * 32).pub_key.address()
    for address in (outsider, None):
        choice = choose_engine("auto", validators, address, 3)
        assert choice.engine == "follow" and not choice.warning
        assert "not a validator" in choice.note


def test_explicit_solo_without_the_power_is_kept_with_a_warning() -> None:
    """The solo engine then refuses to start; the note says what to set instead."""
    validators, addresses = validator_set(1, 1)
    choice = choose_engine("solo", validators, addresses[0], 1)
    assert choice.engine == "solo" and choice.warning
    assert 'set "auto" or "follow"' in choice.note


@pytest.mark.parametrize("requested", ["follow", "solo", "relay"])
def test_explicit_engines_are_kept(requested: str) -> None:
    validators, addresses = validator_set(10)
    choice = choose_engine(requested, validators, addresses[0], 1)
    assert choice.engine == requested
    assert not choice.warning


def test_decide_engine_reads_the_state_and_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:
    spec = DevnetSpec(chain_id="choice", powers=(1, 1, 1, 1))
    state = State.from_genesis(spec.genesis())
    own = PrivValidatorKey(spec.keys()[2])
    with caplog.at_level(logging.INFO, logger="cometsync.consensus.choice"):
        assert decide_engine("auto", state, own) == "follow"
    assert [record.levelno for record in caplog.records] == [logging.WARNING]
    assert "holds 1 of 4 voting power at height 1" in caplog.records[0].getMessage()
    solo_spec = DevnetSpec(chain_id="choice", powers=(1,))
    alone = PrivValidatorKey(solo_spec.keys()[0])
    assert decide_engine("auto", State.from_genesis(solo_spec.genesis()), alone) == "solo"
