"""The posting engine's SQL: a few set-based statements per batch, at the driver level.

A batch costs the same handful of statements whatever its size:

- ``lock``: read every balance the batch touches, locked (``FOR UPDATE``) in ``balance_id`` order
  on PostgreSQL, so two processes never wait on each other in a cycle. SQLite has one writer at a
  time (``BEGIN IMMEDIATE``), so a plain read is already exclusive;
- ``taken``: which of the batch's references are already used;
- ``write``: the transaction rows, the new balance values and the outbox events. On PostgreSQL that
  is one statement (three ``unnest`` arrays in a CTE); on SQLite three ``executemany`` calls.

The hot path bypasses SQLAlchemy's per-row work (type processing, compilation) and speaks to the
driver under the same connection and transaction, so engine extensions (``extra`` callbacks,
``after_apply`` hooks) still run on the SQLAlchemy connection in the batch's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.errors import AlreadyRefunded, DuplicateReference, TallyError
from tally.core.ids import new_id
from tally.core.ledger.balances import BalanceState
from tally.core.ledger.holds import HoldState
from tally.core.ledger.records import Kind, TransactionRecord
from tally.core.ledger.views import transaction_view

from . import tables as t
from .database import Database
from .engine_apply import open_hold_ids
from .engine_ops import Commit, Op, Void
from .outbox import transaction_event_type
from .types import to_micros

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_json = msgspec.json.Encoder()

STATE_SQL = (
    "balance_id, currency, allow_overdraft, indicator, credit_balance, debit_balance, "
    "inflight_credit_balance, inflight_debit_balance, version"
)
# PostgreSQL hands amounts over as text: exact, and much cheaper to decode than NUMERIC.
_PG_STATE_SQL = (
    "balance_id, currency, allow_overdraft, indicator, credit_balance::text, "
    "debit_balance::text, inflight_credit_balance::text, inflight_debit_balance::text, version"
)
TXN_COLUMNS = (
    "transaction_id, parent_transaction, source, destination, reference, precise_amount, "
    "precision, currency, description, status, kind, hash, allow_overdraft, overdraft_limit, "
    "inflight, atomic, created_at, effective_date, scheduled_for, inflight_expiry_date, meta_data"
)
EVENT_COLUMNS = "event_id, type, subject_id, payload, created_at"


def _state(row: Sequence[Any]) -> BalanceState:
    return BalanceState(
        balance_id=row[0],
        currency=row[1],
        allow_overdraft=bool(row[2]),
        indicator=row[3],
        credit_balance=_int(row[4]),
        debit_balance=_int(row[5]),
        inflight_credit_balance=_int(row[6]),
        inflight_debit_balance=_int(row[7]),
        version=int(row[8]),
    )


def _int(value: Any) -> int:
    if isinstance(value, bytes):
        value = value.decode()
    return int(value)


def _micros(value: datetime | None) -> int | None:
    return None if value is None else to_micros(value)


def encode_record(record: TransactionRecord, created: int) -> tuple[str, tuple[Any, ...]]:
    """A row's ``meta_data`` as JSON, and its outbox event (the payload is the row's wire view,
    what a GET returns). Done before the batch locks anything, so it costs no lock time."""
    event = (
        new_id("evt"),
        transaction_event_type(record),
        record.transaction_id,
        _json.encode(transaction_view(record)).decode(),
        created,
    )
    return _json.encode(record.meta_data).decode(), event


def encode_records(
    records: list[TransactionRecord], encoded: dict[str, tuple[Any, ...]], now: datetime
) -> tuple[list[str], list[tuple[Any, ...]]]:
    created = to_micros(now)
    pairs = [encoded.get(r.transaction_id) or encode_record(r, created) for r in records]
    return [pair[0] for pair in pairs], [pair[1] for pair in pairs]


def duplicate_error(record: TransactionRecord) -> TallyError:
    """The business error for a reference another process used a moment before us."""
    if record.kind == Kind.REFUND and record.parent_transaction:
        return AlreadyRefunded(f"transaction {record.parent_transaction} has already been refunded")
    return DuplicateReference(f"reference {record.reference} has already been used")


async def hold_states(conn: AsyncConnection, ops: list[Op]) -> dict[str, HoldState]:
    """Each named hold with what its commit and void rows already used."""
    holds = {
        target.transaction_id: HoldState(target)
        for op in ops
        for step in op.steps
        if isinstance(step, Commit | Void)
        for target in op.targets[step.transaction_id]
    }
    if not holds:
        return holds
    tx = t.transactions.c
    rows = await conn.execute(
        sa.select(tx.parent_transaction, tx.kind, sa.func.count(), tx.precise_amount)
        .where(tx.parent_transaction.in_(open_hold_ids(ops)))
        .where(tx.kind.in_([Kind.COMMIT, Kind.VOID]))
        .group_by(tx.parent_transaction, tx.kind, tx.precise_amount)
    )
    for parent, kind, count, amount in rows:
        state = holds[parent]
        if kind == Kind.COMMIT:
            state.committed += amount * count
            state.commits += count
        else:
            state.voided += amount * count
    return holds


class ReferenceTaken(Exception):
    """The database refused a reference (a unique violation); ``reference`` names it if known."""

    def __init__(self, reference: str | None, original: BaseException) -> None:
        super().__init__(str(original))
        self.reference = reference
        self.original = original


class BatchSql(Protocol):
    async def lock(self, conn: AsyncConnection, ids: list[str]) -> dict[str, BalanceState]: ...

    async def taken(self, conn: AsyncConnection, refs: list[str]) -> set[str]: ...

    async def read(self, conn: AsyncConnection, ids: list[str]) -> dict[str, BalanceState]: ...

    async def write(
        self,
        conn: AsyncConnection,
        records: list[TransactionRecord],
        changed: list[BalanceState],
        metas: list[str],
        events: list[tuple[Any, ...]],
    ) -> None: ...


def batch_sql(db: Database) -> BatchSql:
    return PostgresBatchSql() if db.is_postgres else SqliteBatchSql()


# ---- PostgreSQL (asyncpg) ---------------------------------------------------------------------

_PG_LOCK = (
    f"SELECT {_PG_STATE_SQL} FROM balances WHERE balance_id = ANY($1::varchar[]) "
    "ORDER BY balance_id FOR UPDATE"
)
_PG_READ = f"SELECT {_PG_STATE_SQL} FROM balances WHERE balance_id = ANY($1::varchar[])"
_PG_TAKEN = "SELECT reference FROM transactions WHERE reference = ANY($1::varchar[])"
_PG_WRITE = """
WITH t AS (
  INSERT INTO transactions ({txn_columns})
  SELECT a, b, c, d, e, f::numeric, g::numeric, h, i, j, k, l, m, n::numeric, o, p, q, r, s, u,
         v::jsonb
  FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[], $5::varchar[],
              $6::{n}[], $7::{n}[], $8::varchar[], $9::text[], $10::varchar[],
              $11::varchar[], $12::varchar[], $13::bool[], $14::{n}[], $15::bool[],
              $16::bool[], $17::int8[], $18::int8[], $19::int8[], $20::int8[], $21::text[])
    AS x(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, u, v)
), ev AS (
  INSERT INTO events ({event_columns})
  SELECT a, b, c, d::jsonb, e
  FROM unnest($22::varchar[], $23::varchar[], $24::varchar[], $25::text[], $26::int8[])
    AS y(a, b, c, d, e)
)
UPDATE balances AS bal SET
  credit_balance = v.credit::numeric, debit_balance = v.debit::numeric,
  balance = v.credit::numeric - v.debit::numeric,
  inflight_credit_balance = v.icredit::numeric, inflight_debit_balance = v.idebit::numeric,
  inflight_balance = v.icredit::numeric - v.idebit::numeric, version = v.version
