"""The ledger's own due work: holds whose ``inflight_expiry_date`` passed are voided, and
transactions posted with a future ``scheduled_for`` are applied when due.

The relay creates these jobs from the outbox (``transaction.inflight`` events with an expiry,
``transaction.scheduled`` events), in the same database transaction that advances its position,
so a job exists for every such transaction, across restarts.

Applying a scheduled row posts a new transaction through the engine: same parties, amount and
overdraft rule, ``reference = <reference>_applied``, ``parent_transaction`` = the scheduled row.
If the ledger refuses it (insufficient funds, a closed balance ...), a ``REJECTED`` row
(``<reference>_rejected``, no balance effect, the reason in ``meta_data.blnk_rejection_reason``)
is written and ``transaction.rejected`` emitted instead. Either outcome happens exactly once.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.clock import ZERO_TIME, parse_timestamp
from tally.core.errors import (
    AlreadyCommitted,
    AlreadyVoided,
    DuplicateReference,
    NotInflight,
    TallyError,
    TransactionNotFound,
    Unavailable,
)
from tally.core.ids import new_id
from tally.core.ledger.balances import Overdraft
from tally.core.ledger.records import Kind, Status, TransactionRecord
from tally.core.ledger.transfers import Leg, TransferPlan
from tally.store import jobs_repo, ledger_repo
from tally.store import tables as t
from tally.store.outbox import transaction_event
from tally.store.rows import transaction_to_row

from .scheduler import Job, register_job_handler

if TYPE_CHECKING:
    from tally.services import Services

HOLD_EXPIRY = "ledger.hold_expiry"
SCHEDULED_TRANSACTION = "ledger.scheduled_transaction"
EXPIRY_META = {"voided_by": "inflight_expiry"}


async def expire_hold(services: Services, job: Job) -> None:
    """Void what remains of the hold; a hold already committed or voided is left alone."""
    try:
        await services.engine.void(job.subject_id, meta_data=dict(EXPIRY_META))
    except (AlreadyVoided, AlreadyCommitted, NotInflight, TransactionNotFound):
        return


def applied_reference(reference: str) -> str:
    return f"{reference}_applied"


def rejected_reference(reference: str) -> str:
    return f"{reference}_rejected"


async def apply_scheduled(services: Services, job: Job) -> None:
    async with services.db.read() as conn:
        try:
            row = await ledger_repo.get_transaction(conn, job.subject_id)
        except TransactionNotFound:
            return
        if row.status != Status.SCHEDULED or await _settled(conn, row.reference):
            return
    plan = _plan(row, now=services.clock.now())
    try:
        await services.engine.post(plan)
    except DuplicateReference:
        return
    except Unavailable:
        raise
    except TallyError as exc:
        await _reject(services, row, exc)


async def _settled(conn: AsyncConnection, reference: str) -> bool:
    refs = [applied_reference(reference), rejected_reference(reference)]
    found = await conn.execute(
        sa.select(t.transactions.c.id).where(t.transactions.c.reference.in_(refs)).limit(1)
    )
    return found.first() is not None


def _plan(row: TransactionRecord, *, now: datetime) -> TransferPlan:
    reference = applied_reference(row.reference)
    txn_id = new_id("txn")
    expiry = row.inflight_expiry_date
    if not row.inflight or expiry is None or expiry <= now:
        expiry = None
    return TransferPlan(
        transaction_id=txn_id,
        reference=reference,
        currency=row.currency,
        precision=row.precision,
        total=row.precise_amount,
        legs=[Leg(txn_id, reference, row.source, row.destination, row.precise_amount)],
        description=row.description,
        meta_data={**row.meta_data, "scheduled_transaction": row.transaction_id},
        inflight=row.inflight,
        overdraft=Overdraft(allow=row.allow_overdraft, limit=row.overdraft_limit),
        effective_date=None,
        inflight_expiry_date=expiry,
        parent_transaction=row.transaction_id,
    )


async def _reject(services: Services, row: TransactionRecord, exc: TallyError) -> None:
    now = services.clock.now()
    record = TransactionRecord(
        transaction_id=new_id("txn"),
        parent_transaction=row.transaction_id,
        source=row.source,
        destination=row.destination,
        reference=rejected_reference(row.reference),
        precise_amount=row.precise_amount,
        precision=row.precision,
        currency=row.currency,
        status=Status.REJECTED,
        kind=Kind.TRANSFER,
        created_at=now,
        effective_date=now,
        description=row.description,
        meta_data={
            **row.meta_data,
            "scheduled_transaction": row.transaction_id,
            "blnk_rejection_reason": exc.message,
            "rejection_code": exc.code,
        },
        allow_overdraft=row.allow_overdraft,
        overdraft_limit=row.overdraft_limit,
        inflight=row.inflight,
    )
    try:
        async with services.db.write() as conn:
            if await _settled(conn, row.reference):
                return
            await conn.execute(t.transactions.insert(), [transaction_to_row(record)])
            await conn.execute(t.events.insert(), [transaction_event(record, now=now)])
    except sa.exc.IntegrityError:
        return  # another worker settled it a moment ago


EVENTS_WITH_JOBS = frozenset({"transaction.inflight", "transaction.scheduled"})


async def jobs_from_event(
    conn: AsyncConnection, event_type: str, payload: dict[str, object], *, now: datetime
) -> None:
    """Create the due work an outbox event implies (called by the relay's fan-out)."""
    txn_id = payload.get("transaction_id")
    if not isinstance(txn_id, str):
        return
    if event_type == "transaction.inflight":
        field, kind = "inflight_expiry_date", HOLD_EXPIRY
    elif event_type == "transaction.scheduled":
        field, kind = "scheduled_for", SCHEDULED_TRANSACTION
    else:
        return
    text = payload.get(field)
    if not isinstance(text, str) or not text:
        return
    due = parse_timestamp(text)
    if due <= ZERO_TIME:
        return
    await jobs_repo.schedule(conn, kind, txn_id, due, {}, now=now, replace=False)


register_job_handler(HOLD_EXPIRY, expire_hold)
register_job_handler(SCHEDULED_TRANSACTION, apply_scheduled)
