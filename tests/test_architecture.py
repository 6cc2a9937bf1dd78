"""The house's arrows point down: each room imports only rooms on lower floors, so no import circle exists.

`FLOORS` is the layering docs/architecture.md draws; a new room must be placed on a floor here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "cometsync"
GENERATED = PACKAGE / "proto" / "tendermint"

FLOORS: list[set[str]] = [
    {"clock", "endpoint", "plugins"},
    {"proto", "crypto", "pool"},
    {"types", "p2p", "mempool"},
    {"store"},
    {"abci", "state"},
    {"config", "blocksync"},
    {"consensus", "rpc"},
    {"metrics", "testing"},
    {"node"},
    {"cli"},
    {"__main__"},
]
FLOOR_OF = {room: level for level, rooms in enumerate(FLOORS) for room in rooms}


def room_of(module: str) -> str:
    """`cometsync.pool.pool` -> `pool`; a top-level module such as `cometsync.plugins` is its own room."""
    return module.split(".")[1]


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if GENERATED in path.parents:
            continue
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        if len(parts) > 1:
            yield ".".join(parts), path


def imported_rooms(path: Path) -> Iterator[tuple[str, int]]:
    """Every `cometsync.*` import, TYPE_CHECKING ones included (an arrow is an arrow)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name.startswith("cometsync.") and name.count(".") >= 1:
                yield room_of(name), node.lineno


def test_every_room_is_on_a_floor() -> None:
    rooms = {room_of(module) for module, _ in modules()}
    unplaced = sorted(rooms - FLOOR_OF.keys())
    assert not unplaced, f"place these rooms in FLOORS (and docs/architecture.md): {unplaced}"


def test_imports_only_point_down() -> None:
    upward = []
    for module, path in modules():
        source = room_of(module)
        for target, line in imported_rooms(path):
            if target != source and FLOOR_OF.get(target, -1) >= FLOOR_OF.get(source, -1):
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {source} -> {target}")
    assert not upward, "imports that point sideways or up:\n" + "\n".join(upward)
