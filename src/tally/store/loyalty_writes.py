"""Loyalty rows written once per posting-engine batch, in one statement for the whole batch.

An earn is its posting's ``extra``: it runs inside the engine's batch, which holds the program's
issuing balance locked, so a statement per earn there would hold that hot lock for one round trip
per payment. An earn therefore describes its rows as a :class:`WriteSet` (inserts, guarded updates,
checks, due jobs, events), and :meth:`WriteSet.flush` queues it on the batch
(``engine_ops.batch_scratch``). The ``before_commit`` hook :func:`write_batch` then writes every
queued set of the batch: on PostgreSQL in **one** statement (a CTE fed one JSON document per table
and guard shape, SQL text cached per shape), on SQLite (in-process, no round trips) statement by
statement. Outside a batch, ``flush`` writes at once.

Guards keep the batch's order. Every guard names one row (``key``) and what the request's plan
assumed about it (``expect``). Sets queued earlier in the same batch are applied to those rows in
memory first: a guard that expects what an earlier set of the batch changed is stale at once, and
its ``extra`` raises :class:`~tally.core.loyalty.errors.StalePlan`, so that request alone is planned
again. The guards of one row merge into one update that expects, from the database, what the first
of them expected; the one statement counts the rows each merged guard matched, and a miss (a
concurrent writer outside the batch) raises ``StalePlan`` from the hook: the engine then replays
the batch one operation at a time, so only the culprit is retried and the others commit.

A *check* is a guard that changes nothing (a member's deficit that the earn leaves as it is): it is
read, not updated, which is safe because every writer of a deficit holds the member's ledger
balance lock, which the earn's batch holds too.

Card approvals (``cards_authorizations``) queue their rows the same way, with a check that the
card is still ACTIVE, and are written by the same hook: one statement per batch for both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.loyalty.errors import StalePlan

from . import tables as t
from .engine_ops import MergedWrite, batch_scratch
from .engine_sql import driver_connection
from .jobs_repo import job_row
from .outbox import event_row
from .tables_events import scheduled_jobs
from .types import Amount, Micros, to_micros

if TYPE_CHECKING:
    from .engine import PostingEngine

SCRATCH_KEY = "loyalty.writes"
_json = msgspec.json.Encoder()


@dataclass(slots=True)
class Guard:
    """``UPDATE table SET values WHERE key AND expect`` must match exactly one row.

    With no ``values`` it is a check: the row must exist as expected, and nothing is written.
    """

    table: sa.Table
    key: dict[str, Any]
    expect: dict[str, Any]
    values: dict[str, Any]
    what: str

    @property
    def row(self) -> tuple[Any, ...]:
        return (self.table.name, *self.key.items())

    def stale(self) -> StalePlan:
        return StalePlan(f"{self.what} changed while this request ran; retry it")


class WriteSet:
    """The rows one request writes: inserts, guards, checks and events, all or nothing."""

    def __init__(self) -> None:
        self.inserts: list[Insert] = []
        self.guards: list[Guard] = []

    def insert(self, table: sa.Table, *rows: dict[str, Any]) -> None:
        """Rows to insert; their values are encoded now, before any batch holds a lock."""
        for row in rows:
            columns = tuple(row)
            values = list(row.values())
            for i in _timestamps(table, columns):
                values[i] = _micros_or_none(values[i])
            self.inserts.append(Insert(table, row, columns, _json.encode(values)))

    def guard(
        self,
        table: sa.Table,
        key: dict[str, Any],
        expect: dict[str, Any],
        values: dict[str, Any],
        what: str,
    ) -> None:
        """``UPDATE table SET values WHERE key AND expect`` must match exactly one row."""
        if not values:
            raise ValueError("a guard without values is a check")
        self.guards.append(Guard(table, key, expect, values, what))

    def check(
        self, table: sa.Table, key: dict[str, Any], expect: dict[str, Any], what: str
    ) -> None:
        """The row named by ``key`` must still hold ``expect`` (read, not written)."""
        self.guards.append(Guard(table, key, expect, {}, what))

    def event(
        self, event_type: str, payload: dict[str, Any], *, now: datetime, subject_id: str
    ) -> None:
        self.insert(t.events, event_row(event_type, payload, now=now, subject_id=subject_id))

    def job(self, kind: str, subject_id: str, due_at: datetime, *, now: datetime) -> None:
        """Due work for a subject created by this request (so it has no job yet): the row
        ``jobs_repo.schedule`` writes for a subject without a job."""
        self.insert(scheduled_jobs, job_row(kind, subject_id, due_at, now=now))

    async def flush(self, conn: AsyncConnection, *, at_once: bool = False) -> None:
        """Queue the set on the engine batch being applied, or write it now.

        ``at_once`` writes now even inside a batch (for a request whose later statements need
        these rows in place); its guards still follow the batch's earlier sets.
        """
        scratch = batch_scratch.get(None)
        if scratch is None:  # a plain transaction: statement by statement, through SQLAlchemy
            await _write_each(conn, BatchWrites.of(self))
            return
        batch = scratch.get(SCRATCH_KEY)
        if batch is None:
            batch = scratch[SCRATCH_KEY] = BatchWrites()
        batch.add(self, queue=not at_once)
        if at_once:
            await _write(conn, BatchWrites.of(self))


@dataclass(slots=True)
class Insert:
    """One row to insert, with its values already encoded for the PostgreSQL statement."""

    table: sa.Table
    row: dict[str, Any]
    columns: tuple[str, ...]
    encoded: bytes  # the values in ``columns`` order, as a JSON array


class BatchWrites:
    """The sets queued by one batch attempt: inserts in order, guards merged per row."""

    def __init__(self) -> None:
        self.inserts: dict[tuple[str, tuple[str, ...]], list[Insert]] = {}
        self.guards: dict[tuple[Any, ...], Guard] = {}
        self.known: dict[tuple[Any, ...], dict[str, Any]] = {}  # each row as the batch left it

    @classmethod
    def of(cls, out: WriteSet) -> BatchWrites:
        batch = cls()
        batch.add(out, queue=True)
        return batch

    def add(self, out: WriteSet, *, queue: bool) -> None:
        """Apply ``out``'s guards after the batch's earlier sets; StalePlan if they disagree."""
        known: dict[tuple[Any, ...], dict[str, Any]] = {}
        before: list[dict[str, Any]] = []  # each guard's row as the guards before it left it
        for guard in out.guards:
            row = known.get(guard.row)
            if row is None:
                row = known[guard.row] = dict(self.known.get(guard.row, {}))
            if any(row.get(name, value) != value for name, value in guard.expect.items()):
                raise guard.stale()
            before.append(dict(row))
            row.update(guard.expect)
            row.update(guard.values)
        if queue:
            for guard, seen in zip(out.guards, before, strict=True):
                self._merge(guard, seen)
            for item in out.inserts:
                self.inserts.setdefault((item.table.name, item.columns), []).append(item)
        self.known.update(known)

    def _merge(self, guard: Guard, seen: dict[str, Any]) -> None:
        """Fold ``guard`` into its row's update; expect from the database what no set before it
        in the batch has already settled."""
        merged = self.guards.get(guard.row)
        if merged is None:
            merged = self.guards[guard.row] = Guard(guard.table, guard.key, {}, {}, guard.what)
        for name, value in guard.expect.items():
            if name not in seen:
                merged.expect[name] = value
        merged.values.update(guard.values)

    def __bool__(self) -> bool:
        return bool(self.inserts or self.guards)


async def write_batch(conn: AsyncConnection, scratch: dict[str, Any]) -> None:
    """The engine's ``before_commit`` hook: write what the batch's earns queued."""
    batch = scratch.pop(SCRATCH_KEY, None)
    if batch:
        await _write(conn, batch)


def install(engine: PostingEngine) -> None:
    """Register :func:`write_batch` and :func:`merge_batch` on ``engine`` (once)."""
    if write_batch not in engine.before_commit:
        engine.before_commit.append(write_batch)
    if merge_batch not in engine.write_merges:
        engine.write_merges.append(merge_batch)


async def _write(conn: AsyncConnection, batch: BatchWrites) -> None:
    if not batch:
        return
    if conn.dialect.name == "postgresql":
        await _write_pg(conn, batch)
    else:
        await _write_each(conn, batch)


async def _write_each(conn: AsyncConnection, batch: BatchWrites) -> None:
    for items in batch.inserts.values():
        await conn.execute(items[0].table.insert(), [item.row for item in items])
    for guard in batch.guards.values():
        where = [guard.table.c[k] == v for k, v in (guard.key | guard.expect).items()]
        if guard.values:
            result = await conn.execute(guard.table.update().where(*where).values(**guard.values))
            matched = result.rowcount
        else:
            query = sa.select(sa.func.count()).select_from(guard.table).where(*where)
            matched = (await conn.execute(query)).scalar_one()
        if matched != 1:
            raise guard.stale()


# ---- PostgreSQL: one statement ------------------------------------------------------------------

Encode = Callable[[Any], Any]


def _kind(column: sa.Column[Any]) -> tuple[str, Encode]:
    """How a column's value travels in JSON: (SQL reading element ``{i}`` of ``r``, encoder)."""
    kind = column.type
    if isinstance(kind, Amount):
        return "(r->>{i})::numeric", _int_or_none
    if isinstance(kind, Micros):
        return "(r->>{i})::int8", _micros_or_none
    if isinstance(kind, sa.JSON):
        return "(r->{i})", _same
    if isinstance(kind, sa.Boolean):
        return "(r->>{i})::bool", _same
    if isinstance(kind, sa.Integer):
        return "(r->>{i})::int8", _same
    return "(r->>{i})", _same


