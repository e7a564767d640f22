"""Inflight holds: partial commits until nothing remains, voids, and the codes for each refusal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tally.core.errors import (
    AlreadyCommitted,
    AlreadyVoided,
    CommitAmountExceeded,
    InvalidAmount,
    NotInflight,
)
from tally.core.ledger.holds import HoldState, commit_amount, plan_commit, plan_void
from tally.core.ledger.records import Kind, Status, TransactionRecord

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def card_hold(amount: int = 8000, **changes: object) -> TransactionRecord:
    """A USD 80.00 authorization on Alice's card at the shop."""
    record = TransactionRecord(
        transaction_id="txn_hold",
        source="bln_alice",
        destination="bln_shop",
        reference="auth-1",
        precise_amount=amount,
        precision=100,
        currency="USD",
        status=Status.INFLIGHT,
        kind=Kind.TRANSFER,
        created_at=NOW,
        effective_date=NOW,
        description="hotel",
        meta_data={"card": "4242"},
        inflight=True,
    )
    for name, value in changes.items():
        setattr(record, name, value)
    return record


# ---- how much a commit asks for ---------------------------------------------------------------


def test_a_commit_amount_is_read_at_the_precision_of_the_hold() -> None:
    assert commit_amount(card_hold(), 30, None) == 3000
    assert commit_amount(card_hold(), 30.25, None) == 3025


def test_a_commit_may_name_minor_units() -> None:
    assert commit_amount(card_hold(), None, 3000) == 3000
    assert commit_amount(card_hold(), None, "3000") == 3000


def test_no_amount_means_everything_that_remains() -> None:
    assert commit_amount(card_hold(), None, None) is None
    assert commit_amount(card_hold(), 0, 0) is None


@pytest.mark.parametrize(
    ("amount", "precise"), [(-30, None), (None, -1), (None, "0"), (30.001, None), (None, "abc")]
)
def test_a_commit_amount_must_be_positive_and_exact(amount: object, precise: object) -> None:
    with pytest.raises(InvalidAmount) as caught:
        commit_amount(card_hold(), amount, precise)
    assert caught.value.code == "TXN_INVALID_AMOUNT"


# ---- committing -------------------------------------------------------------------------------


def test_hotel_commits_the_bill_in_parts_until_the_hold_is_used_up() -> None:
    state = HoldState(card_hold())
    first = plan_commit(state, 3000, now=NOW)
    second = plan_commit(state, 4000, now=NOW)
    last = plan_commit(state, None, now=NOW)
    assert [r.precise_amount for r in (first, second, last)] == [3000, 4000, 1000]
    assert [r.reference for r in (first, second, last)] == [
        "auth-1-commit-1",
        "auth-1-commit-2",
        "auth-1-commit-3",
    ]
    assert state.remaining == 0 and state.committed == 8000 and state.commits == 3
    with pytest.raises(AlreadyCommitted, match="already committed") as caught:
        plan_commit(state, None, now=NOW)
    assert caught.value.code == "TXN_ALREADY_COMMITTED"


def test_a_commit_row_is_applied_money_from_the_same_parties() -> None:
    state = HoldState(card_hold())
    row = plan_commit(state, 3000, now=NOW, meta_data={"invoice": "A1"})
    assert row.status == Status.APPLIED and row.kind == Kind.COMMIT
    assert row.parent_transaction == "txn_hold"
    assert (row.source, row.destination, row.currency, row.precision) == (
        "bln_alice",
        "bln_shop",
        "USD",
        100,
    )
    assert row.meta_data == {"card": "4242", "invoice": "A1"}
    assert row.transaction_id.startswith("txn_") and row.transaction_id != "txn_hold"


def test_committing_more_than_remains_is_refused_and_changes_nothing() -> None:
    state = HoldState(card_hold())
    plan_commit(state, 3000, now=NOW)
    with pytest.raises(CommitAmountExceeded, match="5000 remaining, 6000 requested") as caught:
        plan_commit(state, 6000, now=NOW)
    assert caught.value.code == "TXN_COMMIT_AMOUNT_EXCEEDED"
    assert state.remaining == 5000 and state.commits == 1


def test_committing_more_than_the_whole_hold_is_refused() -> None:
    with pytest.raises(CommitAmountExceeded):
        plan_commit(HoldState(card_hold()), 8001, now=NOW)


# ---- voiding ----------------------------------------------------------------------------------


def test_voiding_releases_what_remains_after_a_partial_commit() -> None:
    state = HoldState(card_hold())
    plan_commit(state, 3000, now=NOW)
    void = plan_void(state, now=NOW)
    assert void.precise_amount == 5000 and void.status == Status.VOID and void.kind == Kind.VOID
    assert void.reference == "auth-1-void" and void.parent_transaction == "txn_hold"
    assert state.remaining == 0


def test_a_voided_hold_cannot_be_committed() -> None:
    state = HoldState(card_hold())
    plan_void(state, now=NOW)
    with pytest.raises(AlreadyVoided, match="already been voided") as caught:
        plan_commit(state, None, now=NOW)
    assert caught.value.code == "TXN_ALREADY_VOIDED"


def test_a_voided_hold_cannot_be_voided_again() -> None:
    state = HoldState(card_hold())
    plan_void(state, now=NOW)
    with pytest.raises(AlreadyVoided):
        plan_void(state, now=NOW)


def test_a_fully_committed_hold_cannot_be_voided() -> None:
    state = HoldState(card_hold())
    plan_commit(state, None, now=NOW)
    with pytest.raises(AlreadyCommitted, match="cannot void"):
        plan_void(state, now=NOW)


def test_state_read_back_from_earlier_rows_is_respected() -> None:
    state = HoldState(card_hold(), committed=3000, voided=0, commits=1)
    assert plan_commit(state, None, now=NOW).precise_amount == 5000
    assert state.commits == 2


# ---- only holds can be settled -----------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"status": Status.APPLIED, "inflight": False},
        {"status": Status.VOID, "kind": Kind.VOID},
        {"status": Status.APPLIED, "kind": Kind.COMMIT},
        {"status": Status.APPLIED, "kind": Kind.REFUND},
        {"status": Status.SCHEDULED},
    ],
    ids=["applied-payment", "void-row", "commit-row", "refund-row", "scheduled"],
)
def test_only_an_inflight_hold_can_be_committed_or_voided(changes: dict[str, object]) -> None:
    state = HoldState(card_hold(**changes))
    with pytest.raises(NotInflight, match="not in inflight status") as caught:
        plan_commit(state, None, now=NOW)
    assert caught.value.code == "TXN_NOT_INFLIGHT"
    with pytest.raises(NotInflight):
        plan_void(state, now=NOW)
