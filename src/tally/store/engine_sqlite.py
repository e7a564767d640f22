"""The engine's batch SQL on SQLite, through aiosqlite under SQLAlchemy's connection.

The batch already holds SQLite's single write lock (``BEGIN IMMEDIATE``), so reading the balances
is locking them. Rows go in with ``executemany`` (one call into the driver's thread per table), in
the forms ``types.Amount``/``Micros``/``Json`` store: integers for amounts that fit 64 bits, exact
decimal text beyond; microseconds; JSON text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.ledger.balances import BalanceState
from tally.core.ledger.records import TransactionRecord

from .engine_ops import MergedWrite
from .engine_sql import (
    EVENT_COLUMNS,
    MONITORED,
    TXN_COLUMNS,
    Event,
    ReferenceTaken,
    driver_connection,
    micros,
    state_from,
)
from .types import to_micros

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_json = msgspec.json.Encoder()
_decode = msgspec.json.Decoder(list[str]).decode

_STATE = (
    "balance_id, currency, allow_overdraft, indicator, credit_balance, debit_balance, "
    "inflight_credit_balance, inflight_debit_balance, version"
    f", {MONITORED}"
)
READ = f"SELECT {_STATE} FROM balances WHERE balance_id IN (SELECT value FROM json_each(?))"
LOCK = (
    f"SELECT {_STATE}, (SELECT json_group_array(reference) FROM transactions "
    "WHERE reference IN (SELECT value FROM json_each(?))) "
    "FROM balances WHERE balance_id IN (SELECT value FROM json_each(?))"
)
TAKEN = "SELECT reference FROM transactions WHERE reference IN (SELECT value FROM json_each(?))"
INSERT = f"INSERT INTO transactions ({TXN_COLUMNS}) VALUES ({', '.join('?' * 21)})"
EVENTS = f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
UPDATE = (
    "UPDATE balances SET credit_balance = ?, debit_balance = ?, balance = ?, "
    "inflight_credit_balance = ?, inflight_debit_balance = ?, inflight_balance = ?, version = ? "
    "WHERE balance_id = ?"
)


def _amount(value: int) -> int | str:
    """As ``types.Amount`` stores it: an integer when it fits 64 bits, exact text otherwise."""
    return value if _INT64_MIN <= value <= _INT64_MAX else str(value)


class SqliteBatchSql:
    # One writer at a time: reading before the write lock would only read what may move.
    unlocked = None

    # In-process: no round trip to save, so queued rows keep their own ``before_commit`` write.
    merges = False
    side_by_side = False
    first_free_param = 0

    async def lock(
        self, conn: AsyncConnection, ids: list[str], refs: list[str]
    ) -> tuple[dict[str, BalanceState], set[str]]:
        # The batch holds SQLite's write lock already (BEGIN IMMEDIATE): reading is locking.
        driver = await driver_connection(conn)
        params = (_json.encode(refs).decode(), _json.encode(sorted(ids)).decode())
        rows = await driver.execute_fetchall(LOCK, params)
        if not rows:
            return {}, await self.taken(conn, refs)
        return {row[0]: state_from(row) for row in rows}, set(_decode(rows[0][10]))

    async def read(self, conn: AsyncConnection, ids: list[str]) -> dict[str, BalanceState]:
        driver = await driver_connection(conn)
        rows = await driver.execute_fetchall(READ, (_json.encode(sorted(ids)).decode(),))
        return {row[0]: state_from(row) for row in rows}

    async def taken(self, conn: AsyncConnection, refs: list[str]) -> set[str]:
        if not refs:
            return set()
        driver = await driver_connection(conn)
        rows = await driver.execute_fetchall(TAKEN, (_json.encode(refs).decode(),))
        return {row[0] for row in rows}

    def encode(self, record: TransactionRecord) -> tuple[Any, ...]:
        return _row(record)

    async def write(
        self,
        conn: AsyncConnection,
        records: list[TransactionRecord],
        changed: list[BalanceState],
        events: list[Event],
        encoded: dict[str, Any],
        merged: list[MergedWrite] | None = None,
    ) -> None:
        if merged:
            raise ValueError("SQLite writes queued rows in their own statements")
        driver = await driver_connection(conn)
        rows = [encoded.get(r.transaction_id) or _row(r) for r in records]
        balances = [_balance(s) for s in changed]
        outbox = [(e[0], e[1], e[2], _json.encode(e[3]).decode(), e[4]) for e in events]
        try:
            await _in_driver_thread(driver, _write_all, rows, balances, outbox)
        except Exception as exc:
            if type(exc).__name__ == "IntegrityError" and "transactions.reference" in str(exc):
                raise ReferenceTaken(None, exc) from exc
            raise


def _write_all(
    db: Any, rows: list[tuple[Any, ...]], balances: list[tuple[Any, ...]], outbox: list[Any]
) -> None:
    db.executemany(INSERT, rows)
    db.executemany(UPDATE, balances)
    db.executemany(EVENTS, outbox)


async def _in_driver_thread(driver: Any, work: Callable[..., None], *args: Any) -> None:
    """Run ``work(sqlite3_connection, *args)`` on aiosqlite's own thread, in one hop.

    Every call through aiosqlite is a trip to its thread and back through the event loop, and a
    busy loop makes each return wait its turn: three ``executemany`` calls cost three turns. The
    three statements go in one trip instead, through aiosqlite's ``_execute`` and ``_conn``
    (private names, checked by a test; if they are missing, the calls go one by one).
    """
    execute = getattr(driver, "_execute", None)
    raw = getattr(driver, "_conn", None)
    if execute is None or raw is None:
        await driver.executemany(INSERT, args[0])
        await driver.executemany(UPDATE, args[1])
        await driver.executemany(EVENTS, args[2])
        return
    await execute(work, raw, *args)


def _row(r: TransactionRecord) -> tuple[Any, ...]:
    return (
        r.transaction_id,
        r.parent_transaction,
        r.source,
        r.destination,
        r.reference,
        _amount(r.precise_amount),
        _amount(r.precision),
        r.currency,
        r.description,
        r.status,
        r.kind,
        r.hash,
        int(r.allow_overdraft),
        _amount(r.overdraft_limit),
        int(r.inflight),
        int(r.atomic),
        to_micros(r.created_at),
        to_micros(r.effective_date),
        micros(r.scheduled_for),
        micros(r.inflight_expiry_date),
        _json.encode(r.meta_data).decode(),
    )


def _balance(s: BalanceState) -> tuple[Any, ...]:
    return (
        _amount(s.credit_balance),
        _amount(s.debit_balance),
        _amount(s.balance),
        _amount(s.inflight_credit_balance),
        _amount(s.inflight_debit_balance),
        _amount(s.inflight_balance),
        s.version,
        s.balance_id,
    )
