"""`priv_validator_state.json`: the last height/round/step a validator key signed (CometBFT's
FilePVLastSignState). Checked and saved before every signature leaves the node, so a key never signs two
different things at one height/round/step, even across crashes or a home shared with CometBFT.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path

from cometsync.crypto.keyfiles import KeyFileError, write_private_file

STEP_NONE = 0
STEP_PROPOSE = 1
STEP_PREVOTE = 2
STEP_PRECOMMIT = 3


class DoubleSignRisk(KeyFileError):
    """Signing now could contradict a signature this key already gave."""


@dataclass(frozen=True)
class LastSignState:
    """What the key signed last; `signature`/`sign_bytes` are empty until it signed something."""

    height: int = 0
    round: int = 0
    step: int = STEP_NONE
    signature: bytes = b""
    sign_bytes: bytes = b""

    def check(self, height: int, round_: int, step: int) -> bool:
        """CometBFT's CheckHRS: raise on any regression; True when this height/round/step was signed."""
        if self.height > height:
            raise DoubleSignRisk(f"height regression: asked to sign {height}, already signed {self.height}")
        if self.height < height or self.round < round_:
            return False
        if self.round > round_:
            raise DoubleSignRisk(f"round regression at height {height}: asked {round_}, signed {self.round}")
        if self.step > step:
            raise DoubleSignRisk(
                f"step regression at height {height} round {round_}: asked {step}, signed {self.step}"
            )
        if self.step < step:
            return False
        if not self.sign_bytes:
            raise DoubleSignRisk(f"height {height} round {round_} step {step} was signed, no sign bytes kept")
        return True

    def next_free_round(self, height: int) -> int:
        """The first round at `height` in which this key signed nothing (a proposal or prevote there was
        for a block we may no longer have, so even a later step of that round is not taken)."""
        if self.height > height:
            self.check(height, 0, STEP_NONE)  # raises the height regression
        if self.height < height or self.step == STEP_NONE:
            return 0
        return self.round + 1

    def to_json(self) -> str:
        """Two-space indented like CometBFT's; signature and signbytes omitted while empty."""
        doc: dict[str, object] = {"height": str(self.height), "round": self.round, "step": self.step}
        if self.signature:
            doc["signature"] = base64.b64encode(self.signature).decode("ascii")
        if self.sign_bytes:
            doc["signbytes"] = self.sign_bytes.hex().upper()
        return json.dumps(doc, indent=2)

    @classmethod
    def from_json(cls, text: str) -> LastSignState:
        try:
            doc = json.loads(text)
            return cls(
                height=int(doc["height"]),
                round=int(doc["round"]),
                step=int(doc["step"]),
                signature=base64.b64decode(doc.get("signature") or "", validate=True),
                sign_bytes=bytes.fromhex(doc.get("signbytes") or ""),
            )
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise KeyFileError(f"malformed last sign state: {exc}") from None


class SignStateFile:
    """The state file of one validator key: loaded once, rewritten atomically (fsync) on every record."""

    def __init__(self, path: Path, state: LastSignState) -> None:
        self.path = path
        self.state = state

    @classmethod
    def load(cls, path: Path) -> SignStateFile:
        """A missing file is refused, as CometBFT refuses it: the key may have signed, and we can't know."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise KeyFileError(
                f"{path} is missing: without the key's last signed height/round/step it could sign twice; "
                'restore it, or for a key that never signed write {"height": "0", "round": 0, "step": 0}'
            ) from None
        except OSError as exc:
            raise KeyFileError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            return cls(path, LastSignState.from_json(text))
        except KeyFileError as exc:
            raise KeyFileError(f"{path}: {exc}") from None

    def next_free_round(self, height: int) -> int:
        try:
            return self.state.next_free_round(height)
        except DoubleSignRisk as exc:
            raise DoubleSignRisk(f"{self.path}: {exc}; refusing to sign") from None

    def record(self, height: int, round_: int, step: int, signature: bytes, sign_bytes: bytes) -> None:
        """Saved before the signature is used: after a crash the file is ahead of the world, never behind."""
        try:
            already = self.state.check(height, round_, step)
        except DoubleSignRisk as exc:
            raise DoubleSignRisk(f"{self.path}: {exc}; refusing to sign") from None
        if already and sign_bytes != self.state.sign_bytes:
            raise DoubleSignRisk(
                f"{self.path}: height {height} round {round_} step {step} was signed for other bytes; "
                "refusing to sign"
            )
        state = LastSignState(height, round_, step, signature, sign_bytes)
        write_private_file(self.path, state.to_json())
        self.state = state
