"""Small helpers for the engine tests: balances, plans and sums read straight from the store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tally.core.ids import GENERAL_LEDGER_ID, new_id
from tally.core.ledger.records import BalanceRecord
from tally.core.ledger.transfers import TransferPlan, TransferRequest, plan_transfer
from tally.store import ledger_repo
from tally.store import tables as t
from tally.store.database import Database

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def open_balances(
    db: Database, count: int, *, currency: str = "USD", overdraft: bool = False
) -> list[str]:
    ids = []
    async with db.write() as conn:
        for _ in range(count):
            record = BalanceRecord(
                balance_id=new_id("bln"),
                ledger_id=GENERAL_LEDGER_ID,
                currency=currency,
                created_at=NOW,
                allow_overdraft=overdraft,
            )
            await ledger_repo.insert_balance(conn, record, now=NOW)
            ids.append(record.balance_id)
    return ids


def plan(
    source: str,
    destination: str,
    amount: int,
    *,
    reference: str | None = None,
    currency: str = "USD",
    **fields: Any,
) -> TransferPlan:
    request = TransferRequest(
        currency=currency,
        reference=reference or new_id("ref"),
        precise_amount=amount,
        precision=100,
        source=source,
        destination=destination,
        description="test",
        **fields,
    )
    return plan_transfer(request, now=NOW)


async def balance(db: Database, balance_id: str) -> dict[str, int]:
    async with db.read() as conn:
        row = (
            await conn.execute(sa.select(t.balances).where(t.balances.c.balance_id == balance_id))
        ).one()
    return {
        "balance": row.balance,
        "credit": row.credit_balance,
        "debit": row.debit_balance,
        "inflight_credit": row.inflight_credit_balance,
        "inflight_debit": row.inflight_debit_balance,
        "version": row.version,
    }


async def count_rows(db: Database, table: sa.Table, *where: Any) -> int:
    async with db.read() as conn:
        query = sa.select(sa.func.count()).select_from(table)
        for clause in where:
            query = query.where(clause)
        return int((await conn.execute(query)).scalar_one())


async def ledger_sums(db: Database) -> dict[str, tuple[int, int]]:
    """Per currency: the sum of ``balance`` and of ``inflight_balance`` (both must be zero)."""
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(
                t.balances.c.currency,
                sa.func.sum(t.balances.c.balance),
                sa.func.sum(t.balances.c.inflight_balance),
            ).group_by(t.balances.c.currency)
        )
        return {currency: (int(net), int(inflight)) for currency, net, inflight in rows}
