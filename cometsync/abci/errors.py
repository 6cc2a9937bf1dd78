"""Typed ABCI client failures, so the node can tell "app down" from "app slow" from "app wrong"."""

from __future__ import annotations


class ABCIError(Exception):
    """Any failed ABCI call: also the app answering with an error status, or the client being closed."""


class ABCIUnavailable(ABCIError):
    """The app could not be reached within the retry budget."""


class ABCITimeout(ABCIError):
    """The app was reached but did not answer within the call's deadline."""


class ABCIInconsistent(ABCIError):
    """The app answered something that contradicts the request (e.g. one tx result per tx is missing)."""
