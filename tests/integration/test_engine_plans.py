"""The posting engine's PostgreSQL statements find their rows through indexes, whatever plan.

asyncpg prepares each statement once per connection, and after a few executions PostgreSQL may
keep a *generic* plan, made without looking at the parameters. A statement that joins a JSON
document to ``balances`` then plans for a document of 100 rows and scans the whole table every
batch (it did: about 1 ms a batch at 10,000 balances, and it grows with the table). These tests
force the generic plan, with enough rows and fresh statistics that an index is the right choice,
and read the plan.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tally.store import engine_pg
from tally.store.database import Database

from .engine_helpers import open_balances, plan

pytestmark = pytest.mark.postgres

ROWS = 2_000


@pytest.fixture
async def filled(postgres_url: str) -> Database:
    """A reset PostgreSQL store holding ``ROWS`` balances and ``ROWS`` transactions, analyzed."""
    from tally.embedded import Ledger

    from .. import support

    db = Database(postgres_url)
    await support.reset_postgres(db)
    ids = await open_balances(db, ROWS, overdraft=True)
    async with Ledger.open(postgres_url) as ledger:
        plans = [plan(ids[i], ids[(i + 1) % ROWS], 1) for i in range(ROWS)]
        for start in range(0, ROWS, 500):
            await ledger.engine.post_atomic(plans[start : start + 500])
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text("ANALYZE balances"))
        await conn.execute(sa.text("ANALYZE transactions"))
    return db


async def _generic_plan(db: Database, statement: str, types: str, args: list[str]) -> str:
    async with db.engine.connect() as conn:
        await conn.execute(sa.text("SET plan_cache_mode = force_generic_plan"))
        await conn.exec_driver_sql(f"PREPARE probe({types}) AS {statement}")
        quoted = ", ".join("'" + a.replace("'", "''") + "'" for a in args)
        rows = (await conn.exec_driver_sql(f"EXPLAIN EXECUTE probe({quoted})")).all()
        await conn.exec_driver_sql("DEALLOCATE probe")
        await conn.rollback()
    return "\n".join(row[0] for row in rows)


async def test_the_write_updates_balances_through_their_index(filled: Database) -> None:
    text = await _generic_plan(
        filled, engine_pg.WRITE, "jsonb, jsonb, jsonb", ["[]", "[]", json.dumps([["b", 1]])]
    )
    assert "Seq Scan on balances" not in text, text
    assert "uq_balances_balance_id" in text, text


async def test_the_lock_and_the_reads_find_balances_and_references_through_indexes(
    filled: Database,
) -> None:
    lock = await _generic_plan(filled, engine_pg.LOCK, "varchar[], varchar[]", ["{a}", "{r}"])
    read = await _generic_plan(filled, engine_pg.READ, "varchar[]", ["{a}"])
    taken = await _generic_plan(filled, engine_pg.TAKEN, "varchar[]", ["{r}"])
    for text in (lock, read):
        assert "Seq Scan on balances" not in text, text
    for text in (lock, taken):
        assert "Seq Scan on transactions" not in text, text


async def test_the_two_trip_read_and_checked_write_use_the_same_indexes(filled: Database) -> None:
    peek = await _generic_plan(filled, engine_pg.PEEK, "varchar[], varchar[]", ["{a}", "{r}"])
    checked = await _generic_plan(
        filled, engine_pg.CHECKED, "jsonb, jsonb, jsonb", ["[]", "[]", json.dumps([["b", 1]])]
    )
    for text in (peek, checked):
        assert "Seq Scan on balances" not in text, text
    assert "Seq Scan on transactions" not in peek, peek
    assert "uq_balances_balance_id" in checked, checked
