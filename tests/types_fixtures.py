"""Shared helpers for the `test_types_*` tests: locating and loading copied fixture files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"


def load_json(relative: str) -> Any:
    return json.loads((DATA / relative).read_text())


def load_bytes(relative: str) -> bytes:
    return (DATA / relative).read_bytes()
