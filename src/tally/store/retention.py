"""Retention: what the outbox, the delivery log, the job table and the idempotency keys keep.

The ledger itself (ledgers, balances, transactions, identities) is never pruned. What is pruned
is the operational record around it, which otherwise grows with every request for ever:

- **deliveries** that are finished (succeeded, failed, cancelled) and were created before the
  event retention window, with their attempts;
- **events** created before the window that the relay has handed on (its position is past
  them, so no endpoint and no due job still waits for them) and that no delivery names, except a
  balance's own (``balance.created``, ``balance.updated``: one or two per balance, and the
  overdraft history ``tally verify`` reads);
- **finished jobs** (done, failed, cancelled) last changed before the window;
- **idempotency keys** older than their own window, answered or not (a key whose request died
  with its process would otherwise answer ``409 GEN_IDEMPOTENCY_IN_PROGRESS`` for ever).

Rows go in chunks, each its own short transaction, so a large backlog never holds locks for
long. On PostgreSQL each chunk first takes a transaction-level advisory lock: when several
processes prune at once, all but one stop at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.events.retry import State as DeliveryState
from tally.settings import Settings

from . import tables as t
from .database import Database
from .events_repo import peek_cursor
from .jobs_repo import JobState
from .tables_events import scheduled_jobs, webhook_attempts, webhook_deliveries

# Any 64-bit number that no other part of Tally uses: "tally.retention".
ADVISORY_KEY = 0x7A11_7E7E_0001
CHUNK = 5_000

_FINISHED_DELIVERIES = (DeliveryState.SUCCEEDED, DeliveryState.FAILED, DeliveryState.CANCELLED)
_FINISHED_JOBS = (JobState.DONE, JobState.FAILED, JobState.CANCELLED)
# A balance's history: whether it ever allowed overdraft (``verify``), a handful per balance.
KEPT_EVENT_TYPES = ("balance.created", "balance.updated")


@dataclass(frozen=True, slots=True)
class Retention:
    """How long each kind of row is kept; ``None`` keeps it for ever."""

    events: timedelta | None = timedelta(days=90)
    idempotency_keys: timedelta | None = timedelta(hours=24)

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        days, hours = settings.event_retention_days, settings.idempotency_retention_hours
        return cls(
            events=timedelta(days=days) if days > 0 else None,
            idempotency_keys=timedelta(hours=hours) if hours > 0 else None,
        )


@dataclass(slots=True)
class Pruned:
    """Rows removed (or, for a dry run, that would be), per table."""

    deliveries: int = 0
    attempts: int = 0
    events: int = 0
    jobs: int = 0
    idempotency_keys: int = 0
    # Another process held the pruning lock: this one stopped (PostgreSQL only).
    yielded: bool = False

    def counts(self) -> dict[str, int]:
        """Rows per table (without ``yielded``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "yielded"}

    @property
    def total(self) -> int:
        return sum(self.counts().values())

    def add(self, other: Pruned) -> None:
        for name, value in other.counts().items():
            setattr(self, name, getattr(self, name) + value)

    def to_dict(self) -> dict[str, int | bool]:
        return asdict(self)


async def prune(
    db: Database,
    retention: Retention,
    *,
    now: datetime,
    chunk: int = CHUNK,
    pause: float = 0.0,
    stop: asyncio.Event | None = None,
) -> Pruned:
    """Remove what ``retention`` no longer keeps, ``chunk`` rows per transaction.

    ``pause`` seconds pass between chunks, to leave the database to the traffic it serves; once
    ``stop`` is set no further chunk starts (what is left goes next time)."""
    pruned = Pruned()
    steps: list[Callable[[AsyncConnection], Awaitable[int]]] = []
    if retention.events is not None:
        cutoff = now - retention.events
        steps += [
            lambda conn: _deliveries_chunk(conn, pruned, cutoff, chunk),
            lambda conn: _events_chunk(conn, pruned, cutoff, chunk),
            lambda conn: _jobs_chunk(conn, pruned, cutoff, chunk),
        ]
    if retention.idempotency_keys is not None:
        key_cutoff = now - retention.idempotency_keys
        steps.append(lambda conn: _keys_chunk(conn, pruned, key_cutoff, chunk))
    for step in steps:
        while True:
            async with db.write() as conn:
                if db.is_postgres and not await _locked(conn):
                    pruned.yielded = True
                    return pruned
                removed = await step(conn)
            if removed < chunk:
                break
            if stop is not None and stop.is_set():
                return pruned
            if pause:
                await asyncio.sleep(pause)
    return pruned


