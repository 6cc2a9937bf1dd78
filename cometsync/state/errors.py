"""Typed failures of block validation, execution and the start-up handshake."""

from __future__ import annotations


class StateError(Exception):
    """Base class of every state/executor failure."""


class InvalidBlockForState(StateError):
    """The block breaks a state-dependent rule (`validateBlock`): it must not be executed."""


class InvalidABCIResponse(StateError):
    """The application answered FinalizeBlock with something CometBFT would refuse."""


class HandshakeError(StateError):
    """The application and the stores cannot be reconciled at start-up; the message says what to do."""


class AppAheadOfStore(HandshakeError):
    """The application has committed blocks this node's block store does not hold."""


class AppHashMismatch(HandshakeError):
    """The application's hash disagrees with the one recorded by the chain."""