def _same(value: Any) -> Any:
    return value


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _micros_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, int):
        return value
    return to_micros(value)


_TIMESTAMPS: dict[tuple[str, tuple[str, ...]], list[int]] = {}


def _timestamps(table: sa.Table, columns: tuple[str, ...]) -> list[int]:
    """Where the ``Micros`` columns are among ``columns``: the only values encoding changes
    (amounts travel as JSON integers, text and JSON as themselves)."""
    found = _TIMESTAMPS.get((table.name, columns))
    if found is None:
        found = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, Micros)]
        _TIMESTAMPS[(table.name, columns)] = found
    return found


_PARTS: dict[tuple[Any, ...], tuple[list[str], list[str]]] = {}
MAX_SHAPES = 256


def _compile_parts(key: tuple[Any, ...], first: int) -> tuple[list[str], list[str]]:
    """The statement parts for a batch shape: a CTE (``lw{n} AS (...)``, parameters numbered
    from ``first``) per insert and per guard update, and per guard shape the count of the rows
    it matched."""
    tables = t.metadata.tables
    parts: list[str] = []
    counts: list[str] = []
    for n, item in enumerate(key, start=first):
        doc = f"jsonb_array_elements(${n}::jsonb) AS r"
        if item[0] == "i":
            _, name, columns = item
            table = tables[name]
            values = ", ".join(_kind(table.c[c])[0].format(i=i) for i, c in enumerate(columns))
            parts.append(
                f"lw{n} AS (INSERT INTO {name} ({', '.join(columns)}) SELECT {values} FROM {doc})"
            )
            continue
        op, name, keys, expects, sets = item
        table = tables[name]
        read = [_kind(table.c[c])[0].format(i=i) for i, c in enumerate([*keys, *expects, *sets])]
        # The rows are found through the first key's index (= ANY of an array), whatever the
        # planner guesses about the document's length; then matched to their document element.
        ids = f"ARRAY(SELECT {read[0]} FROM {doc})"
        where = [f"x.{keys[0]} = ANY({ids})"]
        where += [f"x.{c} = {read[i]}" for i, c in enumerate(keys)]
        where += [
            f"x.{c} IS NOT DISTINCT FROM {read[len(keys) + i]}" for i, c in enumerate(expects)
        ]
        condition = " AND ".join(where)
        if op == "u":
            offset = len(keys) + len(expects)
            assign = ", ".join(f"{c} = {read[offset + i]}" for i, c in enumerate(sets))
            parts.append(
                f"lw{n} AS (UPDATE {name} AS x SET {assign} FROM {doc} "
                f"WHERE {condition} RETURNING 1)"
            )
            counts.append(f"(SELECT count(*) FROM lw{n})")
        else:
            counts.append(f"(SELECT count(*) FROM {name} AS x, {doc} WHERE {condition})")
    return parts, counts


