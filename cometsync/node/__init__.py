"""The cometsync node: start-up stages, the build of every part from one `Config`, and its lifecycle."""

from cometsync.node.build import NodeParts
from cometsync.node.errors import NodeStartError
from cometsync.node.node import Node, RunningNode, default_out
from cometsync.node.progress import ProgressReporter, ProgressSnapshot

__all__ = [
    "Node",
    "NodeParts",
    "NodeStartError",
    "ProgressReporter",
    "ProgressSnapshot",
    "RunningNode",
    "default_out",
]
