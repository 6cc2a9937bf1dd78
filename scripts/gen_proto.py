"""Regenerate cometsync/proto's Python code from the project's .proto files.

The generated modules are committed (see docs/decisions.md); tests/test_proto_fresh.py
fails when they no longer match this script's output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO / "cometsync" / "proto"
GENERATED_ROOT = Path("cometsync/proto/tendermint")
GRPC_FILES = {"cometsync/proto/tendermint/abci/types.proto"}


def proto_files() -> list[str]:
    """All project .proto files, as paths relative to the repository root."""
    return sorted(str(p.relative_to(REPO)) for p in PROTO_ROOT.rglob("*.proto"))


def generate(out_dir: Path) -> None:
    """Compile every .proto into out_dir (mirroring the repository layout)."""
    import grpc_tools
    from grpc_tools import protoc

    include = str(Path(grpc_tools.__file__).parent / "_proto")
    out_dir.mkdir(parents=True, exist_ok=True)
    for rel in proto_files():
        args = ["protoc", f"-I{REPO}", f"-I{include}", f"--python_out={out_dir}", f"--pyi_out={out_dir}"]
        if rel in GRPC_FILES:
            args.append(f"--grpc_python_out={out_dir}")
        if protoc.main([*args, rel]) != 0:
            raise SystemExit(f"protoc failed on {rel}")
    for module in out_dir.rglob("*_pb2.py"):
        for directory in module.relative_to(out_dir).parents:
            init = out_dir / directory / "__init__.py"
            if directory.is_relative_to(GENERATED_ROOT) and not init.exists():
                init.write_text("")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO, help="output root (default: the repository)")
    generate(parser.parse_args().out)


if __name__ == "__main__":
    sys.exit(main())
