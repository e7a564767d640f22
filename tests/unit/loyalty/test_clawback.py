"""Clawback arithmetic: seed 002's table, cumulative rounding, caps."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tally.core.loyalty.clawback import plan_clawback, proportional


def test_seed_table_full_and_partial_refunds() -> None:
    assert proportional(42, 4200, 0, 4200) == 42
    assert proportional(42, 4200, 0, 2100) == 21


def test_three_refunds_of_a_third_claw_back_exactly_what_was_earned() -> None:
    parts = [proportional(10, 300, done, 100) for done in (0, 100, 200)]
    assert parts == [3, 3, 4] and sum(parts) == 10


def test_a_fully_discounted_payment_is_refunded_once_in_full() -> None:
    assert proportional(500, 0, 0, 0) == 500
    assert proportional(500, 0, 0 + 1, 0) == 0


def test_pending_points_go_first_then_the_account() -> None:
    plan = plan_clawback(42, pending_left=30, available=100, allow_negative=True)
    assert (plan.from_pending, plan.from_account, plan.capped) == (30, 12, 0)


def test_without_allow_negative_the_clawback_stops_at_what_is_available() -> None:
    plan = plan_clawback(42, pending_left=0, available=2, allow_negative=False)
    assert (plan.points, plan.capped) == (2, 40)
    assert plan_clawback(42, pending_left=0, available=-5, allow_negative=False).points == 0


@given(st.integers(0, 10**6), st.integers(1, 10**6), st.lists(st.integers(1, 10**5), max_size=8))
def test_clawbacks_never_exceed_the_earn(earned: int, charged: int, refunds: list[int]) -> None:
    done = total = 0
    for amount in refunds:
        amount = min(amount, charged - done)
        if amount <= 0:
            break
        total += proportional(earned, charged, done, amount)
        done += amount
    assert 0 <= total <= earned
    if done == charged:
        assert total == earned
