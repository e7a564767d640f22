"""Migrations beyond creating tables: identifier columns compare bytes on PostgreSQL (0006)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

import tally
from tally.core.errors import TallyError
from tally.store.database import Database
from tally.store.migrate import alembic_config, upgrade

from .. import support

PREVIOUS_HEADS = ("0002", "0003", "0004", "0005")
IDENTIFIERS = [
    ("transactions", "reference"),
    ("transactions", "transaction_id"),
    ("transactions", "source"),
    ("balances", "balance_id"),
    ("balances", "indicator"),
    ("events", "event_id"),
    ("events", "type"),
    ("balance_monitors", "balance_id"),  # a foreign key and the key it names: both
    ("virtual_cards", "state"),
]
PEOPLES_TEXT = [
    ("ledgers", "name"),
    ("identities", "first_name"),
    ("identities", "state"),  # an address's state, not a lifecycle code
    ("card_authorizations", "merchant_name"),
]


@pytest.fixture
def fresh_pg() -> Iterator[str]:
    if not support.postgres_reachable():
        if support.IN_CI:
            pytest.fail("PostgreSQL is not reachable (CI=true: PostgreSQL tests must run)")
        pytest.skip("PostgreSQL is not reachable")
    url = support.create_postgres_database("m")
    yield url
    support.drop_postgres_database(url)


def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    async def read() -> list[tuple[object, ...]]:
        db = Database(url)
        try:
            async with db.read() as conn:
                return [tuple(row) for row in await conn.execute(sa.text(sql))]
        finally:
            await db.dispose()

    return asyncio.run(read())


def _collations(url: str) -> dict[tuple[object, object], object]:
    rows = _rows(
        url,
        "SELECT table_name, column_name, collation_name "
        "FROM information_schema.columns WHERE table_schema = current_schema()",
    )
    return {(t, c): n for t, c, n in rows}


def _heads(url: str) -> set[object]:
    return {v for (v,) in _rows(url, "SELECT version_num FROM alembic_version")}


def test_identifier_columns_collate_c_and_peoples_text_keeps_the_default(fresh_pg: str) -> None:
    upgrade(fresh_pg)
    found = _collations(fresh_pg)
    assert all(found[column] == "C" for column in IDENTIFIERS), found
    assert all(found[column] is None for column in PEOPLES_TEXT)

    command.downgrade(alembic_config(fresh_pg), "0005")  # undoes the merge point only
    assert _heads(fresh_pg) == set(PREVIOUS_HEADS)
    found = _collations(fresh_pg)
    assert all(found[column] is None for column in IDENTIFIERS + PEOPLES_TEXT)
    upgrade(fresh_pg)
    assert _collations(fresh_pg)[("transactions", "reference")] == "C"


def test_sqlite_is_untouched_and_at_the_same_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    assert _heads(url) == {"0006"}


async def _fund(ledger: tally.Ledger, balance_id: str, reference: str) -> None:
    await ledger.transfer(
        "@World", balance_id, 1_00, currency="USD", precision=100, reference=reference
    )


def test_a_database_with_rows_upgrades_and_keeps_them(fresh_pg: str) -> None:
    """0006 on a database that has postings: the rows, their unique references and the books
    come through the index rebuilds unchanged."""
    upgrade(fresh_pg)
    command.downgrade(alembic_config(fresh_pg), "0005")  # as a database made before 0006
    assert _heads(fresh_pg) == set(PREVIOUS_HEADS)
    assert _collations(fresh_pg)[("transactions", "reference")] is None

    async def post(references: list[str]) -> None:
        async with tally.Ledger.open(fresh_pg, migrate=False) as ledger:
            wallet = await ledger.create_balance("USD")
            for reference in references:
                await _fund(ledger, wallet.balance_id, reference)

    asyncio.run(post([f"before-{n}" for n in range(20)]))
    upgrade(fresh_pg)
    assert _heads(fresh_pg) == {"0006"}
    assert _collations(fresh_pg)[("transactions", "reference")] == "C"

    async def after() -> tuple[bool, int]:
        async with tally.Ledger.open(fresh_pg, migrate=False) as ledger:
            wallet = await ledger.create_balance("USD")
            await _fund(ledger, wallet.balance_id, "after-1")
            with pytest.raises(TallyError):  # the unique reference still holds
                await _fund(ledger, wallet.balance_id, "before-3")
            report = await ledger.verify()
            return report.consistent, report.transactions

    consistent, transactions = asyncio.run(after())
    assert consistent and transactions == 21  # 20 before, 1 after; the duplicate was refused
