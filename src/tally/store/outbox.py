"""The transactional outbox: an event row is written in the same database transaction as the change.

Event types are ``<object>.<what happened>`` (``transaction.applied``, ``ledger.created`` ...); the
payload is the object's wire view, so a webhook carries what a GET would return.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.ids import new_id
from tally.core.ledger.records import Kind, Status, TransactionRecord

from . import tables as t
from .event_payloads import lazy_payload


def event_row(
    event_type: str, payload: dict[str, Any], *, now: datetime, subject_id: str | None = None
) -> dict[str, Any]:
    return {
        "event_id": new_id("evt"),
        "type": event_type,
        "subject_id": subject_id,
        "payload": payload,
        "created_at": now,
    }


async def emit(
    conn: AsyncConnection,
    event_type: str,
    payload: dict[str, Any],
    *,
    now: datetime,
    subject_id: str | None = None,
) -> None:
    await conn.execute(
        t.events.insert(), [event_row(event_type, payload, now=now, subject_id=subject_id)]
    )


async def emit_many(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(t.events.insert(), rows)


def transaction_event_type(record: TransactionRecord) -> str:
    if record.kind == Kind.COMMIT:
        return "transaction.committed"
    if record.kind == Kind.VOID:
        return "transaction.voided"
    if record.kind == Kind.REFUND:
        return "transaction.refunded"
    if record.status == Status.INFLIGHT:
        return "transaction.inflight"
    if record.status == Status.SCHEDULED:
        return "transaction.scheduled"
    if record.status == Status.REJECTED:
        return "transaction.rejected"
    return "transaction.applied"


def transaction_event(record: TransactionRecord, *, now: datetime) -> dict[str, Any]:
    return event_row(
        transaction_event_type(record),
        lazy_payload(record),
        now=now,
        subject_id=record.transaction_id,
    )
