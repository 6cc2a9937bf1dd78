"""Go `time.Duration` strings as config.toml holds them: parse and print exactly like Go."""

from __future__ import annotations

import pytest

from cometsync.config import Duration

MS = 1_000_000
SECOND = 1_000_000_000


@pytest.mark.parametrize(
    ("text", "nanos", "go_string"),
    [
        ("0", 0, "0s"),
        ("0s", 0, "0s"),
        ("100ms", 100 * MS, "100ms"),
        ("1s", SECOND, "1s"),
        ("1m0s", 60 * SECOND, "1m0s"),
        ("168h0m0s", 168 * 3600 * SECOND, "168h0m0s"),
        ("1.5h", 5400 * SECOND, "1h30m0s"),
        ("2h45m", (2 * 3600 + 45 * 60) * SECOND, "2h45m0s"),
        ("-1.5s", -1500 * MS, "-1.5s"),
        ("+20s", 20 * SECOND, "20s"),
        ("1.5us", 1500, "1.5µs"),
        ("3µs", 3000, "3µs"),
        ("999ns", 999, "999ns"),
        (".5s", 500 * MS, "500ms"),
        ("1s500ms", 1500 * MS, "1.5s"),
        ("61s", 61 * SECOND, "1m1s"),
    ],
)
def test_parse_and_print_like_go(text: str, nanos: int, go_string: str) -> None:
    duration = Duration.parse(text)
    assert duration.nanos == nanos
    assert str(duration) == go_string
    assert Duration.parse(str(duration)) == duration


@pytest.mark.parametrize("text", ["", "-", "5", "1x", "1s2", "--1s", "s", "1 s", "9223372037s"])
def test_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        Duration.parse(text)


def test_seconds_for_timers() -> None:
    assert Duration.parse("100ms").seconds == 0.1
    assert Duration.of_seconds(2.5) == Duration.parse("2.5s")
    assert Duration.parse("1s") < Duration.parse("1m0s")
