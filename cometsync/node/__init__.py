"""The cometsync node: wiring of stores, app, p2p, blocksync, RPC, metrics and the consensus engine."""

from cometsync.node.errors import NodeStartError
from cometsync.node.node import Node, default_out
from cometsync.node.progress import ProgressReporter, ProgressSnapshot

__all__ = ["Node", "NodeStartError", "ProgressReporter", "ProgressSnapshot", "default_out"]
