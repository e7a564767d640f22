"""The retry policy: the Standard Webhooks schedule with jitter, 410, Retry-After, max age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tally.core.events.retry import (
    STANDARD_SCHEDULE,
    Outcome,
    State,
    decide,
    next_delay,
    parse_retry_after,
    parse_schedule,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _decide(
    outcome: Outcome,
    attempts: int,
    *,
    started: datetime = NOW,
    rand: float = 0.5,
    max_age: timedelta = timedelta(days=3),
) -> tuple[str, float | None, bool]:
    decision = decide(
        outcome,
        attempts=attempts,
        started_at=started,
        now=NOW,
        schedule=STANDARD_SCHEDULE,
        max_age=max_age,
        rand=lambda: rand,
    )
    gap = (
        None
        if decision.next_attempt_at is None
        else (decision.next_attempt_at - NOW).total_seconds()
    )
    return decision.state, gap, decision.disable_endpoint


def test_the_standard_schedule_spans_about_three_days() -> None:
    assert STANDARD_SCHEDULE[:3] == (5, 300, 1800)
    assert 3 * 86400 < sum(STANDARD_SCHEDULE) < 3.2 * 86400


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_any_2xx_is_success(status: int) -> None:
    assert _decide(Outcome(status, 12), 1) == (State.SUCCEEDED, None, False)


@pytest.mark.parametrize("status", [301, 400, 404, 429, 500, 503, None])
def test_other_answers_are_retried_on_schedule(status: int | None) -> None:
    assert _decide(Outcome(status, 12, error="x" if status is None else None), 1) == (
        State.PENDING,
        5.0,
        False,
    )
    assert _decide(Outcome(status, 12), 2)[1] == 300.0


def test_410_gone_disables_the_endpoint() -> None:
    state, gap, disable = _decide(Outcome(410, 3), 1)
    assert state == State.FAILED and gap is None and disable


def test_jitter_spreads_each_delay_by_ten_percent() -> None:
    assert next_delay(3, STANDARD_SCHEDULE, rand=lambda: 0.0) == pytest.approx(1620)
    assert next_delay(3, STANDARD_SCHEDULE, rand=lambda: 1.0) == pytest.approx(1980)
    assert next_delay(3, STANDARD_SCHEDULE, rand=lambda: 0.5) == pytest.approx(1800)


def test_gaps_grow() -> None:
    delays = [next_delay(n, STANDARD_SCHEDULE, rand=lambda: 0.5) for n in range(1, 10)]
    assert delays == sorted(delays) and len(set(delays)) == len(delays)


def test_the_schedule_runs_out() -> None:
    last = len(STANDARD_SCHEDULE)
    assert _decide(Outcome(500, 1), last, max_age=timedelta(days=30))[0] == State.PENDING
    assert _decide(Outcome(500, 1), last + 1, max_age=timedelta(days=30))[0] == State.FAILED


def test_no_attempt_after_the_maximum_age() -> None:
    started = NOW - timedelta(days=3) + timedelta(seconds=60)
    assert _decide(Outcome(500, 1), 2, started=started)[0] == State.FAILED
    assert _decide(Outcome(500, 1), 1, started=started)[0] == State.PENDING


def test_retry_after_asks_for_more_time() -> None:
    assert _decide(Outcome(429, 1, retry_after=120.0), 1)[1] == 120.0
    assert _decide(Outcome(429, 1, retry_after=1.0), 2)[1] == 300.0


def test_retry_after_reads_seconds_and_dates() -> None:
    assert parse_retry_after("30", now=NOW) == 30.0
    assert parse_retry_after("Sun, 01 Mar 2026 12:02:00 GMT", now=NOW) == 120.0
    assert parse_retry_after("999999", now=NOW) == 86400.0
    assert parse_retry_after("soon", now=NOW) is None
    assert parse_retry_after(None, now=NOW) is None


def test_a_schedule_from_configuration() -> None:
    assert parse_schedule("1, 2.5,10") == (1.0, 2.5, 10.0)
    with pytest.raises(ValueError):
        parse_schedule("")
    with pytest.raises(ValueError):
        parse_schedule("1,-2")
