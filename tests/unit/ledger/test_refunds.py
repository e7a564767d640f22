"""Refunds: an applied payment is reversed at most once, by a new row with the parties swapped."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tally.core.errors import NotRefundable
from tally.core.ledger.records import Kind, Status, TransactionRecord
from tally.core.ledger.refunds import check_refundable, plan_refund, refund_reference

BOUGHT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RETURNED = datetime(2026, 3, 5, 9, 30, tzinfo=UTC)


def purchase(**changes: object) -> TransactionRecord:
    """Alice bought shoes for USD 42.00."""
    record = TransactionRecord(
        transaction_id="txn_shoes",
        source="bln_alice",
        destination="bln_shop",
        reference="order-7",
        precise_amount=4200,
        precision=100,
        currency="USD",
        status=Status.APPLIED,
        kind=Kind.TRANSFER,
        created_at=BOUGHT,
        effective_date=BOUGHT,
        description="shoes",
        meta_data={"order": 7},
    )
    for name, value in changes.items():
        setattr(record, name, value)
    return record


def test_returning_the_shoes_moves_the_money_back() -> None:
    refund = plan_refund(purchase(), now=RETURNED)
    assert (refund.source, refund.destination) == ("bln_shop", "bln_alice")
    assert refund.precise_amount == 4200 and refund.precision == 100 and refund.currency == "USD"
    assert refund.status == Status.APPLIED and refund.kind == Kind.REFUND
    assert refund.parent_transaction == "txn_shoes"
    assert refund.created_at == refund.effective_date == RETURNED
    assert refund.transaction_id.startswith("txn_") and refund.transaction_id != "txn_shoes"


def test_the_refund_reference_is_derived_so_a_second_refund_collides() -> None:
    assert refund_reference("txn_shoes") == "txn_shoes_refund"
    assert plan_refund(purchase(), now=RETURNED).reference == "txn_shoes_refund"
    assert plan_refund(purchase(), now=RETURNED).reference == refund_reference("txn_shoes")


def test_the_refund_describes_itself_unless_told_otherwise() -> None:
    assert plan_refund(purchase(), now=RETURNED).description == "Refund of txn_shoes"
    told = plan_refund(purchase(), now=RETURNED, description="size too small")
    assert told.description == "size too small"


def test_the_refund_keeps_the_metadata_and_adds_its_own() -> None:
    refund = plan_refund(purchase(), now=RETURNED, meta_data={"reason": "size"})
    assert refund.meta_data == {"order": 7, "reason": "size"}


def test_a_committed_part_of_a_hold_is_refundable() -> None:
    commit = purchase(kind=Kind.COMMIT, parent_transaction="txn_hold")
    check_refundable(commit)
    assert plan_refund(commit, now=RETURNED).parent_transaction == "txn_shoes"


def test_a_refund_cannot_itself_be_refunded() -> None:
    refund = plan_refund(purchase(), now=RETURNED)
    with pytest.raises(NotRefundable, match="is a refund") as caught:
        plan_refund(refund, now=RETURNED)
    assert caught.value.code == "TXN_NOT_REFUNDABLE"


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"status": Status.INFLIGHT, "inflight": True}, "INFLIGHT"),
        ({"status": Status.VOID, "kind": Kind.VOID}, "VOID"),
        ({"status": Status.SCHEDULED}, "SCHEDULED"),
        ({"status": Status.REJECTED}, "REJECTED"),
    ],
    ids=["hold", "void", "scheduled", "rejected"],
)
def test_only_applied_money_can_be_refunded(changes: dict[str, object], status: str) -> None:
    with pytest.raises(NotRefundable, match=f"is {status}; only applied") as caught:
        check_refundable(purchase(**changes))
    assert caught.value.code == "TXN_NOT_REFUNDABLE"
