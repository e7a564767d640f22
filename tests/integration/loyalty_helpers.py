"""Helpers for the loyalty tests: a program with the seed's rule, members, and event reads."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tally.store import tables as t
from tally.store.database import Database

EUR_RULE = {"name": "base", "type": "rate", "currency": "eur", "points": 1, "per_amount": 100}


async def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


async def program(client: Any, **settings: Any) -> dict[str, Any]:
    body = {"name": "Coffee Club", "point_unit": "PTS", "earning_rules": [EUR_RULE], **settings}
    return await ok(await client.post("/loyalty/programs", json=body), 201)


async def member(client: Any, program_id: str, name: str = "Alice") -> tuple[str, str]:
    """A customer linked to a new account in ``program_id``: (cust_, loy_)."""
    customer = await ok(await client.post("/customers", json={"name": name}), 201)
    account = await ok(
        await client.post(
            "/loyalty/accounts", json={"program": program_id, "customer": customer["id"]}
        ),
        201,
    )
    return customer["id"], account["id"]


async def account(client: Any, account_id: str) -> dict[str, Any]:
    return await ok(await client.get(f"/loyalty/accounts/{account_id}"))


async def grant(client: Any, account_id: str, points: int) -> None:
    await ok(
        await client.post(
            f"/loyalty/accounts/{account_id}/adjustments",
            json={"points": points, "reason": "welcome bonus"},
        ),
        201,
    )


async def pay(client: Any, amount: int, **fields: Any) -> dict[str, Any]:
    body = {"amount": amount, "currency": "eur", "status": "completed", **fields}
    return await ok(await client.post("/payments", json=body), 201)


async def events(db: Database, event_type: str) -> list[dict[str, Any]]:
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(t.events.c.payload)
            .where(t.events.c.type == event_type)
            .order_by(t.events.c.id)
        )
        return [dict(r.payload) for r in rows]


async def ledger_sums_to_zero(db: Database) -> None:
    async with db.read() as conn:
        rows = await conn.execute(sa.select(t.balances.c.currency, t.balances.c.balance))
        totals: dict[str, int] = {}
        for currency, balance in rows:
            totals[currency] = totals.get(currency, 0) + int(balance)
    assert all(v == 0 for v in totals.values()), totals


async def snapshot(db: Database) -> dict[str, Any]:
    """Row counts and balances: what a refused request must leave exactly as it was."""
    from tally.store import tables_loyalty as lt

    tables = [
        t.transactions,
        t.events,
        lt.points_transactions,
        lt.payments,
        lt.refunds,
        lt.loyalty_redemptions,
        lt.points_lots,
    ]
    async with db.read() as conn:
        counts = {
            table.name: (
                await conn.execute(sa.select(sa.func.count()).select_from(table))
            ).scalar_one()
            for table in tables
        }
        rows = await conn.execute(
            sa.select(
                t.balances.c.balance_id, t.balances.c.balance, t.balances.c.inflight_debit_balance
            )
        )
        balances = {r.balance_id: (int(r.balance), int(r.inflight_debit_balance)) for r in rows}
    return {"counts": counts, "balances": balances}
