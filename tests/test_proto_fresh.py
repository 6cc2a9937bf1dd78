"""The committed generated protobuf code must match what scripts/gen_proto.py produces now."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import gen_proto  # noqa: E402


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    gen_proto.generate(tmp_path)
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert fresh, "generator produced nothing"
    stale = [str(rel) for rel, data in fresh.items() if (REPO / rel).read_bytes() != data]
    assert not stale, f"regenerate with scripts/gen_proto.py: stale {stale}"
    committed = {
        p.relative_to(REPO)
        for p in (REPO / "cometsync" / "proto" / "tendermint").rglob("*")
        if p.is_file() and p.suffix in {".py", ".pyi"}
    }
    assert committed == set(fresh), f"unexpected generated files: {committed ^ set(fresh)}"


def test_every_pb2_module_imports() -> None:
    modules = sorted((REPO / "cometsync" / "proto").rglob("*_pb2*.py"))
    assert len(modules) >= 16
    for path in modules:
        name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        importlib.import_module(name)
