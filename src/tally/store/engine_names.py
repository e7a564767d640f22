"""Before a batch locks anything: indicator balances resolved (created on first use), and the rows
that commits, voids and refunds name read.

Indicator balances (``@World``, ``@Store`` ...) stand for the outside world and may go below zero.
One exists per indicator and currency in the general ledger; the first posting that names one
creates it in its own short transaction (``INSERT ... ON CONFLICT DO NOTHING``, so two processes
naming it at once end up with the same balance), never inside a batch holding row locks.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.ids import GENERAL_LEDGER_ID, new_id
from tally.core.ledger.records import BalanceRecord, Kind, TransactionRecord
from tally.core.ledger.views import balance_view

from . import tables as t
from .database import Database
from .engine_ops import Op
from .outbox import event_row
from .rows import transaction_from_row

Indicators = dict[tuple[str, str], str]


def unknown_indicators(ops: Iterable[Op], known: Indicators) -> set[tuple[str, str]]:
    wanted: set[tuple[str, str]] = set()
    for op in ops:
        for plan in op.plans:
            for leg in plan.legs:
                for name in (leg.source, leg.destination):
                    if name.startswith("@") and (name, plan.currency) not in known:
                        wanted.add((name, plan.currency))
    return wanted


async def ensure_indicators(
    db: Database, wanted: set[tuple[str, str]], known: Indicators, *, now: datetime
) -> None:
    """Create the indicator balances in ``wanted`` that do not exist yet; learn all their ids."""
    async with db.write() as conn:
        await read_indicators(conn, wanted, known)
        missing = [key for key in wanted if key not in known]
        created: list[BalanceRecord] = []
        for indicator, currency in sorted(missing):
            record = BalanceRecord(
                balance_id=new_id("bln"),
                ledger_id=GENERAL_LEDGER_ID,
                currency=currency,
                created_at=now,
                indicator=indicator,
                allow_overdraft=True,
            )
            insert = _insert_ignore(db, t.balances).values(**balance_row(record))
            result = await conn.execute(insert)
            if result.rowcount:
                created.append(record)
        if created:
            await conn.execute(
                t.events.insert(),
                [
                    event_row("balance.created", balance_view(r), now=now, subject_id=r.balance_id)
                    for r in created
                ],
            )
        await read_indicators(conn, wanted, known)


async def read_indicators(
    conn: AsyncConnection, wanted: set[tuple[str, str]], known: Indicators
) -> None:
    names = sorted({name for name, _ in wanted})
    balances = t.balances.c
    rows = await conn.execute(
        sa.select(balances.indicator, balances.currency, balances.balance_id).where(
            balances.indicator.in_(names)
        )
    )
    for indicator, currency, balance_id in rows:
        known[(indicator, currency)] = balance_id


async def load_targets(db: Database, ids: set[str]) -> dict[str, list[TransactionRecord]]:
    """The rows that commits, voids and refunds name (a group id names all its legs)."""
    tx = t.transactions
    async with db.read() as conn:
        rows = await conn.execute(sa.select(tx).where(tx.c.transaction_id.in_(sorted(ids))))
        found = {r.transaction_id: [transaction_from_row(r)] for r in rows}
        groups = ids - found.keys()
        if groups:
            rows = await conn.execute(
                sa.select(tx)
                .where(tx.c.parent_transaction.in_(sorted(groups)))
                .where(tx.c.kind == Kind.TRANSFER)
                .order_by(tx.c.id)
            )
            for r in rows:
                found.setdefault(r.parent_transaction, []).append(transaction_from_row(r))
    return found


def balance_row(record: BalanceRecord) -> dict[str, Any]:
    """A new balance's row: every amount zero (the database refuses anything else)."""
    return {
        "balance_id": record.balance_id,
        "ledger_id": record.ledger_id,
        "identity_id": record.identity_id,
        "indicator": record.indicator,
        "currency": record.currency,
        "allow_overdraft": record.allow_overdraft,
        "balance": 0,
        "credit_balance": 0,
        "debit_balance": 0,
        "inflight_balance": 0,
        "inflight_credit_balance": 0,
        "inflight_debit_balance": 0,
        "version": 0,
        "created_at": record.created_at,
        "meta_data": record.meta_data,
    }


def _insert_ignore(db: Database, table: sa.Table) -> Any:
    if db.is_postgres:
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()
