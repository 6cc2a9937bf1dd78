"""ABCI 2.0 (CometBFT v0.38) over gRPC: a Twisted-friendly client and the example kvstore application."""

from cometsync.abci.checks import check_finalize_block_response
from cometsync.abci.client import ABCIClient, GrpcABCIClient
from cometsync.abci.errors import ABCIError, ABCIInconsistent, ABCITimeout, ABCIUnavailable
from cometsync.abci.retry import RetryPolicy

__all__ = [
    "ABCIClient",
    "ABCIError",
    "ABCIInconsistent",
    "ABCITimeout",
    "ABCIUnavailable",
    "GrpcABCIClient",
    "RetryPolicy",
    "check_finalize_block_response",
]
