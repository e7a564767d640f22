"""Lots: soonest-expiring first, lots without expiry last, deficits paid first."""

from __future__ import annotations

from datetime import UTC, datetime

from tally.core.loyalty.lots import Lot, consume, pay_deficit


def day(n: int) -> datetime:
    return datetime(2026, 1, n, tzinfo=UTC)


def test_spending_takes_the_soonest_expiring_points_first() -> None:
    lots = [Lot("never", 50, None, 1), Lot("late", 50, day(20), 2), Lot("soon", 30, day(5), 3)]
    taken, short = consume(lots, 60)
    assert taken == [("soon", 30), ("late", 30)] and short == 0
    assert [lot.remaining for lot in lots] == [50, 20, 0]


def test_what_the_lots_cannot_cover_is_the_shortfall() -> None:
    taken, short = consume([Lot("a", 10, day(3), 1)], 25)
    assert taken == [("a", 10)] and short == 15


def test_a_credit_pays_the_deficit_before_it_becomes_spendable() -> None:
    assert pay_deficit(40, 50) == (10, 0)
    assert pay_deficit(40, 25) == (0, 15)
    assert pay_deficit(0, 25) == (25, 0)
