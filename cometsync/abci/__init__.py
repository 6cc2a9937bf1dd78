"""ABCI 2.0 (CometBFT v0.38) over the socket protocol or gRPC: Twisted-friendly clients, the method table
and retry rules they share, and the example kvstore application. `cometsync.abci.connect` opens the node's
four app connections with the configured transport."""

from cometsync.abci.checks import check_finalize_block_response
from cometsync.abci.client import ABCIClient, GrpcABCIClient
from cometsync.abci.errors import (
    ABCIAppException,
    ABCIConnectionLost,
    ABCIError,
    ABCIInconsistent,
    ABCIProtocolError,
    ABCITimeout,
    ABCIUnavailable,
)
from cometsync.abci.retry import RetryPolicy
from cometsync.abci.socket_client import SocketABCIClient

__all__ = [
    "ABCIAppException",
    "ABCIClient",
    "ABCIConnectionLost",
    "ABCIError",
    "ABCIInconsistent",
    "ABCIProtocolError",
    "ABCITimeout",
    "ABCIUnavailable",
    "GrpcABCIClient",
    "RetryPolicy",
    "SocketABCIClient",
    "check_finalize_block_response",
]
