"""`ValidatorSet.increment_proposer_priority(times)` against a plain transcription of Go's round loop
(`incrementProposerPriority`: every priority += power, the highest — ties to the lower address — pays
the total), on sets with unequal powers and many rounds (what loading a long-unchanged set replays)."""

from __future__ import annotations

import hashlib

from cometsync.types import Validator, ValidatorSet


def make_set(powers: list[int]) -> ValidatorSet:
    keys = [hashlib.sha256(f"proposer-rounds/{i}".encode()).digest() for i in range(len(powers))]
    return ValidatorSet.new(Validator.from_pub_key(k, power) for k, power in zip(keys, powers, strict=True))


def go_rounds(vals: list[Validator], times: int, total: int) -> tuple[list[int], bytes]:
    """Go's loop after rescale/shift, one round at a time, returning priorities and the last proposer."""
    priorities = {val.address: val.proposer_priority for val in vals}
    proposer = b""
    for _ in range(times):
        for val in vals:
            priorities[val.address] += val.voting_power
        proposer = max(vals, key=lambda val: (priorities[val.address], [-b for b in val.address])).address
        priorities[proposer] -= total
    return [priorities[val.address] for val in vals], proposer


def test_many_rounds_match_go_round_by_round() -> None:
    real_sized = [(i * 7919) % 97 + 1 for i in range(150)]  # the 100-200 validators of real chains
    for powers in ([10, 10, 10, 10], [1, 3, 7, 50, 50], [100, 1], [5], real_sized):
        vals = make_set(powers)
        vals.increment_proposer_priority(17)  # start from uneven priorities
        for times in (1, 2, 9, 1000):
            expected_from = vals.copy()
            # rescale + shift happen once per call, as in Go; the rounds are what the model replays
            expected_from.rescale_priorities(2 * expected_from.total_voting_power())
            expected_from._shift_by_average_priority()
            expected, proposer = go_rounds(
                list(expected_from.validators), times, expected_from.total_voting_power()
            )
            got = vals.copy_increment_proposer_priority(times)
            assert [val.proposer_priority for val in got.validators] == expected, (powers, times)
            assert got.proposer.address == proposer, (powers, times)
            assert [val.address for val in got.validators] == [val.address for val in vals.validators]


def test_increment_keeps_the_original_copy_unchanged() -> None:
    vals = make_set([3, 2, 1])
    before = [val.proposer_priority for val in vals.validators]
    vals.copy_increment_proposer_priority(5)
    assert [val.proposer_priority for val in vals.validators] == before
