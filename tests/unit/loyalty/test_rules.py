"""Earning rules as worked examples (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tally.core.loyalty.errors import LoyaltyInvalid
from tally.core.loyalty.rules import PeriodCap, Purchase, evaluate, parse_rules, usage_keys
from tally.core.loyalty.timing import period_start

AT = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)
BASE = {"name": "base", "type": "rate", "currency": "eur", "points": 1, "per_amount": 100}


def buy(amount: int, **metadata: object) -> Purchase:
    return Purchase(amount, "eur", dict(metadata), AT)


def test_one_point_per_eur_earns_42_for_eur_42_and_floors_the_cents() -> None:
    rules = parse_rules([BASE])
    assert evaluate(rules, buy(4200), usage={}).points == 42
    assert evaluate(rules, buy(4299), usage={}).points == 42
    assert evaluate(rules, buy(99), usage={}).points == 0


def test_a_rule_in_another_currency_does_not_apply_and_says_why() -> None:
    result = evaluate(parse_rules([BASE]), Purchase(4200, "usd", {}, AT), usage={})
    assert result.points == 0
    assert result.outcomes[0].applied is False
    assert "usd" in result.outcomes[0].reason


def test_multiplier_doubles_books_and_minimum_spend_gates_the_bonus() -> None:
    rules = parse_rules(
        [
            BASE,
            {
                "name": "books x2",
                "type": "multiplier",
                "factor": "2",
                "priority": 1,
                "conditions": {"metadata": {"category": ["books", "comics"]}},
            },
            {
                "name": "big basket",
                "type": "fixed",
                "points": 10,
                "priority": 2,
                "conditions": {"min_amount": 5000},
            },
        ]
    )
    assert evaluate(rules, buy(4200, category="books"), usage={}).points == 84
    assert evaluate(rules, buy(4200, category="food"), usage={}).points == 42
    assert evaluate(rules, buy(6000, category="comics"), usage={}).points == 130
    why = evaluate(rules, buy(4200, category="food"), usage={}).outcomes
    assert [o.applied for o in why] == [True, False, False]
    assert "minimum spend" in why[2].reason


def test_half_multiplier_floors() -> None:
    rules = parse_rules(
        [BASE, {"name": "x1.5", "type": "multiplier", "factor": "1.5", "priority": 1}]
    )
    assert evaluate(rules, buy(4300), usage={}).points == 43 + 21


def test_caps_per_payment_and_per_member_per_period() -> None:
    rules = parse_rules(
        [{**BASE, "cap_per_payment": 100, "cap_per_member": {"points": 150, "period": "month"}}]
    )
    assert evaluate(rules, buy(50000), usage={}).points == 100
    key = ("base", period_start("month", AT))
    result = evaluate(rules, buy(50000), usage={key: 120})
    assert result.points == 30 and result.usage == {key: 30}
    assert usage_keys(rules, None, AT) == {key}


def test_program_caps_apply_after_the_rules() -> None:
    rules = parse_rules([BASE])
    cap = PeriodCap(50, "day")
    result = evaluate(
        rules,
        buy(4200),
        usage={("*", period_start("day", AT)): 30},
        cap_per_payment=40,
        cap_per_member=cap,
    )
    assert result.points == 20
    assert result.outcomes[-1].rule == "program caps"


def test_time_windows_priority_and_stacking() -> None:
    rules = parse_rules(
        [
            {**BASE, "priority": 5},
            {
                "name": "launch week",
                "type": "rate",
                "currency": "eur",
                "points": 3,
                "per_amount": 100,
                "priority": 0,
                "stackable": False,
                "conditions": {
                    "active_from": "2026-03-01T00:00:00Z",
                    "active_until": "2026-03-08T00:00:00Z",
                },
            },
        ]
    )
    during = evaluate(rules, buy(1000), usage={})
    assert during.points == 30
    assert during.outcomes[1].reason.startswith("not evaluated")
    after = evaluate(rules, Purchase(1000, "eur", {}, datetime(2026, 3, 9, tzinfo=UTC)), usage={})
    assert after.points == 10


@pytest.mark.parametrize(
    "bad",
    [
        [{"name": "r", "type": "rate", "points": 1}],
        [{"name": "r", "type": "bonus", "points": 1}],
        [{"name": "r", "type": "multiplier", "factor": "0.5"}],
        [{"name": "r", "type": "fixed", "points": -3}],
        [BASE, BASE],
        [{**BASE, "cap_per_member": {"points": 5, "period": "fortnight"}}],
    ],
)
def test_bad_rules_are_refused(bad: list[dict[str, object]]) -> None:
    with pytest.raises(LoyaltyInvalid):
        parse_rules(bad)
