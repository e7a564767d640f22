"""Authorization decisions: each decline reason, in order, and captures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tally.core.cards import authorization as a
from tally.core.cards.errors import (
    AuthorizationNotPending,
    CaptureExceedsAuthorization,
    CardFieldInvalid,
    CardStateConflict,
)
from tally.core.cards.model import Limits, VirtualCard, next_state, parse_issued_details

NOW = datetime(2026, 3, 15, 18, 30, tzinfo=UTC)


def card(state: str = "ACTIVE", **limits: int) -> VirtualCard:
    return VirtualCard(
        "vcard_1",
        "idt_1",
        "identity",
        "USD",
        "ldg_1",
        "bln_1",
        state,
        Limits(**limits),
        NOW,
        NOW,
        merchant_lock=["58725"],
    )


def request(
    amount: int = 1000, currency: str = "USD", merchant: str = "58725"
) -> a.AuthorizationRequest:
    return a.AuthorizationRequest(amount, currency, merchant)


def test_declines_in_order() -> None:
    assert a.static_decline(card("CLOSED"), request(currency="EUR"))[0] == "card_closed"  # type: ignore[index]
    assert a.static_decline(card("BLOCKED"), request())[0] == "card_blocked"  # type: ignore[index]
    assert a.static_decline(card(), request(currency="EUR"))[0] == "currency_mismatch"  # type: ignore[index]
    assert a.static_decline(card(), request(merchant="1"))[0] == "merchant_not_allowed"  # type: ignore[index]
    assert a.static_decline(card(per_authorization=999), request())[0] == "limit_exceeded"  # type: ignore[index]
    assert a.static_decline(card(per_authorization=1000), request()) is None


def test_daily_limit_counts_what_was_approved_today() -> None:
    assert a.daily_decline(card(per_day=5000), 1000, 4000) is None
    reason = a.daily_decline(card(per_day=5000), 1001, 4000)
    assert reason is not None and reason[0] == "limit_exceeded"
    assert a.daily_decline(card(), 10**9, 10**9) is None
    assert a.day_start(NOW) == datetime(2026, 3, 15, tzinfo=UTC)


def test_the_hold_goes_to_the_network_indicator() -> None:
    auth = a.Authorization(
        "auth_1", "vcard_1", 1234, "USD", "58725", "BP", "5541", a.AuthStatus.PENDING, NOW, NOW
    )
    plan = a.hold_plan(card(), auth, now=NOW)
    assert plan.inflight and plan.total == 1234 and plan.reference == "auth_1"
    assert (plan.legs[0].source, plan.legs[0].destination) == ("bln_1", "@CardNetwork")


def test_capture_amounts() -> None:
    auth = a.Authorization(
        "auth_1", "vcard_1", 1000, "USD", "1", "", "", a.AuthStatus.PENDING, NOW, NOW
    )
    assert a.capture_amount(auth, None) == 1000
    assert a.capture_amount(auth, 400) == 400
    with pytest.raises(CaptureExceedsAuthorization):
        a.capture_amount(auth, 1001)
    with pytest.raises(CardFieldInvalid):
        a.capture_amount(auth, 10.5)
    auth.status = a.AuthStatus.EXPIRED
    with pytest.raises(AuthorizationNotPending):
        a.capture_amount(auth, None)


def test_state_machine_closed_is_final() -> None:
    assert next_state(card(), "block") == "BLOCKED"
    assert next_state(card("BLOCKED"), "unblock") == "ACTIVE"
    assert next_state(card("BLOCKED"), "close") == "CLOSED"
    for action in ("block", "unblock", "close"):
        with pytest.raises(CardStateConflict, match="closed"):
            next_state(card("CLOSED"), action)
    with pytest.raises(CardStateConflict):
        next_state(card(), "unblock")


def test_issued_details_split_into_shown_and_sealed() -> None:
    shown, sealed = parse_issued_details(
        {"number": "5200 8282 8282 8210", "cvv": "123", "exp_month": 1, "exp_year": 2030}, now=NOW
    )
    assert (shown.last4, shown.brand) == ("8210", "mastercard")
    assert sealed == {"number": "5200828282828210", "exp_month": 1, "exp_year": 2030, "cvv": "123"}
    assert "123" not in repr(shown)
