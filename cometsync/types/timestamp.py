"""Exact (seconds, nanos) timestamps: hashes and sign bytes depend on every nanosecond.

Go's zero `time.Time` (0001-01-01T00:00:00Z) is seconds -62135596800; gogoproto emits it, so it must
round-trip as such rather than as an unset field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.protobuf import timestamp_pb2

from cometsync.proto.wire import varint_field

GO_ZERO_SECONDS = -62135596800
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})$"
)


@dataclass(frozen=True, slots=True, order=True)
class Timestamp:
    """A UTC instant as protobuf stores it."""

    seconds: int
    nanos: int = 0

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle as (seconds, nanos): commits carry one per signature to the verify workers."""
        return (Timestamp, (self.seconds, self.nanos))

    @classmethod
    def zero(cls) -> Timestamp:
        """Go's zero time, used by absent commit signatures."""
        return ZERO_TIME

    def is_zero(self) -> bool:
        return self.seconds == GO_ZERO_SECONDS and self.nanos == 0

    @classmethod
    def parse(cls, text: str) -> Timestamp:
        """Parse RFC 3339 with up to 9 fractional digits (what CometBFT's RPC writes)."""
        match = _RFC3339.match(text)
        if match is None:
            raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
        year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
        fraction = match.group(7) or ""
        zone = match.group(8)
        when = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        delta = when - _EPOCH
        seconds = delta.days * 86400 + delta.seconds
        if zone not in ("Z", "z"):
            sign = 1 if zone[0] == "+" else -1
            seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
        return cls(seconds, int(fraction.ljust(9, "0")) if fraction else 0)

    def rfc3339(self) -> str:
        """Go's RFC3339Nano in UTC: fractional seconds with trailing zeros trimmed."""
        when = _EPOCH + timedelta(seconds=self.seconds)
        text = when.strftime("%Y-%m-%dT%H:%M:%S")
        if self.nanos:
            text += "." + f"{self.nanos:09d}".rstrip("0")
        return text + "Z"

    def to_proto(self) -> timestamp_pb2.Timestamp:
        return timestamp_pb2.Timestamp(seconds=self.seconds, nanos=self.nanos)

    def fill_proto(self, pb: timestamp_pb2.Timestamp) -> None:
        """Set a (non-nullable) Timestamp sub-message in place so it is emitted even when all zero."""
        pb.SetInParent()
        pb.seconds = self.seconds
        pb.nanos = self.nanos

    @classmethod
    def from_proto(cls, pb: timestamp_pb2.Timestamp) -> Timestamp:
        return cls(pb.seconds, pb.nanos)

    def encode(self) -> bytes:
        """The `google.protobuf.Timestamp` wire bytes."""
        return varint_field(1, self.seconds) + varint_field(2, self.nanos)

    def unix_nanos(self) -> int:
        return self.seconds * 1_000_000_000 + self.nanos

    @classmethod
    def from_unix_nanos(cls, nanos: int) -> Timestamp:
        return cls(nanos // 1_000_000_000, nanos % 1_000_000_000)


ZERO_TIME = Timestamp(GO_ZERO_SECONDS, 0)
