"""Shared plumbing for loyalty use cases: points transfers, the write path, lots and deficits.

Every use case plans its ledger steps from a read, then calls ``run_steps``: the steps go through
the posting engine and ``write`` (the loyalty rows and events) runs inside the same database
transaction. ``write`` re-checks what the plan assumed (conditional updates) and raises
``StalePlan`` when a concurrent request changed it; ``retrying`` then plans again.

Lots and deficits are only touched inside ``write`` for an account whose ledger balance the same
transaction has locked (the engine locks every balance it moves), so they never race.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.errors import DuplicateReference
from tally.core.ids import new_id
from tally.core.ledger.records import TransactionRecord
from tally.core.ledger.transfers import TransferPlan, TransferRequest, plan_transfer
from tally.core.loyalty.errors import StalePlan
from tally.core.loyalty.lots import Lot, consume, pay_deficit
from tally.core.loyalty.records import LotState, Program
from tally.services import Services

from . import tables as t
from . import tables_loyalty as lt
from .engine import Step
from .jobs_repo import schedule
from .outbox import event_row
from .types import Amount, Micros, to_micros

T = TypeVar("T")
Write = Callable[[AsyncConnection, list[TransactionRecord]], Awaitable[None]]
ATTEMPTS = 8
_json = msgspec.json.Encoder()
VEST_JOB = "loyalty.points_vest"
EXPIRE_JOB = "loyalty.points_expire"


def points_plan(
    program: Program,
    *,
    reference: str,
    source: str,
    destination: str,
    points: int,
    now: datetime,
    description: str,
    inflight: bool = False,
    allow_overdraft: bool = False,
    meta_data: dict[str, Any] | None = None,
) -> TransferPlan:
    return plan_transfer(
        TransferRequest(
            currency=program.point_unit,
            reference=reference,
            description=description,
            precise_amount=points,
            precision=1,
            source=source,
            destination=destination,
            inflight=inflight,
            allow_overdraft=allow_overdraft,
            meta_data={"program": program.program_id, **(meta_data or {})},
        ),
        now=now,
    )


async def run_steps(services: Services, steps: list[Step], write: Write) -> None:
    """Apply ``steps`` and ``write`` atomically (a plain transaction when there are no steps)."""
    if steps:
        await services.engine.execute(steps, extra=write)
        return
    async with services.db.write() as conn:
        await write(conn, [])


async def retrying(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run ``attempt`` again when it lost a race (``StalePlan``), a few times at most."""
    for _ in range(ATTEMPTS - 1):
        try:
            return await attempt()
        except StalePlan:
            continue
        except sa.exc.IntegrityError as exc:
            if "reference" in str(exc.orig):
                raise DuplicateReference("reference has already been used") from None
            continue
    return await attempt()


class WriteSet:
    """Rows to insert and guarded updates, written in one statement on PostgreSQL.

    A hot path (an earn inside the engine's batch, which holds the issuing balance's lock) pays
    one round trip and no SQL compilation instead of one of each per row: the statement is plain
    SQL sent to the driver, built once per shape. On SQLite (in-process, no round trips) the
    statements run one by one. Every guard must touch exactly one row, or the plan is stale.
    """

    def __init__(self) -> None:
        self.inserts: list[tuple[sa.Table, list[dict[str, Any]]]] = []
        self.guards: list[tuple[sa.Table, dict[str, Any], dict[str, Any], str]] = []

    def insert(self, table: sa.Table, *rows: dict[str, Any]) -> None:
        self.inserts.append((table, list(rows)))

    def guard(
        self, table: sa.Table, where: dict[str, Any], values: dict[str, Any], what: str
    ) -> None:
        """``UPDATE table SET values WHERE where`` must match exactly one row."""
        self.guards.append((table, where, values, what))

    def event(
        self, event_type: str, payload: dict[str, Any], *, now: datetime, subject_id: str
    ) -> None:
        self.insert(t.events, event_row(event_type, payload, now=now, subject_id=subject_id))

    async def flush(self, conn: AsyncConnection) -> None:
        if conn.dialect.name != "postgresql":
            for table, rows in self.inserts:
                await conn.execute(table.insert(), rows)
            for table, where, values, what in self.guards:
                statement = table.update().values(**values)
                for name, value in where.items():
                    statement = statement.where(table.c[name] == value)
                await guarded_update(conn, statement, what)
            return
        sql, params = _pg_statement(self)
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        row = await driver.fetchrow(sql, *params)
        for value, guard in zip(row.values(), self.guards, strict=False):
            if value != 1:
                raise StalePlan(f"{guard[3]} changed while this request ran; retry it")


