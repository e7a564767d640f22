"""When to try a webhook delivery again, and when to give up.

The schedule follows the Standard Webhooks recommendation: an immediate first attempt, then 5 s,
5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h after each failure (about three days in all),
each delay spread by +/-10 % jitter so that a receiver coming back is not hit by every retry at
once. A delivery stops when the schedule is used up or when the next attempt would fall after the
maximum age (three days by default) counted from the start of the delivery. ``Retry-After`` on a
429 or 503 answer is honoured when it asks for more time than the schedule.

Outcomes: any 2xx is success; 410 Gone disables the endpoint; everything else (3xx, 4xx, 5xx, a
timeout, a refused connection) is a failure that is retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

STANDARD_SCHEDULE: tuple[float, ...] = (
    5,
    300,
    1800,
    7200,
    18000,
    36000,
    50400,
    72000,
    86400,
)
JITTER = 0.10
MAX_RETRY_AFTER = 24 * 3600.0


class State:
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt produced."""

    status_code: int | None
    latency_ms: int
    error: str | None = None
    response_excerpt: str | None = None
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


@dataclass(frozen=True, slots=True)
class Decision:
    state: str
    next_attempt_at: datetime | None
    disable_endpoint: bool = False
    reason: str | None = None


def next_delay(
    attempts: int, schedule: tuple[float, ...], *, rand: Callable[[], float]
) -> float | None:
    """Seconds to wait after ``attempts`` failed attempts, or None when the schedule is used up."""
    if attempts < 1 or attempts > len(schedule):
        return None
    base = float(schedule[attempts - 1])
    return max(0.0, base + base * JITTER * (2.0 * rand() - 1.0))


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date), capped at a day."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(0.0, (when - now).total_seconds()), MAX_RETRY_AFTER)


def decide(
    outcome: Outcome,
    *,
    attempts: int,
    started_at: datetime,
    now: datetime,
    schedule: tuple[float, ...],
    max_age: timedelta,
    rand: Callable[[], float],
) -> Decision:
    """The delivery's next state after its ``attempts``-th attempt ended with ``outcome``."""
    if outcome.succeeded:
        return Decision(State.SUCCEEDED, None)
    if outcome.gone:
        return Decision(
            State.FAILED,
            None,
            disable_endpoint=True,
            reason="the endpoint answered 410 Gone and was disabled",
        )
    delay = next_delay(attempts, schedule, rand=rand)
    if delay is None:
        return Decision(State.FAILED, None, reason=f"gave up after {attempts} attempts")
    if outcome.retry_after is not None:
        delay = max(delay, outcome.retry_after)
    when = now + timedelta(seconds=delay)
    if when > started_at + max_age:
        return Decision(
            State.FAILED, None, reason=f"gave up: no success within {format_age(max_age)}"
        )
    return Decision(State.PENDING, when)


def format_age(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hours"
    return f"{seconds} seconds"


def parse_schedule(text: str) -> tuple[float, ...]:
    """``"5,300,1800"`` -> (5.0, 300.0, 1800.0); raises ValueError on a bad entry."""
    values = tuple(float(part) for part in text.split(",") if part.strip())
    if not values or any(v < 0 for v in values):
        raise ValueError(f"a retry schedule is a comma-separated list of seconds; got {text!r}")
    return values
