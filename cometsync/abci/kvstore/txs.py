"""Transaction formats of CometBFT v0.38's example kvstore, parsed exactly as its Go code does.

`key=value` (or `key:value` before PrepareProposal rewrites it), a bare `tx` meaning key = value = tx,
and `val=<type>!<base64 pubkey>!<power>` validator updates.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

VALIDATOR_PREFIX = b"val="

_GO_INT64 = re.compile(rb"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class InvalidTxFormat(ValueError):
    """A transaction the kvstore's CheckTx rejects (code 2)."""


@dataclass(frozen=True)
class ValidatorTx:
    """A parsed `val=<type>!<pubkey>!<power>` transaction."""

    key_type: str
    pub_key: bytes
    power: int


def is_validator_tx(tx: bytes) -> bool:
    """Go's `isValidatorTx`: the tx starts with `val=`."""
    return tx.startswith(VALIDATOR_PREFIX)


def is_valid_kv_tx(tx: bytes) -> bool:
    """Go's `isValidTx`: exactly one `:` and no `=`, or exactly one `=` and no `:`, not at either end."""
    for sep, other in ((b":", b"="), (b"=", b":")):
        if tx.count(sep) == 1 and tx.count(other) == 0:
            return not tx.startswith(sep) and not tx.endswith(sep)
    return False


def _parse_go_int64(text: bytes) -> int:
    """Go's `strconv.ParseInt(s, 10, 64)`: optional sign, ASCII digits only, int64 range."""
    if not _GO_INT64.fullmatch(text):
        raise InvalidTxFormat(f"power ({text.decode(errors='replace')}) is not an int")
    value = int(text)
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise InvalidTxFormat(f"power ({text.decode(errors='replace')}) is not an int")
    return value


def parse_validator_tx(tx: bytes) -> ValidatorTx:
    """Go's `parseValidatorTx`; the key type itself is only checked when the update is built."""
    fields = tx[len(VALIDATOR_PREFIX) :].split(b"!")
    if len(fields) != 3:
        raise InvalidTxFormat(f"expected 'pubkeytype!pubkey!power', got {len(fields)} fields")
    key_type, pub_b64, power_text = fields
    try:
        # Go's base64.StdEncoding skips CR and LF and otherwise requires the padded standard alphabet.
        pub_key = base64.b64decode(pub_b64.replace(b"\r", b"").replace(b"\n", b""), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidTxFormat(f"pubkey ({pub_b64.decode(errors='replace')}) is invalid base64") from exc
    power = _parse_go_int64(power_text)
    if power < 0:
        raise InvalidTxFormat(f"power can not be less than 0, got {power}")
    return ValidatorTx(key_type.decode(errors="replace"), pub_key, power)


def split_key_value(tx: bytes) -> tuple[bytes, bytes]:
    """The key and value a tx stores: split on `=` into exactly two parts, else key = value = tx."""
    parts = tx.split(b"=")
    if len(parts) == 2:
        return parts[0], parts[1]
    return tx, tx
