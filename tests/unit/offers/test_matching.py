"""Rewards, matching and clawbacks as worked examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tally.core.cards.errors import CardFieldInvalid
from tally.core.offers.errors import CvvNotAccepted
from tally.core.offers.feed import parse_feed
from tally.core.offers.matching import Spend, choose, clawback
from tally.core.offers.model import CardOffer, Offer, PayWithPoints, parse_offer, parse_reward

NOW = datetime(2026, 3, 15, tzinfo=UTC)


def offer(reward: dict[str, object], **extra: object) -> Offer:
    body = {"merchant_id": "58725", "name": "BP", "currency": "EUR", "reward": reward, **extra}
    return parse_offer(body, offer_id=f"ofr_{len(str(reward))}_{len(extra)}", now=NOW)


def link(count: int = 0, status: str = "active") -> CardOffer:
    return CardOffer("cof_1", "card_1", "ofr_1", status, count, NOW, NOW)


def spend(amount: int = 4200, merchant: str = "58725") -> Spend:
    return Spend(merchant, amount, "EUR", NOW)


def test_worked_rewards() -> None:
    # 5% of EUR 42.00 is EUR 2.10; capped at EUR 1.00
    assert parse_reward({"type": "cashback", "percent": 5}).value(4200) == 210
    assert parse_reward({"type": "cashback", "percent": 5, "max_reward": 100}).value(4200) == 100
    # 2.5% of EUR 0.99 is 2.475 cents: rounded down to 2
    assert parse_reward({"type": "discount", "percent": "2.5"}).value(99) == 2
    # a fixed EUR 5.00 back never exceeds the spend
    assert parse_reward({"type": "cashback", "amount": 500}).value(300) == 300
    # 1% as points: 1 point per euro
    points = parse_reward({"type": "points", "percent": 1, "points_currency": "pts"})
    assert points.value(4200) == 42 and points.points_currency == "PTS"
    assert parse_reward({"type": "points", "amount": 500, "points_currency": "PTS"}).value(1) == 500


def test_pay_with_points_rounds_up() -> None:
    rule = PayWithPoints("PTS", Decimal("0.5"))
    assert rule.points_for(5001) == 2501 and rule.points_for(5000) == 2500


@pytest.mark.parametrize(
    "reward",
    [
        {"type": "cashback"},
        {"type": "cashback", "amount": 1, "percent": 1},
        {"type": "cashback", "percent": 0},
        {"type": "cashback", "percent": "1e400"},
        {"type": "cashback", "amount": 1, "max_reward": 5},
        {"type": "points", "amount": 1},
        {"type": "cashback", "amount": 1, "source": "nope"},
        "cashback",
    ],
)
def test_bad_rewards(reward: object) -> None:
    with pytest.raises(CardFieldInvalid):
        parse_reward(reward)


def test_the_largest_reward_wins_and_ties_go_to_the_newest() -> None:
    small = offer({"type": "cashback", "amount": 100})
    big = offer({"type": "cashback", "percent": 10})
    newer = offer({"type": "cashback", "amount": 420}, pos_text="x")
    newer.created_at = NOW + timedelta(seconds=1)
    match = choose([(small, link()), (big, link()), (newer, link())], spend())
    assert match.offer is newer and match.reward == 420
    assert [o["qualified"] for o in match.explanation["offers"]] == [True, True, True]


def test_every_reason_is_explained() -> None:
    o = offer(
        {"type": "cashback", "amount": 1},
        min_spend=5000,
        max_per_card=1,
        max_total=1,
        starts_at="2026-04-01T00:00:00Z",
        status="paused",
    )
    o.redemption_count = 1
    match = choose([(o, link(count=1, status="unlinked"))], Spend("1", 10, "USD", NOW))
    assert match.offer is None and match.explanation["reason"] == "no_offer_qualified"
    assert match.explanation["offers"][0]["reasons"] == [
        "link_inactive",
        "merchant_mismatch",
        "offer_paused",
        "offer_not_started",
        "currency_mismatch",
        "below_minimum_spend",
        "card_limit_reached",
        "total_limit_reached",
    ]
    assert choose([], spend()).explanation["reason"] == "no_linked_offers"
    ended = offer({"type": "cashback", "amount": 1}, ends_at="2026-03-15T00:00:00Z")
    assert choose([(ended, link())], spend()).explanation["offers"][0]["reasons"] == ["offer_ended"]
    tiny = offer({"type": "cashback", "percent": 1})
    assert choose([(tiny, link())], spend(amount=99)).explanation["offers"][0]["reasons"] == [
        "zero_reward"
    ]


def test_clawback_worked_example() -> None:
    # EUR 5.00 back on EUR 100.00; refunds of 50.01 then 49.99
    first = clawback(500, 10_000, 5_001, 0)
    assert first == 250
    assert clawback(500, 10_000, 10_000, first) == 250


@given(
    reward=st.integers(1, 10**6),
    spend=st.integers(1, 10**7),
    parts=st.lists(st.integers(1, 10**7), min_size=1, max_size=8),
)
def test_clawbacks_never_take_more_than_the_reward(
    reward: int, spend: int, parts: list[int]
) -> None:
    taken = refunded = 0
    for part in parts:
        refunded = min(spend, refunded + part)
        step = clawback(reward, spend, refunded, taken)
        assert step >= 0
        taken += step
        assert taken <= reward
    if refunded >= spend:
        assert taken == reward


def test_feed_messages() -> None:
    item, digits = parse_feed(
        {
            "id": "n1",
            "number": "4242 4242 4242 4242",
            "merchant_id": 58725,
            "amount": 100,
            "currency": "eur",
            "type": "clearing",
        },
        now=NOW,
    )
    assert digits == "4242424242424242" and item.card_id is None
    assert item.merchant_id == "58725" and item.currency == "EUR" and item.occurred_at == NOW
    base = {"id": "n1", "card_id": "card_1", "merchant_id": "1", "amount": 1, "currency": "EUR"}
    for bad in (
        {**base, "type": "void"},
        {**base, "type": "refund"},
        {**base, "type": "auth", "number": "4242424242424242"},
        {**base, "type": "auth", "amount": 0},
        {**base, "type": "auth", "id": ""},
    ):
        with pytest.raises(CardFieldInvalid):
            parse_feed(bad, now=NOW)
    with pytest.raises(CvvNotAccepted):
        parse_feed({**base, "type": "auth", "cvv": "123"}, now=NOW)
