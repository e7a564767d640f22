"""Durations (``"30m"``, ``"14d"``), calendar periods for caps, and expiry dates (all UTC)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from .errors import LoyaltyInvalid

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
PERIODS = ("day", "week", "month", "year")


def parse_duration(value: object, *, field: str) -> int:
    """Seconds from an int, or a string such as ``"45s"``, ``"30m"``, ``"2h"``, ``"14d"``."""
    if isinstance(value, bool):
        raise LoyaltyInvalid(f"{field} must be seconds or a duration such as '30m'")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise LoyaltyInvalid(
            f"{field} must be seconds or a duration such as '45s', '30m', '2h', '14d', '1w'; "
            f"got {value!r}",
            details={"field": field},
        )
    if seconds < 0:
        raise LoyaltyInvalid(f"{field} cannot be negative", details={"field": field})
    return seconds


def period_start(period: str, at: datetime) -> datetime:
    """Start (UTC) of the calendar period containing ``at``; weeks start on Monday."""
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "year":
        return day.replace(month=1, day=1)
    raise LoyaltyInvalid(f"period must be one of {', '.join(PERIODS)}; got {period!r}")


def end_of(unit: str, at: datetime) -> datetime:
    """The last microsecond of the day, month or year containing ``at``."""
    if unit == "day":
        start = period_start("day", at) + timedelta(days=1)
    elif unit == "month":
        first = period_start("month", at)
        start = (
            first.replace(year=first.year + 1, month=1)
            if first.month == 12
            else first.replace(month=first.month + 1)
        )
    elif unit == "year":
        start = period_start("year", at).replace(year=at.year + 1)
    else:
        raise LoyaltyInvalid(f"round_to must be day, month or year; got {unit!r}")
    return start - timedelta(microseconds=1)
