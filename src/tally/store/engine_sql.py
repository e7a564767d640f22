"""The posting engine's SQL: a few set-based statements per batch, at the driver level.

A batch costs the same handful of statements whatever its size:

- ``lock``: read every balance the batch touches, locked (``FOR UPDATE``) in ``balance_id`` order,
  and, in the same statement, which of the batch's references are already used
  on PostgreSQL, so two processes never wait on each other in a cycle. SQLite has one writer at a
  time (``BEGIN IMMEDIATE``), so a plain read is already exclusive;
- ``write``: the transaction rows, the new balance values and the outbox events. On PostgreSQL
  that is one statement fed three JSON documents (``engine_pg``); on SQLite three
  ``executemany`` calls (``engine_sqlite``).

The hot path bypasses SQLAlchemy's per-row work (type processing, compilation) and speaks to the
driver under the same connection and transaction, so engine extensions (``extra`` callbacks,
``after_apply`` hooks) still run on the SQLAlchemy connection in the batch's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.errors import AlreadyRefunded, DuplicateReference, TallyError
from tally.core.ids import new_id
from tally.core.ledger.balances import BalanceState
from tally.core.ledger.holds import HoldState
from tally.core.ledger.records import Kind, TransactionRecord

from . import tables as t
from .database import Database
from .engine_apply import open_hold_ids
from .engine_ops import Commit, MergedWrite, Op, Void
from .event_payloads import lazy_payload
from .outbox import transaction_event_type
from .types import to_micros

Event = tuple[str, str, str, dict[str, Any], int]  # event_id, type, subject_id, payload, created

TXN_COLUMNS = (
    "transaction_id, parent_transaction, source, destination, reference, precise_amount, "
    "precision, currency, description, status, kind, hash, allow_overdraft, overdraft_limit, "
    "inflight, atomic, created_at, effective_date, scheduled_for, inflight_expiry_date, meta_data"
)
EVENT_COLUMNS = "event_id, type, subject_id, payload, created_at"


class UnlockedSql(Protocol):
    """A batch in two trips: an unlocked read, then a write that checks versions."""

    async def peek(
        self, driver: Any, ids: list[str], refs: list[str]
    ) -> tuple[dict[str, BalanceState], set[str]]:
        """``lock`` without the lock, as its own statement on the driver connection."""
        ...

    async def write_checked(
        self,
        driver: Any,
        records: list[TransactionRecord],
        changed: list[tuple[BalanceState, int]],
        events: list[Event],
        encoded: dict[str, Any],
    ) -> None:
        """``write`` as its own transaction, writing nothing unless every changed balance is
        still at the version read (``Moved`` otherwise)."""
        ...


class BatchSql(Protocol):
    async def lock(
        self, conn: AsyncConnection, ids: list[str], refs: list[str]
    ) -> tuple[dict[str, BalanceState], set[str]]:
        """Lock and read the balances ``ids``; also which of ``refs`` are used already (one
        round trip: every trip through a busy event loop waits its turn)."""
        ...

    async def read(self, conn: AsyncConnection, ids: list[str]) -> dict[str, BalanceState]: ...

    @property
    def unlocked(self) -> UnlockedSql | None:
        """The statements of a batch in two trips (``engine_optimistic``), where the store has
        them: PostgreSQL. SQLite has one writer, so reading before its lock gains nothing."""
        ...

    async def taken(self, conn: AsyncConnection, refs: list[str]) -> set[str]: ...

    def encode(self, record: TransactionRecord) -> Any:
        """A row as ``write`` sends it; posts' rows are encoded before the batch locks anything."""
        ...

    # Whether ``write`` can carry ``MergedWrite`` parts, and the first parameter number they
    # may use.
    merges: bool
    first_free_param: int
    # Whether two batches on distinct balances write at the same time (row locks), so that
    # flushers should prefer ops no other batch holds (``engine_queue``); SQLite has one writer.
    side_by_side: bool

    async def write(
        self,
        conn: AsyncConnection,
        records: list[TransactionRecord],
        changed: list[BalanceState],
        events: list[Event],
        encoded: dict[str, Any],
        merged: list[MergedWrite] | None = None,
    ) -> None:
        """Insert ``records`` (``encoded`` holds some of them encoded already, by id), update
        ``changed`` and insert ``events``; and write ``merged`` in the same statement."""
        ...


def batch_sql(db: Database) -> BatchSql:
    if db.is_postgres:
        from .engine_pg import PostgresBatchSql

        return PostgresBatchSql()
    from .engine_sqlite import SqliteBatchSql

    return SqliteBatchSql()


class ReferenceTaken(Exception):
    """The database refused a reference (a unique violation); ``reference`` names it if known."""

    def __init__(self, reference: str | None, original: BaseException) -> None:
        super().__init__(str(original))
        self.reference = reference
        self.original = original


class Moved(Exception):
    """A checked write found a balance changed since it was read: nothing was written."""


def event_for(record: TransactionRecord, created: int) -> Event:
    """A new row's outbox event, which names its row (``event_payloads`` renders it when read)."""
    return (
        new_id("evt"),
        transaction_event_type(record),
        record.transaction_id,
        lazy_payload(record),
        created,
    )


def events_for(
    records: list[TransactionRecord], built: dict[str, Event], now: datetime
) -> list[Event]:
    created = to_micros(now)
    return [built.get(r.transaction_id) or event_for(r, created) for r in records]


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


# Read with every balance the engine locks: whether a monitor watches it, so the monitor hook
# queries ``balance_monitors`` only for batches that touch a watched balance. A monitor is created
# under a key-share lock on its balance, which waits for a batch holding that balance.
MONITORED = "EXISTS (SELECT 1 FROM balance_monitors AS m WHERE m.balance_id = balances.balance_id)"


def state_from(row: Sequence[Any]) -> BalanceState:
    """A balance read by ``lock``/``read`` (amounts as text or integers, exact either way)."""
    return BalanceState(
        row[0],
        row[1],
        bool(row[2]),
        row[3],
        _int(row[4]),
        _int(row[5]),
        _int(row[6]),
        _int(row[7]),
        int(row[8]),
        bool(row[9]) if len(row) > 9 else True,
    )


def _int(value: Any) -> int:
    return value if type(value) is int else int(value.decode() if type(value) is bytes else value)


def micros(value: datetime | None) -> int | None:
    return None if value is None else to_micros(value)


async def driver_connection(conn: AsyncConnection) -> Any:
    """The DB-API driver's own connection under ``conn`` (same connection, same transaction)."""
    raw = await conn.get_raw_connection()
    return raw.driver_connection
