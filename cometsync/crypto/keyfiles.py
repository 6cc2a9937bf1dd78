"""CometBFT's JSON key files: `node_key.json` (p2p identity) and `priv_validator_key.json`.

Files are written byte-for-byte as CometBFT writes them (compact node key, two-space indented validator
key, no trailing newline) with 0600 permissions, and checked on load so a hand-edited or mismatched file
fails with a message naming the file and the field.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cometsync.crypto.ed25519 import PrivKey, PubKey

PRIV_KEY_TYPE = "tendermint/PrivKeyEd25519"
PUB_KEY_TYPE = "tendermint/PubKeyEd25519"
KEY_FILE_MODE = 0o600


class KeyFileError(ValueError):
    """A key file is missing, unreadable, malformed or internally inconsistent."""


def node_id_of(pub_key: PubKey) -> str:
    """The p2p node id: lower-case hex of the key's address."""
    return pub_key.address().hex()


@dataclass(frozen=True)
class NodeKey:
    """The node's p2p identity key (`node_key.json`)."""

    priv_key: PrivKey

    @property
    def pub_key(self) -> PubKey:
        return self.priv_key.pub_key

    @property
    def node_id(self) -> str:
        return node_id_of(self.pub_key)


@dataclass(frozen=True)
class PrivValidatorKey:
    """A validator's signing key (`priv_validator_key.json`)."""

    priv_key: PrivKey

    @property
    def pub_key(self) -> PubKey:
        return self.priv_key.pub_key

    @property
    def address(self) -> bytes:
        return self.pub_key.address()


def load_node_key(path: str | os.PathLike[str]) -> NodeKey:
    """Read and check a CometBFT `node_key.json`."""
    doc = _read_json_object(Path(path))
    return NodeKey(_decode_priv_key(doc, Path(path)))


def save_node_key(key: NodeKey, path: str | os.PathLike[str]) -> None:
    """Write `node_key.json` exactly as CometBFT does (compact JSON), mode 0600."""
    doc = {"priv_key": _typed_value(PRIV_KEY_TYPE, key.priv_key.to_bytes())}
    write_private_file(Path(path), json.dumps(doc, separators=(",", ":")))


def load_or_generate_node_key(path: str | os.PathLike[str]) -> NodeKey:
    """Load the node key, creating a fresh one first if the file does not exist (like `cometbft init`)."""
    if Path(path).exists():
        return load_node_key(path)
    key = NodeKey(PrivKey.generate())
    save_node_key(key, path)
    return key


def load_priv_validator_key(path: str | os.PathLike[str]) -> PrivValidatorKey:
    """Read a `priv_validator_key.json`, checking that its pub key and address belong to its seed."""
    file = Path(path)
    doc = _read_json_object(file)
    key = PrivValidatorKey(_decode_priv_key(doc, file))
    pub_key = _decode_bytes(_typed_field(doc, "pub_key", PUB_KEY_TYPE, file), "pub_key.value", file)
    if pub_key != key.pub_key.key:
        raise KeyFileError(f"{file}: pub_key does not match the private key")
    address = doc.get("address")
    if not isinstance(address, str):
        raise KeyFileError(f"{file}: missing or non-string 'address'")
    try:
        address_bytes = bytes.fromhex(address)
    except ValueError as exc:
        raise KeyFileError(f"{file}: 'address' is not hex: {address!r}") from exc
    if address_bytes != key.address:
        raise KeyFileError(
            f"{file}: address {address} does not match the key (expected {key.address.hex().upper()})"
        )
    return key


def save_priv_validator_key(key: PrivValidatorKey, path: str | os.PathLike[str]) -> None:
    """Write `priv_validator_key.json` exactly as CometBFT does (two-space indent), mode 0600."""
    doc = {
        "address": key.address.hex().upper(),
        "pub_key": _typed_value(PUB_KEY_TYPE, key.pub_key.key),
        "priv_key": _typed_value(PRIV_KEY_TYPE, key.priv_key.to_bytes()),
    }
    write_private_file(Path(path), json.dumps(doc, indent=2))


def _typed_value(key_type: str, raw: bytes) -> dict[str, str]:
    return {"type": key_type, "value": base64.b64encode(raw).decode("ascii")}


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeyFileError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise KeyFileError(f"{path}: expected a JSON object")
    return doc


def _typed_field(doc: dict[str, Any], name: str, expected_type: str, path: Path) -> str:
    """The base64 `value` of a `{type, value}` object, after checking its type (only ed25519 is supported)."""
    field = doc.get(name)
    if not isinstance(field, dict):
        raise KeyFileError(f"{path}: missing or malformed '{name}'")
    key_type = field.get("type")
    if key_type != expected_type:
        raise KeyFileError(f"{path}: {name}.type is {key_type!r}, only {expected_type!r} is supported")
    value = field.get("value")
    if not isinstance(value, str):
        raise KeyFileError(f"{path}: missing or non-string {name}.value")
    return value


def _decode_bytes(value: str, what: str, path: Path) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise KeyFileError(f"{path}: {what} is not valid base64: {exc}") from exc


def _decode_priv_key(doc: dict[str, Any], path: Path) -> PrivKey:
    raw = _decode_bytes(_typed_field(doc, "priv_key", PRIV_KEY_TYPE, path), "priv_key.value", path)
    try:
        return PrivKey.from_bytes(raw)
    except ValueError as exc:
        raise KeyFileError(f"{path}: {exc}") from exc


def write_private_file(path: Path, text: str) -> None:
    """Atomically replace `path` with `text`; the file is never readable by others, even briefly."""
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise KeyFileError(f"cannot write key file {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), KEY_FILE_MODE)
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (a crash right after must not bring the old file back)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