def _guard_doc(guards: list[Guard]) -> bytes:
    rows = []
    for g in guards:
        names = (*g.key, *g.expect, *g.values)
        values = (*g.key.values(), *g.expect.values(), *g.values.values())
        encoders = [_kind(g.table.c[name])[1] for name in names]
        rows.append([encode(v) for encode, v in zip(encoders, values, strict=True)])
    return _json.encode(rows)


def merge_batch(scratch: dict[str, Any], first: int) -> MergedWrite | None:
    """The engine's ``write_merges`` hook: what the batch's extras queued, as parts of the
    engine's own statement (taken out of the scratch, so ``write_batch`` finds nothing)."""
    batch = scratch.pop(SCRATCH_KEY, None)
    return _merge(batch, first) if batch else None


def _merge(batch: BatchWrites, first: int) -> MergedWrite:
    """The parts ``merge_batch`` hands the engine (a name of its own: the merged path and a
    statement of the batch's own can be told apart)."""
    return _statement_parts(batch, first)


def _statement_parts(batch: BatchWrites, first: int) -> MergedWrite:
    """The batch as statement parts (their text cached per batch shape) and their check."""
    key, params, groups = _shape(batch)
    cache = (key, first)
    found = _PARTS.get(cache)
    if found is None:
        if len(_PARTS) >= MAX_SHAPES:
            _PARTS.clear()
        found = _PARTS[cache] = _compile_parts(key, first)
    parts, counts = found
    return MergedWrite(parts, counts, params, lambda values: _verify(values, groups))