_SQL_CACHE: dict[tuple[Any, ...], str] = {}


def _pg_value(column: sa.Column[Any], value: Any) -> tuple[str, Any]:
    """A placeholder cast and the value asyncpg expects for it."""
    kind = column.type
    if isinstance(kind, Amount):
        return "::text::numeric", None if value is None else str(int(value))
    if isinstance(kind, Micros):
        return "::int8", None if value is None else to_micros(value)
    if isinstance(kind, sa.JSON) or column.name in ("meta_data", "payload", "details", "config"):
        return "::text::jsonb", _json.encode(value).decode()
    if isinstance(kind, sa.Boolean):
        return "::bool", value
    if isinstance(kind, sa.Integer):
        return "::int8", value
    return "::text", value


def _pg_statement(out: WriteSet) -> tuple[str, list[Any]]:
    shape = (
        tuple((table.name, tuple(rows[0]), len(rows)) for table, rows in out.inserts),
        tuple((table.name, tuple(where), tuple(values)) for table, where, values, _ in out.guards),
    )
    params: list[Any] = []
    casts: list[str] = []

    def bind(column: sa.Column[Any], value: Any) -> str:
        cast, encoded = _pg_value(column, value)
        params.append(encoded)
        casts.append(cast)
        return f"${len(params)}{cast}"

    parts, counts = [], []
    for n, (table, rows) in enumerate(out.inserts):
        names = list(rows[0])
        tuples = ", ".join(
            "(" + ", ".join(bind(table.c[c], row[c]) for c in names) + ")" for row in rows
        )
        parts.append(f"i{n} AS (INSERT INTO {table.name} ({', '.join(names)}) VALUES {tuples})")
    for n, (table, where, values, _) in enumerate(out.guards):
        sets = ", ".join(f"{c} = {bind(table.c[c], v)}" for c, v in values.items())
        conds = " AND ".join(f"{c} = {bind(table.c[c], v)}" for c, v in where.items())
        parts.append(f"g{n} AS (UPDATE {table.name} SET {sets} WHERE {conds} RETURNING 1)")
        counts.append(f"(SELECT count(*) FROM g{n})")
    sql = _SQL_CACHE.get(shape)
    if sql is None:
        sql = f"WITH {', '.join(parts)} SELECT {', '.join(counts) or '1'}"
        _SQL_CACHE[shape] = sql
    return sql, params


async def guarded_update(conn: AsyncConnection, statement: Any, what: str) -> None:
    """Run a conditional update; no row matched means the plan is stale."""
    result = await conn.execute(statement)
    if result.rowcount != 1:
        raise StalePlan(f"{what} changed while this request ran; retry it")


# ---- lots -------------------------------------------------------------------------------------


async def read_deficit(conn: AsyncConnection, account_id: str) -> int:
    row = (
        await conn.execute(
            sa.select(lt.loyalty_accounts.c.deficit).where(
                lt.loyalty_accounts.c.account_id == account_id
            )
        )
    ).first()
    return 0 if row is None else int(row.deficit)


async def _set_deficit(conn: AsyncConnection, account_id: str, old: int, new: int) -> None:
    if old != new:
        await guarded_update(
            conn,
            lt.loyalty_accounts.update()
            .where(lt.loyalty_accounts.c.account_id == account_id)
            .where(lt.loyalty_accounts.c.deficit == old)
            .values(deficit=new),
            "the account's deficit",
        )


def lot_row(
    *,
    program: Program,
    account_id: str,
    ptx_id: str,
    points: int,
    remaining: int,
    now: datetime,
    payment_id: str | None,
    pending_until: datetime | None,
) -> dict[str, Any]:
    available_at = pending_until or now
    return {
        "lot_id": new_id("lot"),
        "account_id": account_id,
        "program_id": program.program_id,
        "ptx_id": ptx_id,
        "payment_id": payment_id,
        "amount": points,
        "remaining": remaining,
        "state": LotState.PENDING if pending_until is not None else LotState.ACTIVE,
        "available_at": available_at,
        "expires_at": program.config.expiry.expires_at(available_at),
        "vest_transaction": None,
        "created_at": now,
    }


