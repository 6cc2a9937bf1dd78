"""CometBFT v0.38-compatible JSON-RPC (URI and JSON-RPC 2.0 over HTTP) plus `/blocksync_status`."""

from cometsync.rpc.env import BlocksyncView, RPCEnvironment
from cometsync.rpc.errors import InternalError, InvalidParams, RPCError
from cometsync.rpc.handlers import ROUTES, Route
from cometsync.rpc.limits import RPCLimits
from cometsync.rpc.listen import ListenAddress, listen_http
from cometsync.rpc.progress import SyncProgress
from cometsync.rpc.server import RPCListener, RPCResource, listen_rpc

__all__ = [
    "ROUTES",
    "BlocksyncView",
    "InternalError",
    "InvalidParams",
    "ListenAddress",
    "RPCEnvironment",
    "RPCError",
    "RPCLimits",
    "RPCListener",
    "RPCResource",
    "Route",
    "SyncProgress",
    "listen_http",
    "listen_rpc",
]
