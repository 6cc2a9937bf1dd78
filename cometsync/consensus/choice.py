"""Which engine runs after blocksync, decided at start from the state rather than frozen by `init`.

`consensus_engine = "auto"` (what `init` writes) produces blocks with `solo` only when this node's own
validator key holds more than 2/3 of the current voting power, and follows the chain otherwise. cometsync
has no BFT consensus with other validators, so a node that is one validator of several is told so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cometsync.config.checks import AUTO_ENGINE as AUTO
from cometsync.crypto import PrivValidatorKey
from cometsync.state import State
from cometsync.types import ValidatorSet

log = logging.getLogger(__name__)

SOLO = "solo"
FOLLOW = "follow"


@dataclass(frozen=True)
class EngineChoice:
    """The engine to build, and the one line an operator should read about it (empty: nothing to say)."""

    engine: str
    note: str = ""
    warning: bool = False
    """The note tells of something the node cannot do (logged as a warning)."""


def holds_supermajority(held: int, total: int) -> bool:
    """More than 2/3 of the power: enough to commit a block alone."""
    return total > 0 and held * 3 > total * 2


def choose_engine(
    requested: str, validators: ValidatorSet, own_address: bytes | None, height: int
) -> EngineChoice:
    """The engine for `requested` given the validators of `height` (the next height to commit)."""
    total = validators.total_voting_power()
    found = validators.get_by_address(own_address) if own_address is not None else None
    held = found[1].voting_power if found is not None else 0
    share = f"this node's validator key holds {held} of {total} voting power at height {height}"
    if holds_supermajority(held, total):
        if requested == AUTO:
            return EngineChoice(SOLO, f"engine auto: solo ({share}, more than 2/3): it produces the blocks")
        return EngineChoice(requested)
    no_bft = "cometsync does not run BFT consensus with other validators"
    if requested == SOLO:
        note = f'consensus_engine = "solo" but {share}: {no_bft}; set "auto" or "follow" to follow the chain'
        return EngineChoice(SOLO, note, warning=True)
    if requested == AUTO:
        if not held:
            return EngineChoice(FOLLOW, "engine auto: follow (this node is not a validator)")
        note = (
            f"engine auto: follow. {share}, not more than 2/3, and {no_bft}: it follows the chain "
            "(verifies and applies the blocks the others commit) and never signs or proposes; "
            "run CometBFT on this home to validate"
        )
        return EngineChoice(FOLLOW, note, warning=True)
    return EngineChoice(requested)


def decide_engine(requested: str, state: State, validator_key: PrivValidatorKey | None) -> str:
    """`choose_engine` for the state after the handshake, its note logged (one line); the engine's name."""
    address = validator_key.address if validator_key is not None else None
    choice = choose_engine(requested, state.validators, address, state.next_height())
    if choice.note:
        log.log(logging.WARNING if choice.warning else logging.INFO, choice.note)
    return choice.engine
