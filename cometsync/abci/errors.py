"""Typed ABCI client failures, so the node can tell "app down" from "app slow" from "app wrong"."""

from __future__ import annotations


class ABCIError(Exception):
    """Any failed ABCI call: also the app answering with an error status, or the client being closed."""


class ABCIUnavailable(ABCIError):
    """The app could not be reached within the retry budget."""


class ABCIConnectionLost(ABCIError):
    """The connection broke while a call may already have reached the app: the call is never re-sent
    (CometBFT stops the node; the restart's handshake replays what the app missed)."""


class ABCITimeout(ABCIError):
    """The app was reached but did not answer within the call's deadline."""


class ABCIInconsistent(ABCIError):
    """The app answered something that contradicts the request (e.g. one tx result per tx is missing)."""


class ABCIAppException(ABCIError):
    """The app answered `ResponseException` (the socket protocol's error reply), `app_message` its text."""

    def __init__(self, message: str, app_message: str) -> None:
        super().__init__(message)
        self.app_message = app_message


class ABCIProtocolError(ABCIError):
    """The byte stream is not ABCI: a bad or oversized length prefix, an undecodable message, or a response
    that does not answer the request it is paired with."""
