"""Interop tests against a real CometBFT v0.38 build: they run only where `COMETBFT_BIN` points at one.

The binary is a local instrument (built from CometBFT's sources, never committed): without it every test
here is skipped with the reason, and the default suite still passes.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the shared helpers in tests/
