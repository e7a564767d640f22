"""Test support: databases on both stores, created once per session and reset per test."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from pathlib import Path
from urllib.parse import urlparse

import sqlalchemy as sa

from tally.store.database import Database
from tally.store.migrate import upgrade

PG_ADMIN_URL = os.environ.get("TALLY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Tables emptied between tests, children first. The general ledger row is kept.
RESET_TABLES = [
    "events",
    "idempotency_keys",
    "api_keys",
    "transactions",
    "balances",
    "identities",
]


def postgres_reachable() -> bool:
    parsed = urlparse(PG_ADMIN_URL)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5432), 2):
            return True
    except OSError:
        return False


def _pg_url(name: str) -> str:
    parsed = urlparse(PG_ADMIN_URL)
    return parsed._replace(path=f"/{name}").geturl()


async def _admin(sql: str) -> None:
    db = Database(PG_ADMIN_URL)
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text(sql))
    await db.dispose()


def create_postgres_database(tag: str) -> str:
    name = f"tally_test_{tag}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = _pg_url(name)
    upgrade(url)
    return url


def drop_postgres_database(url: str) -> None:
    name = urlparse(url).path.lstrip("/")
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def create_sqlite_template(directory: Path) -> Path:
    path = directory / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


def fresh_sqlite(template: Path, directory: Path) -> str:
    path = directory / f"{uuid.uuid4().hex}.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


def extra_tables() -> list[str]:
    """Tables added by later modules are emptied too (whatever is in the schema, children first)."""
    from tally.store.tables import load_all

    metadata = load_all()

    ordered = [table.name for table in reversed(metadata.sorted_tables)]
    return [name for name in ordered if name != "ledgers"]


async def reset_postgres(db: Database) -> None:
    names = ", ".join(f'"{n}"' for n in extra_tables())
    async with db.engine.begin() as conn:
        await conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        await conn.execute(sa.text("DELETE FROM ledgers WHERE ledger_id <> 'general_ledger_id'"))