def _shape(batch: BatchWrites) -> tuple[tuple[Any, ...], list[str], list[list[Guard]]]:
    """The batch's statement shape (its cache key), its documents and its guard groups."""
    key: list[Any] = []
    params: list[str] = []
    for (name, columns), items in batch.inserts.items():
        key.append(("i", name, columns))
        params.append((b"[" + b",".join(item.encoded for item in items) + b"]").decode())
    groups: dict[tuple[Any, ...], list[Guard]] = {}
    for g in batch.guards.values():
        shape = ("u" if g.values else "c", g.table.name, tuple(g.key), tuple(g.expect))
        groups.setdefault((*shape, tuple(g.values)), []).append(g)
    for shape, guards in groups.items():
        key.append(shape)
        params.append(_guard_doc(guards).decode())
    return tuple(key), params, list(groups.values())


async def _write_pg(conn: AsyncConnection, batch: BatchWrites) -> None:
    """The batch in a statement of its own, returning each guard shape's matched rows."""
    own = _statement_parts(batch, 1)
    head = f"WITH {', '.join(own.parts)} " if own.parts else ""
    sql = f"{head}SELECT {', '.join(own.counts) or '0'}"
    driver = await driver_connection(conn)
    found = await driver.fetchrow(sql, *own.params)
    own.check(list(found.values()))


def _verify(values: list[Any], groups: list[list[Guard]]) -> None:
    """Each guard group matched as many rows as it has guards, or the plan was stale."""
    for matched, guards in zip(values, groups, strict=False):
        if matched != len(guards):
            if len(guards) == 1:
                raise guards[0].stale()
            raise StalePlan("rows this batch planned on changed while it ran; retry it")
