"""Connecting to SQLite or PostgreSQL, and the unit of work (one database transaction).

``Database.write()`` opens a write transaction: on SQLite ``BEGIN IMMEDIATE`` (taking the write
lock up front, so two writers never deadlock on a lock upgrade), serialized within the process; on
PostgreSQL an ordinary transaction whose row locks are taken in a fixed order.
``Database.read()`` opens a read-only transaction. Both commit on success and roll back on error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from tally.core.errors import Unavailable

# SQLite's write-ahead log is checkpointed every this many (4 KiB) pages: 64 MiB.
WAL_CHECKPOINT_PAGES = 16_384


def normalize_url(url: str) -> str:
    """Accept the URLs users write and pick the async driver for each."""
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///") or url == "sqlite://":
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


def sqlite_path(url: str) -> Path | None:
    normalized = normalize_url(url)
    if not normalized.startswith("sqlite+aiosqlite:///"):
        return None
    path = normalized[len("sqlite+aiosqlite:///") :]
    return None if path in ("", ":memory:") else Path(path)


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.is_postgres = self.url.startswith("postgresql")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_postgres:
            overflow = min(pool_size, 10)  # PostgreSQL allows 100 connections by default
            kwargs.update(pool_size=pool_size, max_overflow=overflow, pool_pre_ping=False)
        if self.is_sqlite:
            path = sqlite_path(url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            kwargs.update(connect_args={"timeout": 30, "isolation_level": None})
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        self._sqlite_write_lock = asyncio.Lock() if self.is_sqlite else None
        if self.is_sqlite:
            self._install_sqlite_hooks()

    def _install_sqlite_hooks(self) -> None:
        sync_engine = self.engine.sync_engine

        @event.listens_for(sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            # Checkpoint (copy the log into the database file) every 64 MiB of log rather than
            # SQLite's 4 MiB: a batch of 500 postings logs a few MiB, so the default checkpointed
            # on nearly every commit and wrote the hot pages (balances, the right edges of the
            # indexes) twice per batch. Durability is unchanged: every commit still syncs the log.
            # The log file is cut back to the same size after each checkpoint.
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            cursor.execute(f"PRAGMA journal_size_limit={WAL_CHECKPOINT_PAGES * 4096}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(sync_engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            write = conn.get_execution_options().get("tally_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        if self._sqlite_write_lock is not None:
            async with self._sqlite_write_lock, self._connect(write=True) as conn:
                yield conn
        else:
            async with self._connect(write=True) as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self._connect(write=False) as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def single_statements(self) -> AsyncIterator[AsyncConnection]:
        """A connection for a few independent reads at the driver level, outside a transaction.

        Each statement sent through ``driver_connection`` is its own (autocommit) transaction:
        one round trip, no ``BEGIN``/``COMMIT`` around it. For reads that need no snapshot."""
        try:
            conn = await self.engine.connect()
        except (OSError, sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise Unavailable(f"the database is not reachable: {exc}") from exc
        try:
            yield conn
        finally:
            await conn.close()

    @contextlib.asynccontextmanager
    async def _connect(self, *, write: bool) -> AsyncIterator[AsyncConnection]:
        try:
            conn = await self.engine.connect()
        except (OSError, sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise Unavailable(f"the database is not reachable: {exc}") from exc
        try:
            if write and self.is_sqlite:
                conn = await conn.execution_options(tally_write=True)
            async with conn.begin():
                yield conn
        finally:
            await conn.close()

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
