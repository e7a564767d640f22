"""Refunds: an applied transaction is reversed at most once, by a new row with the parties swapped.

- Refundable: an APPLIED transfer or an APPLIED commit of a hold. A refund is never refundable
  (Blnk would refund a refund; we do not), nor is a hold or a void.
- The refund's reference is ``<original id>_refund``; references are unique, so a second refund of
  the same transaction is refused by the database itself, across processes.
- The refund debits the original destination. It needs that balance's funds like any debit unless
  the request says ``allow_overdraft`` (Blnk always overdraws here; Tally keeps balances within
  their rules unless told otherwise).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tally.core.errors import NotRefundable
from tally.core.ids import new_id

from .records import Kind, Status, TransactionRecord


def refund_reference(original_id: str) -> str:
    return f"{original_id}_refund"


def check_refundable(original: TransactionRecord) -> None:
    if original.kind == Kind.REFUND:
        raise NotRefundable(
            f"transaction {original.transaction_id} is a refund; it cannot be refunded"
        )
    if original.status != Status.APPLIED:
        raise NotRefundable(
            f"transaction {original.transaction_id} is {original.status}; only applied "
            "transactions can be refunded (commit a hold first, then refund the commit)"
        )


def plan_refund(
    original: TransactionRecord,
    *,
    now: datetime,
    description: str | None = None,
    meta_data: dict[str, Any] | None = None,
) -> TransactionRecord:
    check_refundable(original)
    return TransactionRecord(
        transaction_id=new_id("txn"),
        parent_transaction=original.transaction_id,
        source=original.destination,
        destination=original.source,
        reference=refund_reference(original.transaction_id),
        precise_amount=original.precise_amount,
        precision=original.precision,
        currency=original.currency,
        status=Status.APPLIED,
        kind=Kind.REFUND,
        created_at=now,
        effective_date=now,
        description=description or f"Refund of {original.transaction_id}",
        meta_data={**original.meta_data, **(meta_data or {})},
    )
