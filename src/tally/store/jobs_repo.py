"""Due work kept in the database (``scheduled_jobs``): one row per (kind, subject).

Any module schedules work from inside its own transaction with :func:`schedule`, so the job exists
if and only if the change that needs it committed. The scheduler worker claims due jobs (on
PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so several workers share them), runs the handler
registered for the kind, and marks the job done. A claimed job carries a lease: if its worker dies,
the job becomes due again when the lease runs out. Handlers therefore run at least once and must
be idempotent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.clock import format_timestamp
from tally.core.ids import new_id

from .tables_events import scheduled_jobs as jobs


class JobState:
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed job as a handler sees it."""

    job_id: str
    kind: str
    subject_id: str
    due_at: datetime
    payload: dict[str, Any]
    attempts: int
    lease_id: str


def _insert(conn: AsyncConnection) -> Any:
    return postgresql.insert(jobs) if conn.dialect.name == "postgresql" else sqlite.insert(jobs)


def job_row(
    kind: str,
    subject_id: str,
    due_at: datetime,
    payload: dict[str, Any] | None = None,
    *,
    now: datetime,
) -> dict[str, Any]:
    """The row of a new pending job (what ``schedule`` inserts for a subject without one)."""
    return {
        "job_id": new_id("job"),
        "kind": kind,
        "subject_id": subject_id,
        "due_at": due_at,
        "state": JobState.PENDING,
        "attempts": 0,
        "lease_id": None,
        "last_error": None,
        "payload": dict(payload or {}),
        "created_at": now,
        "updated_at": now,
        "finished_at": None,
    }


async def schedule(
    conn: AsyncConnection,
    kind: str,
    subject_id: str,
    due_at: datetime,
    payload: dict[str, Any] | None = None,
    *,
    now: datetime | None = None,
    replace: bool = True,
) -> None:
    """Make ``kind`` run for ``subject_id`` at ``due_at``, in the caller's transaction.

    One job per (kind, subject): scheduling again moves the job to the new time with the new
    payload and makes it pending again (``replace=False`` keeps an existing job untouched).
    """
    stamp = now or due_at
    values = job_row(kind, subject_id, due_at, payload, now=stamp)
    statement = _insert(conn).values(**values)
    if replace:
        statement = statement.on_conflict_do_update(
            index_elements=["kind", "subject_id"],
            set_={
                "due_at": due_at,
                "payload": values["payload"],
                "state": JobState.PENDING,
                "attempts": 0,
                "lease_id": None,
                "last_error": None,
                "updated_at": stamp,
                "finished_at": None,
            },
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=["kind", "subject_id"])
    await conn.execute(statement)


async def cancel(conn: AsyncConnection, kind: str, subject_id: str, *, now: datetime) -> bool:
    """Cancel a pending job; True if there was one."""
    result = await conn.execute(
        jobs.update()
        .where(
            jobs.c.kind == kind, jobs.c.subject_id == subject_id, jobs.c.state == JobState.PENDING
        )
        .values(state=JobState.CANCELLED, updated_at=now, finished_at=now, lease_id=None)
    )
    return bool(result.rowcount)


async def any_due(conn: AsyncConnection, *, now: datetime) -> bool:
    row = await conn.execute(
        sa.select(jobs.c.id).where(jobs.c.state == JobState.PENDING, jobs.c.due_at <= now).limit(1)
    )
    return row.first() is not None


async def claim(
    conn: AsyncConnection, *, now: datetime, limit: int, lease: timedelta, skip_locked: bool
) -> list[Job]:
    """Take up to ``limit`` due jobs: each gets a lease (its due time moves to the lease's end)."""
    query = (
        sa.select(jobs.c.id, jobs.c.due_at)
        .where(jobs.c.state == JobState.PENDING, jobs.c.due_at <= now)
        .order_by(jobs.c.due_at, jobs.c.id)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    due = [(row.id, row.due_at) for row in await conn.execute(query)]
    claimed: list[Job] = []
    for row_id, due_at in due:
        lease_id = uuid.uuid4().hex
        row = (
            await conn.execute(
                jobs.update()
                .where(jobs.c.id == row_id)
                .values(
                    lease_id=lease_id,
                    due_at=now + lease,
                    attempts=jobs.c.attempts + 1,
                    updated_at=now,
                )
                .returning(
                    jobs.c.job_id, jobs.c.kind, jobs.c.subject_id, jobs.c.payload, jobs.c.attempts
                )
            )
        ).one()
        claimed.append(
            Job(
                row.job_id,
                row.kind,
                row.subject_id,
                due_at,
                dict(row.payload or {}),
                row.attempts,
                lease_id,
            )
        )
    return claimed


async def finish(conn: AsyncConnection, job: Job, *, now: datetime) -> None:
    await conn.execute(
        jobs.update()
        .where(jobs.c.job_id == job.job_id, jobs.c.lease_id == job.lease_id)
        .values(
            state=JobState.DONE, lease_id=None, updated_at=now, finished_at=now, last_error=None
        )
    )


async def retry_later(
    conn: AsyncConnection,
    job: Job,
    *,
    now: datetime,
    due_at: datetime | None,
    error: str,
    count_attempt: bool = True,
) -> None:
    """Record a failure: due again at ``due_at``, or failed for good when ``due_at`` is None."""
    values: dict[str, Any] = {"lease_id": None, "updated_at": now, "last_error": error[:2000]}
    if due_at is None:
        values.update(state=JobState.FAILED, finished_at=now)
    else:
        values.update(due_at=due_at)
    if not count_attempt:
        values["attempts"] = jobs.c.attempts - 1
    await conn.execute(
        jobs.update()
        .where(jobs.c.job_id == job.job_id, jobs.c.lease_id == job.lease_id)
        .values(**values)
    )


def job_view(row: Any) -> dict[str, Any]:
    return {
        "job_id": row.job_id,
        "kind": row.kind,
        "subject_id": row.subject_id,
        "due_at": format_timestamp(row.due_at),
        "state": row.state,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "payload": dict(row.payload or {}),
        "created_at": format_timestamp(row.created_at),
        "finished_at": format_timestamp(row.finished_at) if row.finished_at else None,
    }


async def get_job(conn: AsyncConnection, kind: str, subject_id: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            sa.select(jobs).where(jobs.c.kind == kind, jobs.c.subject_id == subject_id)
        )
    ).first()
    return None if row is None else job_view(row)
