"""Member reads for the earn path, shared by concurrent requests, with programs kept in memory.

Completing a payment first resolves its member (the customer's accounts with their programs).
One read transaction per payment costs a pooled connection and three round trips; under load many
payments resolve members at the same moment. :class:`Coalesced` gathers the keys that requests ask
for while a read is in flight and answers them all with the next read (one query for many
customers), so a busy process pays one read per group of payments and an idle one answers at
once. Every answer comes from a committed snapshot taken after the request asked, as before.

Programs change rarely (``PATCH`` of rules or settings) but parsing their configuration is costly.
The member query reads each program's ``updated_at`` with the accounts, in the same snapshot; a
program is parsed again only when that differs from the copy this process keeps, so an update made
by any process is seen by the very next read. Cached programs are shared: callers never mutate them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.loyalty.records import Account, Program

from . import loyalty_repo as repo
from . import tables_loyalty as lt
from .database import Database
from .engine_sql import driver_connection
from .types import from_micros

if TYPE_CHECKING:
    from tally.services import Services

K = TypeVar("K")
V = TypeVar("V")
MAX_KEYS = 500  # keys per read
MAX_PROGRAMS = 10_000

Members = list[tuple[Account, Program]]
CustomerMembers = tuple[bool, Members]  # (the customer exists, its accounts with their programs)


class Coalesced(Generic[K, V]):
    """``get(key)``: keys asked for while a read is in flight are read together by the next one.

    One read runs at a time per process; a failure of a read reaches every caller it served.
    """

    def __init__(self, fetch: Callable[[list[K]], Awaitable[dict[K, V]]]) -> None:
        self._fetch = fetch
        self._waiting: dict[K, list[asyncio.Future[V | None]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def get(self, key: K) -> V | None:
        loop = asyncio.get_running_loop()
        task = self._task
        if task is not None and task.get_loop() is not loop:  # a new event loop (tests)
            self._waiting, task = {}, None
        future: asyncio.Future[V | None] = loop.create_future()
        self._waiting.setdefault(key, []).append(future)
        if task is None or task.done():
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            keys = list(self._waiting)[:MAX_KEYS]
            batch = {key: self._waiting.pop(key) for key in keys}
            try:
                found = await self._fetch(keys)
            except Exception as exc:
                for futures in batch.values():
                    for future in futures:
                        if not future.done():
                            future.set_exception(exc)
                continue
            except BaseException:
                for futures in batch.values():
                    for future in futures:
                        future.cancel()
                raise
            for key, futures in batch.items():
                value = found.get(key)
                for future in futures:
                    if not future.done():
                        future.set_result(value)


class MemberReads:
    """The member reads of one process (one per ``Services``)."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self.programs: dict[str, Program] = {}
        self.customers: Coalesced[str, CustomerMembers] = Coalesced(self._customers)
        self.accounts: Coalesced[str, tuple[Account, Program]] = Coalesced(self._accounts)

    @classmethod
    def of(cls, services: Services) -> MemberReads:
        reads = services.extras.get(KEY)
        if not isinstance(reads, MemberReads):
            reads = services.extras[KEY] = cls(services)
        return reads

    async def customer(self, customer_id: str) -> CustomerMembers:
        found = await self.customers.get(customer_id)
        return found if found is not None else (False, [])

    async def account(self, account_id: str) -> tuple[Account, Program] | None:
        return await self.accounts.get(account_id)

    async def _customers(self, ids: list[str]) -> dict[str, CustomerMembers]:
        if self._services.db.is_postgres:
            rows = await driver_rows(self._services.db, PG_CUSTOMERS, ids)
            return await self._by_owner([_PgAccount(row) for row in rows])
        a, c = lt.loyalty_accounts, lt.loyalty_customers
        query = (
            sa.select(c.c.customer_id.label("owner"), *_ACCOUNT, _PROGRAM_STAMP)
            .select_from(
                c.outerjoin(a, a.c.customer_id == c.c.customer_id).outerjoin(
                    lt.loyalty_programs, lt.loyalty_programs.c.program_id == a.c.program_id
                )
            )
            .where(c.c.customer_id.in_(ids))
            .order_by(a.c.id)
        )
        async with self._services.db.read() as conn:
            return await self._by_owner(list(await conn.execute(query)), conn)

    async def _by_owner(
        self, rows: list[Any], conn: AsyncConnection | None = None
    ) -> dict[str, CustomerMembers]:
        accounts = [row for row in rows if row.account_id is not None]
        members = await self._members(accounts, conn)
        found: dict[str, CustomerMembers] = {row.owner: (True, []) for row in rows}
        for row, member in zip(accounts, members, strict=True):
            found[row.owner][1].append(member)
        return found

    async def _accounts(self, ids: list[str]) -> dict[str, tuple[Account, Program]]:
        if self._services.db.is_postgres:
            rows = await driver_rows(self._services.db, PG_ACCOUNTS, ids)
            members = await self._members([_PgAccount(row) for row in rows])
            return {account.account_id: (account, program) for account, program in members}
        a = lt.loyalty_accounts
        query = (
            sa.select(*_ACCOUNT, _PROGRAM_STAMP)
            .select_from(
                a.join(lt.loyalty_programs, lt.loyalty_programs.c.program_id == a.c.program_id)
            )
            .where(a.c.account_id.in_(ids))
        )
        async with self._services.db.read() as conn:
            members = await self._members(list(await conn.execute(query)), conn)
        return {account.account_id: (account, program) for account, program in members}

    async def _members(self, rows: list[Any], conn: AsyncConnection | None = None) -> Members:
        """Accounts with their programs: kept copies when current, else read (on ``conn``, in
        the accounts' snapshot, or in a read of its own)."""
        programs: dict[str, Program] = {}
        stale: set[str] = set()
        for row in rows:
            kept = self.programs.get(row.program_id)
            if kept is not None and kept.updated_at == row.p_updated_at:
                programs[row.program_id] = kept
            else:
                stale.add(row.program_id)
        if stale:
            query = sa.select(lt.loyalty_programs).where(
                lt.loyalty_programs.c.program_id.in_(sorted(stale))
            )
            if conn is None:
                async with self._services.db.read() as own:
                    read = [repo.program_from_row(row) for row in await own.execute(query)]
            else:
                read = [repo.program_from_row(row) for row in await conn.execute(query)]
            if len(self.programs) + len(read) > MAX_PROGRAMS:
                self.programs.clear()
            for program in read:
                programs[program.program_id] = self.programs[program.program_id] = program
        return [(repo.account_from_row(row), programs[row.program_id]) for row in rows]