async def count(db: Database, retention: Retention, *, now: datetime) -> Pruned:
    """What ``prune`` would remove now (a dry run: nothing is written)."""
    found = Pruned()
    async with db.read() as conn:
        if retention.events is not None:
            cutoff = now - retention.events
            deliveries = _old_deliveries(cutoff).subquery()
            found.deliveries = await _scalar(
                conn, sa.select(sa.func.count()).select_from(deliveries)
            )
            found.attempts = await _scalar(
                conn,
                sa.select(sa.func.count())
                .select_from(webhook_attempts)
                .where(webhook_attempts.c.delivery_id.in_(_old_deliveries(cutoff, "delivery_id"))),
            )
            position = (await peek_cursor(conn)).position
            # Events become prunable once their deliveries are gone, as ``prune`` removes them
            # first: count events no delivery would still name.
            kept = sa.select(webhook_deliveries.c.event_id).where(
                sa.or_(
                    webhook_deliveries.c.state.not_in(_FINISHED_DELIVERIES),
                    webhook_deliveries.c.created_at >= cutoff,
                )
            )
            found.events = await _scalar(
                conn,
                sa.select(sa.func.count())
                .select_from(t.events)
                .where(*_event_age(cutoff, position), t.events.c.event_id.not_in(kept)),
            )
            found.jobs = await _scalar(
                conn,
                sa.select(sa.func.count()).select_from(scheduled_jobs).where(*_job_age(cutoff)),
            )
        if retention.idempotency_keys is not None:
            key_cutoff = now - retention.idempotency_keys
            found.idempotency_keys = await _scalar(
                conn,
                sa.select(sa.func.count())
                .select_from(t.idempotency_keys)
                .where(t.idempotency_keys.c.created_at < key_cutoff),
            )
    return found


# ---- one chunk each ---------------------------------------------------------------------------


async def _deliveries_chunk(
    conn: AsyncConnection, pruned: Pruned, cutoff: datetime, chunk: int
) -> int:
    d = webhook_deliveries.c
    gone = (
        (
            await conn.execute(
                webhook_deliveries.delete()
                .where(d.id.in_(_old_deliveries(cutoff, "id").order_by(d.id).limit(chunk)))
                .where(d.state.in_(_FINISHED_DELIVERIES))  # checked again: a resend reopens one
                .returning(d.delivery_id)
            )
        )
        .scalars()
        .all()
    )
    if gone:
        result = await conn.execute(
            webhook_attempts.delete().where(webhook_attempts.c.delivery_id.in_(list(gone)))
        )
        pruned.attempts += max(result.rowcount, 0)
    pruned.deliveries += len(gone)
    return len(gone)


async def _events_chunk(conn: AsyncConnection, pruned: Pruned, cutoff: datetime, chunk: int) -> int:
    position = (await peek_cursor(conn)).position
    e = t.events.c
    named = sa.exists().where(webhook_deliveries.c.event_id == e.event_id)
    ids = sa.select(e.id).where(*_event_age(cutoff, position), ~named).order_by(e.id).limit(chunk)
    result = await conn.execute(t.events.delete().where(e.id.in_(ids)))
    removed = max(result.rowcount, 0)
    pruned.events += removed
    return removed


async def _jobs_chunk(conn: AsyncConnection, pruned: Pruned, cutoff: datetime, chunk: int) -> int:
    j = scheduled_jobs.c
    ids = sa.select(j.id).where(*_job_age(cutoff)).order_by(j.id).limit(chunk)
    result = await conn.execute(
        scheduled_jobs.delete().where(j.id.in_(ids)).where(*_job_age(cutoff))
    )
    removed = max(result.rowcount, 0)
    pruned.jobs += removed
    return removed


async def _keys_chunk(conn: AsyncConnection, pruned: Pruned, cutoff: datetime, chunk: int) -> int:
    k = t.idempotency_keys.c
    oldest = (
        sa.select(k.scope, k.key).where(k.created_at < cutoff).order_by(k.created_at).limit(chunk)
    )
    result = await conn.execute(
        t.idempotency_keys.delete()
        .where(sa.tuple_(k.scope, k.key).in_(oldest))
        .where(k.created_at < cutoff)
    )
    removed = max(result.rowcount, 0)
    pruned.idempotency_keys += removed
    return removed


# ---- conditions -------------------------------------------------------------------------------


def _old_deliveries(cutoff: datetime, column: str = "id") -> sa.Select[tuple[object]]:
    d = webhook_deliveries.c
    return sa.select(d[column]).where(d.state.in_(_FINISHED_DELIVERIES), d.created_at < cutoff)


def _event_age(cutoff: datetime, position: int) -> tuple[sa.ColumnElement[bool], ...]:
    # Past the relay's position: handed on to every endpoint and to the jobs it implies.
    e = t.events.c
    return (e.created_at < cutoff, e.id <= position, e.type.not_in(KEPT_EVENT_TYPES))


def _job_age(cutoff: datetime) -> tuple[sa.ColumnElement[bool], ...]:
    j = scheduled_jobs.c
    return (j.state.in_(_FINISHED_JOBS), j.updated_at < cutoff)


async def _locked(conn: AsyncConnection) -> bool:
    taken = await conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(ADVISORY_KEY)))
    return bool(taken.scalar())


async def _scalar(conn: AsyncConnection, query: sa.Select[Any]) -> int:
    return int((await conn.execute(query)).scalar() or 0)
