"""Time, injectable so tests can move it: schedulers and holds read a clock, never ``now()``."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that stands still until told to move."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, when: datetime) -> None:
        self._now = when


ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


def to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_timestamp(value: str) -> datetime:
    """Parse an RFC 3339 timestamp (``Z`` or an offset; fractions allowed). Raises ValueError."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone; add Z or an offset")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"timestamp {value!r} is out of range in UTC") from None


@functools.lru_cache(maxsize=4096)  # a batch formats the same few instants many times
def format_timestamp(value: datetime | None) -> str:
    """RFC 3339 in UTC with microseconds and ``Z``; Blnk's zero time for ``None``."""
    if value is None:
        return "0001-01-01T00:00:00Z"
    value = to_utc(value)
    if value.year < 1000:  # isoformat and strftime agree on four-digit years only
        return value.strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ" if value.microsecond else "%Y-%m-%dT%H:%M:%SZ"
        )
    return value.replace(tzinfo=None).isoformat() + "Z"  # .ffffff only when microseconds