async def driver_rows(db: Database, sql: str, *args: Any) -> list[Any]:
    """One autocommit statement at the driver level (PostgreSQL): one round trip, no
    ``BEGIN``/``COMMIT`` and no SQLAlchemy row processing; for a read that is one statement."""
    async with db.single_statements() as conn:
        driver = await driver_connection(conn)
        return list(await driver.fetch(sql, *args))


_PG_ACCOUNT = (
    "a.account_id, a.program_id, a.customer_id, a.balance_id, a.deficit::text AS deficit, "
    "a.meta_data::text AS meta_data, a.created_at, p.updated_at AS p_updated_at"
)
PG_CUSTOMERS = f"""
SELECT c.customer_id AS owner, {_PG_ACCOUNT}
FROM loyalty_customers c
LEFT JOIN loyalty_accounts a ON a.customer_id = c.customer_id
LEFT JOIN loyalty_programs p ON p.program_id = a.program_id
WHERE c.customer_id = ANY($1::varchar[])
ORDER BY a.id
"""
PG_ACCOUNTS = f"""
SELECT {_PG_ACCOUNT}
FROM loyalty_accounts a JOIN loyalty_programs p ON p.program_id = a.program_id
WHERE a.account_id = ANY($1::varchar[])
"""
_decode = msgspec.json.Decoder()


class _PgAccount:
    """A driver row of ``_PG_ACCOUNT`` read like an SQLAlchemy row of the accounts table."""

    __slots__ = (
        "account_id",
        "balance_id",
        "created_at",
        "customer_id",
        "deficit",
        "meta_data",
        "owner",
        "p_updated_at",
        "program_id",
    )

    def __init__(self, row: Any) -> None:
        self.owner = row.get("owner")
        self.account_id = row["account_id"]
        self.program_id = row["program_id"]
        self.customer_id = row["customer_id"]
        self.balance_id = row["balance_id"]
        self.deficit = None if row["deficit"] is None else int(row["deficit"])
        self.meta_data = None if row["meta_data"] is None else _decode.decode(row["meta_data"])
        self.created_at = None if row["created_at"] is None else from_micros(row["created_at"])
        stamp = row["p_updated_at"]
        self.p_updated_at = None if stamp is None else from_micros(stamp)


KEY = "loyalty.member_reads"
_ACCOUNT = list(lt.loyalty_accounts.c)
_PROGRAM_STAMP = lt.loyalty_programs.c.updated_at.label("p_updated_at")