async def schedule_lot(conn: AsyncConnection, row: dict[str, Any], now: datetime) -> None:
    if row["state"] == LotState.PENDING:
        await schedule(conn, VEST_JOB, row["lot_id"], row["available_at"], now=now)
    if row["expires_at"] is not None:
        await schedule(conn, EXPIRE_JOB, row["lot_id"], row["expires_at"], now=now)


async def add_lot(
    conn: AsyncConnection,
    *,
    program: Program,
    account_id: str,
    ptx_id: str,
    points: int,
    now: datetime,
    payment_id: str | None = None,
    pending_until: datetime | None = None,
) -> str:
    """Record a credit as a lot; an active credit pays off the account's deficit first."""
    remaining = points
    if pending_until is None:
        deficit = await read_deficit(conn, account_id)
        if deficit:
            remaining, left = pay_deficit(deficit, points)
            await _set_deficit(conn, account_id, deficit, left)
    row = lot_row(
        program=program,
        account_id=account_id,
        ptx_id=ptx_id,
        points=points,
        remaining=remaining,
        now=now,
        payment_id=payment_id,
        pending_until=pending_until,
    )
    await conn.execute(lt.points_lots.insert().values(**row))
    await schedule_lot(conn, row, now)
    return str(row["lot_id"])


async def active_lots(conn: AsyncConnection, account_id: str) -> list[Lot]:
    c = lt.points_lots.c
    rows = await conn.execute(
        sa.select(c.lot_id, c.remaining, c.expires_at, c.id)
        .where(c.account_id == account_id)
        .where(c.state == LotState.ACTIVE)
        .where(c.remaining > 0)
    )
    return [Lot(r.lot_id, int(r.remaining), r.expires_at, r.id) for r in rows]


async def take_from_lots(
    conn: AsyncConnection, account_id: str, points: int, *, into_deficit: bool
) -> list[tuple[str, int]]:
    """Spend ``points`` from the account's lots, soonest-expiring first.

    What the lots cannot cover becomes deficit when ``into_deficit`` (a clawback below zero);
    otherwise the ledger's funds check has already guaranteed the lots cover it.
    """
    lots = await active_lots(conn, account_id)
    taken, shortfall = consume(lots, points)
    await _write_lots(conn, taken)
    if shortfall and into_deficit:
        deficit = await read_deficit(conn, account_id)
        await _set_deficit(conn, account_id, deficit, deficit + shortfall)
    elif shortfall:
        raise StalePlan("the account's lots changed while this request ran; retry it")
    return taken


async def _write_lots(conn: AsyncConnection, taken: list[tuple[str, int]]) -> None:
    c = lt.points_lots.c
    for lot_id, amount in taken:
        await guarded_update(
            conn,
            lt.points_lots.update()
            .where(c.lot_id == lot_id)
            .where(c.remaining >= amount)
            .values(remaining=c.remaining - amount),
            f"lot {lot_id}",
        )


async def give_back_to_lots(
    conn: AsyncConnection, account_id: str, taken: list[tuple[str, int]]
) -> None:
    """Return held points to the lots they came from, then let them pay any deficit."""
    c = lt.points_lots.c
    for lot_id, amount in taken:
        await conn.execute(
            lt.points_lots.update()
            .where(c.lot_id == lot_id)
            .values(remaining=c.remaining + amount, state=LotState.ACTIVE)
        )
        row = (await conn.execute(sa.select(c.expires_at).where(c.lot_id == lot_id))).first()
        if row is not None and row.expires_at is not None:
            await schedule(conn, EXPIRE_JOB, lot_id, row.expires_at, replace=True)
    deficit = await read_deficit(conn, account_id)
    if deficit:
        lots = await active_lots(conn, account_id)
        paid, left = consume(lots, deficit)
        await _write_lots(conn, paid)
        await _set_deficit(conn, account_id, deficit, left)
