"""Read models for the operator dashboard."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.ledger.records import BalanceRecord, LedgerRecord, TransactionRecord

from . import tables as t
from .rows import balance_from_row, ledger_from_row, transaction_from_row


@dataclass(slots=True)
class CurrencyTotal:
    currency: str
    balances: int
    total: int
    inflight_total: int


@dataclass(slots=True)
class Overview:
    ledgers: int
    balances: int
    transactions: int
    events: int
    currencies: list[CurrencyTotal]


async def overview(conn: AsyncConnection) -> Overview:
    async def count(table: sa.Table) -> int:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())

    totals: dict[str, CurrencyTotal] = {}
    rows = await conn.execute(
        sa.select(t.balances.c.currency, t.balances.c.balance, t.balances.c.inflight_balance)
    )
    for currency, balance, inflight in rows:
        entry = totals.setdefault(currency, CurrencyTotal(currency, 0, 0, 0))
        entry.balances += 1
        entry.total += balance
        entry.inflight_total += inflight
    return Overview(
        ledgers=await count(t.ledgers),
        balances=await count(t.balances),
        transactions=await count(t.transactions),
        events=await count(t.events),
        currencies=sorted(totals.values(), key=lambda c: c.currency),
    )


async def ledgers(conn: AsyncConnection) -> list[LedgerRecord]:
    rows = await conn.execute(sa.select(t.ledgers).order_by(t.ledgers.c.id.desc()).limit(200))
    return [ledger_from_row(r) for r in rows]


async def balances(
    conn: AsyncConnection, *, ledger_id: str | None, currency: str | None, limit: int
) -> list[BalanceRecord]:
    query = sa.select(t.balances).order_by(t.balances.c.id.desc()).limit(limit)
    if ledger_id:
        query = query.where(t.balances.c.ledger_id == ledger_id)
    if currency:
        query = query.where(t.balances.c.currency == currency)
    return [balance_from_row(r) for r in await conn.execute(query)]


async def transactions(
    conn: AsyncConnection,
    *,
    balance_id: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> list[TransactionRecord]:
    tx = t.transactions.c
    query = sa.select(t.transactions).order_by(tx.id.desc()).limit(limit).offset(offset)
    if balance_id:
        query = query.where(sa.or_(tx.source == balance_id, tx.destination == balance_id))
    if status:
        query = query.where(tx.status == status)
    return [transaction_from_row(r) for r in await conn.execute(query)]


async def recent_events(conn: AsyncConnection, limit: int) -> list[tuple[str, str, str]]:
    rows = await conn.execute(
        sa.select(t.events.c.event_id, t.events.c.type, t.events.c.subject_id)
        .order_by(t.events.c.id.desc())
        .limit(limit)
    )
    return [(r.event_id, r.type, r.subject_id or "") for r in rows]
