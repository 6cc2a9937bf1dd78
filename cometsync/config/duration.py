"""Go `time.Duration` values as config.toml spells them ("100ms", "1m0s", "168h0m0s").

Kept in integer nanoseconds so a value read from a CometBFT file is written back exactly as Go would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

NANOS_PER_SECOND = 1_000_000_000
_UNIT_NANOS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": NANOS_PER_SECOND,
    "m": 60 * NANOS_PER_SECOND,
    "h": 3600 * NANOS_PER_SECOND,
}
_TERM = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_MAX_NANOS = 2**63 - 1


@dataclass(frozen=True, order=True)
class Duration:
    """A signed span of time in nanoseconds, parsed and printed like Go's `time.Duration`."""

    nanos: int

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Go's `time.ParseDuration`: "300ms", "-1.5h", "2h45m"; a bare "0" is allowed. ValueError if not."""
        body = text.strip()
        sign = -1 if body.startswith("-") else 1
        if body[:1] in ("+", "-"):
            body = body[1:]
        if body == "0":
            return cls(0)
        invalid = ValueError(f"invalid duration {text!r} (use Go's form, e.g. 100ms, 1s, 1m30s)")
        if not body:
            raise invalid
        total = Fraction(0)
        position = 0
        while position < len(body):
            match = _TERM.match(body, position)
            if match is None:
                raise invalid
            total += Fraction(match.group(1)) * _UNIT_NANOS[match.group(2)]
            position = match.end()
        nanos = sign * int(total)
        if abs(nanos) > _MAX_NANOS:
            raise ValueError(f"duration {text!r} is out of range")
        return cls(nanos)

    @classmethod
    def of_seconds(cls, seconds: float) -> Duration:
        return cls(round(seconds * NANOS_PER_SECOND))

    @property
    def seconds(self) -> float:
        """The value in (float) seconds, what Twisted's timers take."""
        return self.nanos / NANOS_PER_SECOND

    def __str__(self) -> str:
        """Go's `Duration.String()`: "0s", "999ns", "1.5µs", "100ms", "1.5s", "1m0s", "168h0m0s"."""
        if self.nanos == 0:
            return "0s"
        sign = "-" if self.nanos < 0 else ""
        size = abs(self.nanos)
        if size < 1_000:
            return f"{sign}{size}ns"
        if size < 1_000_000:
            return f"{sign}{_decimal(size, 1_000)}µs"
        if size < NANOS_PER_SECOND:
            return f"{sign}{_decimal(size, 1_000_000)}ms"
        hours, rest = divmod(size, 3600 * NANOS_PER_SECOND)
        minutes, rest = divmod(rest, 60 * NANOS_PER_SECOND)
        seconds = f"{_decimal(rest, NANOS_PER_SECOND)}s"
        if hours:
            return f"{sign}{hours}h{minutes}m{seconds}"
        if minutes:
            return f"{sign}{minutes}m{seconds}"
        return f"{sign}{seconds}"


def _decimal(value: int, unit: int) -> str:
    """`value / unit` with the fraction's trailing zeros dropped (unit is a power of ten)."""
    whole, fraction = divmod(value, unit)
    if not fraction:
        return str(whole)
    digits = str(fraction).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"
