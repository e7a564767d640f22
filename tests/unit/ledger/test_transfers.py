"""From a transaction request to legs: every rule a request must pass before touching money."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tally.core.errors import (
    InvalidAmount,
    InvalidDistribution,
    PrecisionNotInteger,
    TallyError,
    TransactionInvalid,
)
from tally.core.ledger.distribution import Share
from tally.core.ledger.transfers import TransferRequest, plan_transfer

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def payment(**changes: Any) -> TransferRequest:
    """Alice pays the shop USD 42.50."""
    request = TransferRequest(
        currency="USD",
        reference="order-1",
        description="order 1",
        amount=42.5,
        precision=100,
        source="bln_alice",
        destination="bln_shop",
    )
    return replace(request, **changes)


def refused(request: TransferRequest) -> TallyError:
    with pytest.raises(TallyError) as caught:
        plan_transfer(request, now=NOW)
    return caught.value


# ---- a plain payment --------------------------------------------------------------------------


def test_a_payment_becomes_one_leg_with_the_transaction_id_and_reference() -> None:
    plan = plan_transfer(payment(transaction_id="txn_fixed"), now=NOW)
    assert plan.transaction_id == "txn_fixed"
    assert plan.total == 4250 and plan.precision == 100 and plan.currency == "USD"
    assert [
        (leg.transaction_id, leg.reference, leg.source, leg.destination, leg.amount)
        for leg in plan.legs
    ] == [("txn_fixed", "order-1", "bln_alice", "bln_shop", 4250)]
    assert not plan.multi and not plan.inflight


def test_a_new_transaction_id_is_minted_when_none_is_given() -> None:
    first, second = plan_transfer(payment(), now=NOW), plan_transfer(payment(), now=NOW)
    assert first.transaction_id.startswith("txn_")
    assert first.transaction_id != second.transaction_id


def test_precise_amount_is_taken_as_minor_units() -> None:
    plan = plan_transfer(payment(amount=None, precise_amount=123456789012345678901), now=NOW)
    assert plan.total == 123456789012345678901


def test_the_request_flags_and_metadata_are_kept() -> None:
    plan = plan_transfer(
        payment(inflight=True, atomic=True, allow_overdraft=True, meta_data={"order": 1}), now=NOW
    )
    assert plan.inflight and plan.atomic and plan.overdraft.allow
    assert plan.meta_data == {"order": 1}


def test_the_overdraft_limit_is_given_in_major_units_and_kept_in_minor_units() -> None:
    assert plan_transfer(payment(overdraft_limit=50), now=NOW).overdraft.limit == 5000
    assert plan_transfer(payment(overdraft_limit=0), now=NOW).overdraft.limit == 0


def test_indicators_are_parties_like_balances() -> None:
    plan = plan_transfer(payment(source="@World"), now=NOW)
    assert plan.legs[0].source == "@World"


# ---- what a request must carry ----------------------------------------------------------------


@pytest.mark.parametrize("field", ["currency", "reference"])
@pytest.mark.parametrize("blank", [None, "", "   "])
def test_currency_and_reference_are_required(field: str, blank: str | None) -> None:
    error = refused(payment(**{field: blank}))
    assert isinstance(error, TransactionInvalid)
    assert error.code == "TXN_VALIDATION_ERROR"
    assert error.message == f"{field}: cannot be blank."
    assert error.details == {"field": field}


def test_a_reference_longer_than_512_characters_is_refused() -> None:
    assert "longer than 512" in refused(payment(reference="r" * 513)).message
    assert plan_transfer(payment(reference="r" * 512), now=NOW).reference == "r" * 512


def test_metadata_must_be_an_object() -> None:
    assert refused(payment(meta_data=["a"])).message == "meta_data must be an object"


def test_a_fractional_precision_is_refused() -> None:
    assert isinstance(refused(payment(precision=2.5)), PrecisionNotInteger)


def test_amount_and_precise_amount_together_are_refused() -> None:
    error = refused(payment(precise_amount=4250))
    assert error.code == "TXN_VALIDATION_ERROR" and "not both" in error.message


@pytest.mark.parametrize("amount", [0, None])
def test_an_amount_is_required(amount: float | None) -> None:
    assert "is required" in refused(payment(amount=amount)).message


@pytest.mark.parametrize("amount", [-42.5, 1.005, 1e300])
def test_bad_amounts_are_refused(amount: float) -> None:
    assert isinstance(refused(payment(amount=amount)), InvalidAmount)


@pytest.mark.parametrize("limit", [-50, 0.005])
def test_a_negative_or_inexact_overdraft_limit_is_refused(limit: float) -> None:
    error = refused(payment(overdraft_limit=limit))
    assert isinstance(error, InvalidAmount) and "overdraft_limit" in error.message


# ---- parties ----------------------------------------------------------------------------------


def test_paying_yourself_is_refused() -> None:
    error = refused(payment(destination="bln_alice"))
    assert error.code == "TXN_VALIDATION_ERROR"
    assert "source and destination cannot be the same balance" in error.message


def test_paying_yourself_through_a_split_is_refused() -> None:
    request = payment(
        destination=None, destinations=[Share("bln_shop", "50%"), Share("bln_alice", "left")]
    )
    assert "cannot be the same balance" in refused(request).message


def test_collecting_from_yourself_through_a_split_is_refused() -> None:
    request = payment(source=None, sources=[Share("bln_shop", "50%"), Share("bln_bob", "left")])
    assert "cannot be the same balance" in refused(request).message


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"source": None}, "give exactly one of source or sources"),
        ({"sources": [Share("bln_bob", "left")]}, "give exactly one of source or sources"),
        ({"destination": None}, "give exactly one of destination or destinations"),
        (
            {"destinations": [Share("bln_bob", "left")]},
            "give exactly one of destination or destinations",
        ),
        (
            {
                "source": None,
                "destination": None,
                "sources": [Share("bln_a", "left")],
                "destinations": [Share("bln_b", "left")],
            },
            "cannot both have several legs",
        ),
        ({"source": ""}, "source: cannot be blank."),
        ({"destination": "  "}, "destination: cannot be blank."),
        ({"source": "@ World"}, "must be '@' and no spaces"),
    ],
    ids=[
        "no-source",
        "source-and-sources",
        "no-destination",
        "destination-and-destinations",
        "both-sides-split",
        "blank-source",
        "blank-destination",
        "indicator-with-space",
    ],
)
def test_each_side_names_its_parties_once(changes: dict[str, Any], message: str) -> None:
    assert message in refused(payment(**changes)).message


# ---- splits -----------------------------------------------------------------------------------


def test_a_split_payment_has_one_leg_per_destination_with_derived_references() -> None:
    request = payment(
        amount=100,
        destination=None,
        destinations=[Share("bln_a", "10%"), Share("bln_b", "20"), Share("bln_c", "left")],
    )
    plan = plan_transfer(request, now=NOW)
    assert plan.multi and plan.total == 10000
    assert [(leg.destination, leg.amount, leg.reference) for leg in plan.legs] == [
        ("bln_a", 1000, "order-1"),
        ("bln_b", 2000, "order-1-2"),
        ("bln_c", 7000, "order-1-3"),
    ]
    assert all(leg.source == "bln_alice" for leg in plan.legs)
    ids = {leg.transaction_id for leg in plan.legs}
    assert len(ids) == 3 and plan.transaction_id not in ids


def test_a_split_collection_has_one_leg_per_source() -> None:
    request = payment(
        amount=10, source=None, sources=[Share("bln_a", "50%"), Share("bln_b", "50%")]
    )
    plan = plan_transfer(request, now=NOW)
    assert [(leg.source, leg.destination, leg.amount) for leg in plan.legs] == [
        ("bln_a", "bln_shop", 500),
        ("bln_b", "bln_shop", 500),
    ]


def test_a_split_that_does_not_add_up_is_refused() -> None:
    request = payment(destination=None, destinations=[Share("bln_a", "60%"), Share("bln_b", "60%")])
    assert isinstance(refused(request), InvalidDistribution)


# ---- dates ------------------------------------------------------------------------------------


def test_an_effective_date_is_parsed_as_utc() -> None:
    plan = plan_transfer(payment(effective_date="2026-02-28T10:00:00+02:00"), now=NOW)
    assert plan.effective_date == datetime(2026, 2, 28, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("field", ["effective_date", "scheduled_for", "inflight_expiry_date"])
@pytest.mark.parametrize("value", ["yesterday", "2026-13-01T00:00:00Z", "2026-03-01T00:00:00"])
def test_a_bad_date_is_refused_with_the_field_named(field: str, value: str) -> None:
    error = refused(payment(inflight=True, **{field: value}))
    assert error.code == "TXN_VALIDATION_ERROR"
    assert error.details == {"field": field}
    assert field in error.message


def test_blnk_zero_time_means_no_date() -> None:
    plan = plan_transfer(payment(effective_date="0001-01-01T00:00:00Z", scheduled_for=""), now=NOW)
    assert plan.effective_date is None and plan.scheduled_for is None


def test_a_scheduled_date_in_the_past_means_now() -> None:
    past = (NOW - timedelta(days=1)).isoformat()
    assert plan_transfer(payment(scheduled_for=past), now=NOW).scheduled_for is None


def test_a_scheduled_date_in_the_future_is_kept() -> None:
    later = NOW + timedelta(days=1)
    assert plan_transfer(payment(scheduled_for=later.isoformat()), now=NOW).scheduled_for == later


def test_a_hold_may_expire_in_the_future() -> None:
    later = NOW + timedelta(minutes=30)
    plan = plan_transfer(payment(inflight=True, inflight_expiry_date=later.isoformat()), now=NOW)
    assert plan.inflight_expiry_date == later


def test_an_expiry_date_needs_a_hold() -> None:
    later = (NOW + timedelta(minutes=30)).isoformat()
    assert "needs inflight: true" in refused(payment(inflight_expiry_date=later)).message


def test_an_expiry_date_in_the_past_is_refused() -> None:
    past = (NOW - timedelta(minutes=1)).isoformat()
    error = refused(payment(inflight=True, inflight_expiry_date=past))
    assert "must be in the future" in error.message
