"""Reading the outbox: ``GET /events`` queries, and the relay's gap-aware position in it.

The relay reads events in ``events.id`` order. On PostgreSQL ids are handed out when a row is
inserted but become visible when its transaction commits, so a later id can be seen before an
earlier one. The relay therefore remembers the ids it skipped ("gaps") and looks for them again on
every round until they appear or are older than ``GAP_TIMEOUT`` (ids of rolled-back transactions
never appear). An event is thus handed on once, even when it commits late; on SQLite, where
writers are serialized, gaps never happen.
"""

from __future__ import annotations

import base64
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.errors import BadRequest
from tally.core.events.envelope import event_envelope
from tally.core.events.errors import EventNotFound

from . import tables as t
from .event_payloads import hydrate
from .tables_events import event_cursors
from .types import from_micros, to_micros

GAP_TIMEOUT = timedelta(minutes=10)
MAX_GAPS = 5000
RELAY_CURSOR = "relay"


async def envelopes(conn: AsyncConnection, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """The wire envelopes of event rows, payloads rendered (``event_payloads``)."""
    payloads = await hydrate(conn, [(row.type, row.subject_id, row.payload) for row in rows])
    return [
        event_envelope(row.event_id, row.type, row.created_at, payload)
        for row, payload in zip(rows, payloads, strict=True)
    ]


def type_clause(column: Any, patterns: Sequence[str]) -> Any:
    """SQL for an event-type filter (``*``, ``prefix.*`` or exact types)."""
    if not patterns or "*" in patterns:
        return sa.true()
    exact = [p for p in patterns if not p.endswith(".*")]
    parts = [
        column.like(p[:-1].replace("_", r"\_") + "%", escape="\\")
        for p in patterns
        if p.endswith(".*")
    ]
    if exact:
        parts.append(column.in_(exact))
    return sa.or_(*parts)


async def get_event(conn: AsyncConnection, event_id: str) -> Any:
    row = (await conn.execute(sa.select(t.events).where(t.events.c.event_id == event_id))).first()
    if row is None:
        raise EventNotFound(f"event {event_id} not found", details={"event_id": event_id})
    return row


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"e{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("e"):
            raise ValueError(text)
        return int(text[1:])
    except ValueError:
        raise BadRequest(f"cursor {cursor!r} is not a cursor returned by this API") from None


@dataclass(slots=True)
class EventQuery:
    types: list[str] = field(default_factory=list)
    created: dict[str, datetime] = field(default_factory=dict)  # gt/gte/lt/lte -> time
    subject_id: str | None = None
    cursor: str | None = None
    limit: int = 20


_COMPARE = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__"}


async def list_events(
    conn: AsyncConnection, query: EventQuery
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first; returns a page and the cursor of the next page (None at the end)."""
    ev = t.events.c
    select = sa.select(t.events).where(type_clause(ev.type, query.types))
    for op, when in query.created.items():
        select = select.where(getattr(ev.created_at, _COMPARE[op])(when))
    if query.subject_id:
        select = select.where(ev.subject_id == query.subject_id)
    if query.cursor:
        select = select.where(ev.id < decode_cursor(query.cursor))
    rows = list(await conn.execute(select.order_by(ev.id.desc()).limit(query.limit + 1)))
    page = rows[: query.limit]
    more = len(rows) > query.limit
    return await envelopes(conn, page), encode_cursor(page[-1].id) if more else None


# ---- the relay's position ------------------------------------------------------------------


@dataclass(slots=True)
class TailEvent:
    seq: int
    event_id: str
    type: str
    payload: dict[str, Any]
    created_micros: int  # as stored: the relay compares it with an endpoint's creation


@dataclass(slots=True)
class Cursor:
    position: int
    gaps: dict[int, int]  # missing id -> wall-clock micros when first missed


def _wall_now() -> int:
    return to_micros(datetime.now(UTC))


async def peek_cursor(conn: AsyncConnection, name: str = RELAY_CURSOR) -> Cursor:
    row = (await conn.execute(sa.select(event_cursors).where(event_cursors.c.name == name))).first()
    if row is None:
        return Cursor(0, {})
    return Cursor(int(row.position), {int(k): int(v) for k, v in (row.gaps or [])})


async def has_work(conn: AsyncConnection, cursor: Cursor) -> bool:
    """Cheap read-only check: new events, a gap filled, or a gap to expire."""
    top = (await conn.execute(sa.select(sa.func.max(t.events.c.id)))).scalar()
    if top is not None and int(top) > cursor.position:
        return True
    if not cursor.gaps:
        return False
    limit = _wall_now() - int(GAP_TIMEOUT.total_seconds() * 1e6)
    if any(seen < limit for seen in cursor.gaps.values()):
        return True
    found = await conn.execute(
        sa.select(t.events.c.id).where(t.events.c.id.in_(sorted(cursor.gaps))).limit(1)
    )
    return found.first() is not None


async def lock_cursor(
    conn: AsyncConnection, *, name: str = RELAY_CURSOR, now: datetime
) -> Cursor | None:
    """The cursor, locked for this transaction; None if another worker holds it (PostgreSQL)."""
    insert = (
        postgresql.insert(event_cursors)
        if conn.dialect.name == "postgresql"
        else sqlite.insert(event_cursors)
    )
    await conn.execute(
        insert.values(name=name, position=0, gaps=[], updated_at=now).on_conflict_do_nothing(
            index_elements=["name"]
        )
    )
    query = sa.select(event_cursors).where(event_cursors.c.name == name)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return Cursor(int(row.position), {int(k): int(v) for k, v in (row.gaps or [])})


async def take(
    conn: AsyncConnection,
    cursor: Cursor,
    *,
    limit: int,
    render: Collection[str] | None = None,
) -> list[TailEvent]:
    """Events not handed on yet (late ones first), advancing ``cursor`` in memory.

    Payloads are rendered (``event_payloads.hydrate``) for every event, or, when ``render``
    names event types, for those types only: the others are not even read, and come with an
    empty payload (the relay routes them by id and type; a delivery renders its own)."""
    wall = _wall_now()
    taken: list[Any] = []
    e = t.events.c
    payload: Any = e.payload
    if render is not None:
        payload = sa.case((e.type.in_(sorted(render)), e.payload), else_=sa.null())
    columns = sa.select(
        e.id,
        e.event_id,
        e.type,
        e.subject_id,
        sa.type_coerce(e.created_at, sa.BigInteger).label("created_at"),
        payload.label("payload"),
    )
    if cursor.gaps:
        late = await conn.execute(columns.where(e.id.in_(sorted(cursor.gaps))))
        for row in late:
            cursor.gaps.pop(int(row.id), None)
            taken.append(row)
        expired = wall - int(GAP_TIMEOUT.total_seconds() * 1e6)
        cursor.gaps = {k: v for k, v in cursor.gaps.items() if v >= expired}
    rows = (
        await conn.execute(columns.where(e.id > cursor.position).order_by(e.id).limit(limit))
    ).all()
    expected = cursor.position + 1
    gaps = cursor.gaps
    for row in rows:
        for missing in range(expected, row[0]):
            gaps[missing] = wall
        expected = row[0] + 1
    taken += rows
    if rows:
        cursor.position = int(rows[-1][0])
    if len(gaps) > MAX_GAPS:
        cursor.gaps = dict(sorted(gaps.items())[-MAX_GAPS:])
    wanted = [row for row in taken if render is None or row[2] in render]
    rendered = await hydrate(conn, [(row[2], row[3], row[5]) for row in wanted])
    by_id = {id(row): payload for row, payload in zip(wanted, rendered, strict=True)}
    return [
        TailEvent(int(row[0]), row[1], row[2], by_id.get(id(row)) or {}, int(row[4]))
        for row in taken
    ]


async def save_cursor(
    conn: AsyncConnection, cursor: Cursor, *, name: str = RELAY_CURSOR, now: datetime
) -> None:
    await conn.execute(
        event_cursors.update()
        .where(event_cursors.c.name == name)
        .values(
            position=cursor.position,
            gaps=[[k, v] for k, v in sorted(cursor.gaps.items())],
            updated_at=now,
        )
    )


def gap_age(cursor: Cursor) -> timedelta | None:
    if not cursor.gaps:
        return None
    return datetime.now(UTC) - from_micros(min(cursor.gaps.values()))
