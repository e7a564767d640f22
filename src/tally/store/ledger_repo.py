"""Reads and non-posting writes for ledgers, balances, identities and transactions.

Every write that changes state emits its outbox event in the same database transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.errors import (
    BadRequest,
    BalanceNotFound,
    Conflict,
    EntityNotFound,
    IdentityNotFound,
    LedgerNotFound,
    TransactionNotFound,
    ValidationFailed,
)
from tally.core.ids import GENERAL_LEDGER_ID
from tally.core.ledger.records import BalanceRecord, LedgerRecord, Status, TransactionRecord
from tally.core.ledger.views import balance_view, ledger_view

from . import tables as t
from .engine import balance_row
from .outbox import emit
from .rows import balance_from_row, ledger_from_row, transaction_from_row

IDENTITY_FIELDS = [
    "identity_type",
    "organization_name",
    "category",
    "first_name",
    "last_name",
    "other_names",
    "gender",
    "email_address",
    "phone_number",
    "nationality",
    "street",
    "country",
    "state",
    "post_code",
    "city",
]


# ---- ledgers --------------------------------------------------------------------------------


async def insert_ledger(conn: AsyncConnection, ledger: LedgerRecord, *, now: datetime) -> None:
    await conn.execute(
        t.ledgers.insert().values(
            ledger_id=ledger.ledger_id,
            name=ledger.name,
            created_at=ledger.created_at,
            meta_data=ledger.meta_data,
        )
    )
    await emit(conn, "ledger.created", ledger_view(ledger), now=now, subject_id=ledger.ledger_id)


async def get_ledger(conn: AsyncConnection, ledger_id: str) -> LedgerRecord:
    row = (
        await conn.execute(sa.select(t.ledgers).where(t.ledgers.c.ledger_id == ledger_id))
    ).first()
    if row is None:
        raise LedgerNotFound(f"ledger {ledger_id} not found", details={"ledger_id": ledger_id})
    return ledger_from_row(row)


async def rename_ledger(
    conn: AsyncConnection, ledger_id: str, name: str, *, now: datetime
) -> LedgerRecord:
    await get_ledger(conn, ledger_id)
    await conn.execute(
        t.ledgers.update().where(t.ledgers.c.ledger_id == ledger_id).values(name=name)
    )
    ledger = await get_ledger(conn, ledger_id)
    await emit(conn, "ledger.updated", ledger_view(ledger), now=now, subject_id=ledger_id)
    return ledger


# ---- balances -------------------------------------------------------------------------------


async def insert_balance(conn: AsyncConnection, record: BalanceRecord, *, now: datetime) -> None:
    await get_ledger_or_400(conn, record.ledger_id)
    if record.identity_id:
        await get_identity_or_400(conn, record.identity_id)
    if record.indicator:
        existing = (
            await conn.execute(
                sa.select(t.balances.c.balance_id)
                .where(t.balances.c.indicator == record.indicator)
                .where(t.balances.c.currency == record.currency)
            )
        ).first()
        if existing is not None:
            raise Conflict(
                f"a balance with indicator {record.indicator} in {record.currency} already exists: "
                f"{existing.balance_id}",
                details={"balance_id": existing.balance_id},
            )
    await conn.execute(t.balances.insert().values(**balance_row(record)))
    await emit(conn, "balance.created", balance_view(record), now=now, subject_id=record.balance_id)


async def get_ledger_or_400(conn: AsyncConnection, ledger_id: str) -> None:
    try:
        await get_ledger(conn, ledger_id)
    except LedgerNotFound:
        raise BadRequest(
            f"Invalid ledger ID: ledger {ledger_id} does not exist",
            details={"ledger_id": ledger_id},
        ) from None


async def get_identity_or_400(conn: AsyncConnection, identity_id: str) -> None:
    found = (
        await conn.execute(
            sa.select(t.identities.c.id).where(t.identities.c.identity_id == identity_id)
        )
    ).first()
    if found is None:
        raise BadRequest(
            f"Invalid identity ID: identity {identity_id} does not exist",
            details={"identity_id": identity_id},
        )


async def get_balance(conn: AsyncConnection, balance_id: str) -> BalanceRecord:
    row = (
        await conn.execute(sa.select(t.balances).where(t.balances.c.balance_id == balance_id))
    ).first()
    if row is None:
        raise BalanceNotFound(f"balance {balance_id} not found", details={"balance_id": balance_id})
    return balance_from_row(row)


async def get_balance_by_indicator(
    conn: AsyncConnection, indicator: str, currency: str
) -> BalanceRecord:
    row = (
        await conn.execute(
            sa.select(t.balances)
            .where(t.balances.c.indicator == indicator)
            .where(t.balances.c.currency == currency)
        )
    ).first()
    if row is None:
        raise BalanceNotFound(f"no balance with indicator {indicator} in {currency}")
    return balance_from_row(row)


async def set_balance_identity(
    conn: AsyncConnection, balance_id: str, identity_id: str, *, now: datetime
) -> None:
    await get_balance(conn, balance_id)
    found = (
        await conn.execute(
            sa.select(t.identities.c.id).where(t.identities.c.identity_id == identity_id)
        )
    ).first()
    if found is None:
        raise IdentityNotFound(f"Identity with ID '{identity_id}' not found")
    await conn.execute(
        t.balances.update()
        .where(t.balances.c.balance_id == balance_id)
        .values(identity_id=identity_id)
    )
    balance = await get_balance(conn, balance_id)
    await emit(conn, "balance.updated", balance_view(balance), now=now, subject_id=balance_id)


async def set_balance_overdraft(
    conn: AsyncConnection, balance_id: str, allow: bool, *, now: datetime
) -> BalanceRecord:
    await get_balance(conn, balance_id)
    await conn.execute(
        t.balances.update()
        .where(t.balances.c.balance_id == balance_id)
        .values(allow_overdraft=allow)
    )
    balance = await get_balance(conn, balance_id)
    await emit(conn, "balance.updated", balance_view(balance), now=now, subject_id=balance_id)
    return balance


async def balance_at(
    conn: AsyncConnection, balance_id: str, when: datetime
) -> tuple[BalanceRecord, int, int]:
    """(balance, credits, debits) from APPLIED rows effective at or before ``when``."""
    balance = await get_balance(conn, balance_id)
    tx = t.transactions.c
    credits = debits = 0
    for column in ("destination", "source"):
        rows = await conn.execute(
            sa.select(tx.precise_amount)
            .where(getattr(tx, column) == balance_id)
            .where(tx.status == Status.APPLIED)
            .where(tx.effective_date <= when)
        )
        total = sum(row.precise_amount for row in rows)
        if column == "destination":
            credits = total
        else:
            debits = total
    return balance, credits, debits


# ---- identities -----------------------------------------------------------------------------


def identity_view(row: Any) -> dict[str, Any]:
    from tally.core.clock import format_timestamp

    data = {name: getattr(row, name) for name in IDENTITY_FIELDS}
    data["identity_id"] = row.identity_id
    data["dob"] = format_timestamp(row.dob)
    data["created_at"] = format_timestamp(row.created_at)
    data["meta_data"] = dict(row.meta_data or {})
    return data


async def insert_identity(
    conn: AsyncConnection, values: dict[str, Any], *, now: datetime
) -> dict[str, Any]:
    exists = (
        await conn.execute(
            sa.select(t.identities.c.id).where(t.identities.c.identity_id == values["identity_id"])
        )
    ).first()
    if exists is not None:
        raise ValidationFailed(
            f"identity {values['identity_id']} already exists", code="IDT_VALIDATION_ERROR"
        )
    await conn.execute(t.identities.insert().values(**values))
    identity = await get_identity(conn, values["identity_id"])
    await emit(conn, "identity.created", identity, now=now, subject_id=values["identity_id"])
    return identity


async def get_identity(conn: AsyncConnection, identity_id: str) -> dict[str, Any]:
    row = (
        await conn.execute(sa.select(t.identities).where(t.identities.c.identity_id == identity_id))
    ).first()
    if row is None:
        raise IdentityNotFound(
            f"identity {identity_id} not found", details={"identity_id": identity_id}
        )
    return identity_view(row)


async def update_identity(
    conn: AsyncConnection, identity_id: str, values: dict[str, Any], *, now: datetime
) -> dict[str, Any]:
    await get_identity(conn, identity_id)
    if values:
        await conn.execute(
            t.identities.update().where(t.identities.c.identity_id == identity_id).values(**values)
        )
    identity = await get_identity(conn, identity_id)
    await emit(conn, "identity.updated", identity, now=now, subject_id=identity_id)
    return identity


async def delete_identity(conn: AsyncConnection, identity_id: str, *, now: datetime) -> None:
    identity = await get_identity(conn, identity_id)
    used = (
        await conn.execute(
            sa.select(t.balances.c.balance_id)
            .where(t.balances.c.identity_id == identity_id)
            .limit(1)
        )
    ).first()
    if used is not None:
        raise Conflict(
            f"identity {identity_id} is linked to balance {used.balance_id}; "
            "link the balance to another identity first"
        )
    await conn.execute(t.identities.delete().where(t.identities.c.identity_id == identity_id))
    await emit(conn, "identity.deleted", identity, now=now, subject_id=identity_id)


# ---- transactions ---------------------------------------------------------------------------


async def get_transaction(conn: AsyncConnection, transaction_id: str) -> TransactionRecord:
    row = (
        await conn.execute(
            sa.select(t.transactions).where(t.transactions.c.transaction_id == transaction_id)
        )
    ).first()
    if row is None:
        raise TransactionNotFound(
            f"Transaction with ID '{transaction_id}' not found",
            details={"transaction_id": transaction_id},
        )
    return transaction_from_row(row)


async def get_transaction_by_reference(conn: AsyncConnection, reference: str) -> TransactionRecord:
    row = (
        await conn.execute(sa.select(t.transactions).where(t.transactions.c.reference == reference))
    ).first()
    if row is None:
        raise TransactionNotFound(
            f"Transaction with reference '{reference}' not found", details={"reference": reference}
        )
    return transaction_from_row(row)


async def transactions_by_parent(conn: AsyncConnection, parent: str) -> list[TransactionRecord]:
    rows = await conn.execute(
        sa.select(t.transactions)
        .where(t.transactions.c.parent_transaction == parent)
        .order_by(t.transactions.c.id)
    )
    return [transaction_from_row(r) for r in rows]


# ---- metadata -------------------------------------------------------------------------------

_META_TABLES = {
    "ldg": (t.ledgers, t.ledgers.c.ledger_id, "ledger"),
    "bln": (t.balances, t.balances.c.balance_id, "balance"),
    "txn": (t.transactions, t.transactions.c.transaction_id, "transaction"),
    "idt": (t.identities, t.identities.c.identity_id, "identity"),
}


async def merge_metadata(
    conn: AsyncConnection, entity_id: str, meta: dict[str, Any], *, now: datetime
) -> dict[str, Any]:
    """Shallow-merge ``meta`` into the entity's ``meta_data``; nothing else can change."""
    prefix = entity_id.split("_", 1)[0] if "_" in entity_id else ""
    if entity_id == GENERAL_LEDGER_ID:
        prefix = "ldg"
    if prefix not in _META_TABLES:
        raise ValidationFailed(
            f"invalid entity ID {entity_id!r}: expected an id starting with "
            "ldg_, bln_, txn_ or idt_",
            code="META_INVALID_ENTITY_ID",
        )
    table, key, name = _META_TABLES[prefix]
    query = sa.select(table.c.meta_data).where(key == entity_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise EntityNotFound(f"{name} {entity_id} not found (entity not found)")
    merged = {**(row.meta_data or {}), **meta}
    await conn.execute(table.update().where(key == entity_id).values(meta_data=merged))
    await emit(
        conn,
        f"{name}.metadata_updated",
        {"id": entity_id, "meta_data": merged},
        now=now,
        subject_id=entity_id,
    )
    return merged