FROM unnest($27::varchar[], $28::{n}[], $29::{n}[], $30::{n}[], $31::{n}[], $32::int8[])
  AS v(id, credit, debit, icredit, idebit, version)
WHERE bal.balance_id = v.id
"""
# Amounts travel as int8 (asyncpg's numeric encoding costs microseconds per value); a batch with
# an amount beyond 64 bits sends them all as exact decimal text instead.
_PG_WRITES = {
    kind: _PG_WRITE.format(txn_columns=TXN_COLUMNS, event_columns=EVENT_COLUMNS, n=kind)
    for kind in ("int8", "text")
}


def _fits_int8(columns: list[list[Any]]) -> bool:
    return all(_INT64_MIN <= v <= _INT64_MAX for column in columns for v in column)


class PostgresBatchSql:
    async def lock(self, conn: AsyncConnection, ids: list[str]) -> dict[str, BalanceState]:
        # Through SQLAlchemy: its first statement is what opens the database transaction.
        result = await conn.exec_driver_sql(_PG_LOCK, (sorted(ids),))
        return {row[0]: _state(row) for row in result.all()}

    async def read(self, conn: AsyncConnection, ids: list[str]) -> dict[str, BalanceState]:
        result = await conn.exec_driver_sql(_PG_READ, (sorted(ids),))
        return {row[0]: _state(row) for row in result.all()}

    async def taken(self, conn: AsyncConnection, refs: list[str]) -> set[str]:
        if not refs:
            return set()
        driver = await _driver(conn)
        return {row[0] for row in await driver.fetch(_PG_TAKEN, refs)}

    async def write(
        self,
        conn: AsyncConnection,
        records: list[TransactionRecord],
        changed: list[BalanceState],
        metas: list[str],
        events: list[tuple[Any, ...]],
    ) -> None:
        columns = _transaction_columns(records, metas)
        event_columns = [list(col) for col in zip(*events, strict=True)] if events else [[]] * 5
        balances: list[list[Any]] = [
            [s.balance_id for s in changed],
            [s.credit_balance for s in changed],
            [s.debit_balance for s in changed],
            [s.inflight_credit_balance for s in changed],
            [s.inflight_debit_balance for s in changed],
            [s.version for s in changed],
        ]
        amounts = [columns[5], columns[6], columns[13], *balances[1:5]]
        if _fits_int8(amounts):
            sql = _PG_WRITES["int8"]
        else:
            sql = _PG_WRITES["text"]
            for column in amounts:
                column[:] = [str(v) for v in column]
        driver = await _driver(conn)
        try:
            await driver.execute(sql, *columns, *event_columns, *balances)
        except Exception as exc:
            if getattr(exc, "sqlstate", None) == "23505":  # unique_violation
                raise ReferenceTaken(_pg_reference(exc), exc) from exc
            raise


def _pg_reference(exc: BaseException) -> str | None:
    if getattr(exc, "constraint_name", None) != "uq_transactions_reference":
        return None
    detail = str(getattr(exc, "detail", "") or "")
    prefix = "Key (reference)=("
    suffix = ") already exists."
    if detail.startswith(prefix) and detail.endswith(suffix):
        return detail[len(prefix) : -len(suffix)]
    return None


def _transaction_columns(records: list[TransactionRecord], metas: list[str]) -> list[list[Any]]:
    return [
        [r.transaction_id for r in records],
        [r.parent_transaction for r in records],
        [r.source for r in records],
        [r.destination for r in records],
        [r.reference for r in records],
        [r.precise_amount for r in records],
        [r.precision for r in records],
        [r.currency for r in records],
        [r.description for r in records],
        [r.status for r in records],
        [r.kind for r in records],
        [r.hash for r in records],
        [r.allow_overdraft for r in records],
        [r.overdraft_limit for r in records],
        [r.inflight for r in records],
        [r.atomic for r in records],
        [to_micros(r.created_at) for r in records],
        [to_micros(r.effective_date) for r in records],
        [_micros(r.scheduled_for) for r in records],
        [_micros(r.inflight_expiry_date) for r in records],
        metas,
    ]


async def _driver(conn: AsyncConnection) -> Any:
    raw = await conn.get_raw_connection()
    return raw.driver_connection


# ---- SQLite (aiosqlite) -----------------------------------------------------------------------

_LITE_READ = (
    f"SELECT {STATE_SQL} FROM balances WHERE balance_id IN (SELECT value FROM json_each(?))"
)
_LITE_TAKEN = (
    "SELECT reference FROM transactions WHERE reference IN (SELECT value FROM json_each(?))"
)
_LITE_INSERT = f"INSERT INTO transactions ({TXN_COLUMNS}) VALUES ({', '.join('?' * 21)})"
_LITE_EVENTS = f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
_LITE_UPDATE = (
    "UPDATE balances SET credit_balance = ?, debit_balance = ?, balance = ?, "
    "inflight_credit_balance = ?, inflight_debit_balance = ?, inflight_balance = ?, version = ? "
    "WHERE balance_id = ?"
)


def _lite_amount(value: int) -> int | str:
    """As ``types.Amount`` stores it: an integer when it fits 64 bits, exact text otherwise."""
    return value if _INT64_MIN <= value <= _INT64_MAX else str(value)


class SqliteBatchSql:
    async def lock(self, conn: AsyncConnection, ids: list[str]) -> dict[str, BalanceState]:
        # The write transaction already holds SQLite's single write lock (BEGIN IMMEDIATE).
        return await self.read(conn, ids)

    async def read(self, conn: AsyncConnection, ids: list[str]) -> dict[str, BalanceState]:
        driver = await _driver(conn)
        rows = await driver.execute_fetchall(_LITE_READ, (_json.encode(sorted(ids)).decode(),))
        return {row[0]: _state(row) for row in rows}

    async def taken(self, conn: AsyncConnection, refs: list[str]) -> set[str]:
        if not refs:
            return set()
        driver = await _driver(conn)
        rows = await driver.execute_fetchall(_LITE_TAKEN, (_json.encode(refs).decode(),))
        return {row[0] for row in rows}

    async def write(
        self,
        conn: AsyncConnection,
        records: list[TransactionRecord],
        changed: list[BalanceState],
        metas: list[str],
        events: list[tuple[Any, ...]],
    ) -> None:
        driver = await _driver(conn)
        rows = [_lite_row(r, meta) for r, meta in zip(records, metas, strict=True)]
        try:
            await driver.executemany(_LITE_INSERT, rows)
        except Exception as exc:
            if type(exc).__name__ == "IntegrityError" and "transactions.reference" in str(exc):
                raise ReferenceTaken(None, exc) from exc
            raise
        await driver.executemany(_LITE_UPDATE, [_lite_balance(s) for s in changed])
        await driver.executemany(_LITE_EVENTS, events)


def _lite_row(r: TransactionRecord, meta: str) -> tuple[Any, ...]:
    return (
        r.transaction_id,
        r.parent_transaction,
        r.source,
        r.destination,
        r.reference,
        _lite_amount(r.precise_amount),
        _lite_amount(r.precision),
        r.currency,
        r.description,
        r.status,
        r.kind,
        r.hash,
        int(r.allow_overdraft),
        _lite_amount(r.overdraft_limit),
        int(r.inflight),
        int(r.atomic),
        to_micros(r.created_at),
        to_micros(r.effective_date),
        _micros(r.scheduled_for),
        _micros(r.inflight_expiry_date),
        meta,
    )


def _lite_balance(s: BalanceState) -> tuple[Any, ...]:
    return (
        _lite_amount(s.credit_balance),
        _lite_amount(s.debit_balance),
        _lite_amount(s.balance),
        _lite_amount(s.inflight_credit_balance),
        _lite_amount(s.inflight_debit_balance),
        _lite_amount(s.inflight_balance),
        s.version,
        s.balance_id,
    )
