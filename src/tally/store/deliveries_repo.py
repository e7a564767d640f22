"""Webhook deliveries: one row per (event, endpoint) that wants it, plus a log row per attempt.

A delivery is created lazily by the relay's fan-out (only for endpoints whose filter matches) and
is ``pending`` until an attempt succeeds (``succeeded``), the retry schedule gives up
(``failed``), or its endpoint is disabled or deleted (``cancelled``). A worker claims a due
delivery by giving it a lease: its ``next_attempt_at`` moves to the end of the lease, so if the
worker dies mid-attempt the delivery becomes due again (at least once), and while the lease runs
no other worker can take it (never two at once). An attempt's result is only applied if the lease
is still the one it was claimed with.
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
from tally.core.events.retry import Decision, Outcome, State
from tally.core.events.subscriptions import wants
from tally.core.ids import new_id

from . import tables as t
from .event_payloads import hydrate
from .events_repo import TailEvent, type_clause
from .tables_events import webhook_attempts as attempts
from .tables_events import webhook_deliveries as deliveries
from .tables_events import webhook_endpoints as endpoints
from .types import to_micros
from .webhooks_repo import EndpointStatus, Route, cancel_pending


class Trigger:
    EVENT = "event"
    RESEND = "resend"
    RECOVER = "recover"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery taken by a worker, with everything needed to send it."""

    delivery_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    attempt: int
    trigger: str
    started_at: datetime
    lease_id: str
    url: str
    endpoint: Any  # the endpoint row (secrets are read from it to sign)
    payload: dict[str, Any]
    event_created_at: datetime


def _insert(conn: AsyncConnection, table: sa.Table) -> Any:
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


def _new_row(
    endpoint_id: str, event_id: str, event_type: str, trigger: str, now: datetime
) -> dict[str, Any]:
    return {
        "delivery_id": new_id("del"),
        "endpoint_id": endpoint_id,
        "event_id": event_id,
        "event_type": event_type,
        "state": State.PENDING,
        "trigger": trigger,
        "attempts": 0,
        "next_attempt_at": now,
        "started_at": now,
        "lease_id": None,
        "last_status_code": None,
        "last_error": None,
        "created_at": now,
        "updated_at": now,
        "delivered_at": None,
    }


async def fan_out(
    conn: AsyncConnection, events: list[TailEvent], routes: list[Route], *, now: datetime
) -> int:
    """Pending deliveries for every (event, endpoint) pair that matches; duplicates are ignored."""
    since = [to_micros(route.created_at) for route in routes]
    rows = [
        _new_row(route.endpoint_id, event.event_id, event.type, Trigger.EVENT, now)
        for event in events
        for route, start in zip(routes, since, strict=True)
        if event.created_micros >= start and wants(route.event_types, event.type)
    ]
    if rows:
        await conn.execute(
            _insert(conn, deliveries).on_conflict_do_nothing(
                index_elements=["endpoint_id", "event_id"]
            ),
            rows,
        )
    return len(rows)


async def due_endpoints(conn: AsyncConnection, *, now: datetime) -> list[str]:
    """Enabled endpoints with at least one delivery due now."""
    d = deliveries.c
    due = (
        sa.select(d.id)
        .where(
            d.endpoint_id == endpoints.c.endpoint_id,
            d.state == State.PENDING,
            d.next_attempt_at <= now,
        )
        .limit(1)
    )
    rows = await conn.execute(
        sa.select(endpoints.c.endpoint_id)
        .where(endpoints.c.status == EndpointStatus.ENABLED, sa.exists(due))
        .order_by(endpoints.c.id)
    )
    return [row.endpoint_id for row in rows]


async def claim(
    conn: AsyncConnection,
    endpoint_id: str,
    *,
    limit: int,
    now: datetime,
    lease: timedelta,
    skip_locked: bool,
) -> list[Claimed]:
    d = deliveries.c
    query = (
        sa.select(d.id)
        .where(d.endpoint_id == endpoint_id, d.state == State.PENDING, d.next_attempt_at <= now)
        .order_by(d.next_attempt_at, d.id)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    ids = [row.id for row in await conn.execute(query)]
    if not ids:
        return []
    endpoint = (
        await conn.execute(sa.select(endpoints).where(endpoints.c.endpoint_id == endpoint_id))
    ).one()
    lease_id = uuid.uuid4().hex  # one lease per claim; a result counts only under its lease
    rows = (
        await conn.execute(
            deliveries.update()
            .where(d.id.in_(ids))
            .values(
                lease_id=lease_id,
                next_attempt_at=now + lease,
                attempts=d.attempts + 1,
                updated_at=now,
            )
            .returning(
                d.id, d.delivery_id, d.event_id, d.event_type, d.attempts, d.trigger, d.started_at
            )
        )
    ).all()
    ev = t.events.c
    events = {
        e.event_id: e
        for e in await conn.execute(
            sa.select(ev.event_id, ev.type, ev.subject_id, ev.payload, ev.created_at).where(
                ev.event_id.in_([r.event_id for r in rows])
            )
        )
    }
    order = list(events.values())
    rendered = await hydrate(conn, [(e.type, e.subject_id, e.payload) for e in order])
    payloads = {e.event_id: p for e, p in zip(order, rendered, strict=True)}
    return [
        Claimed(
            row.delivery_id,
            endpoint_id,
            row.event_id,
            row.event_type,
            row.attempts,
            row.trigger,
            row.started_at,
            lease_id,
            endpoint.url,
            endpoint,
            payloads[row.event_id],
            events[row.event_id].created_at,
        )
        for row in sorted(rows, key=lambda r: ids.index(r.id))
    ]


Result = tuple[Claimed, Outcome, Decision]

_RECORD = (
    deliveries.update()
    .where(
        deliveries.c.delivery_id == sa.bindparam("b_delivery"),
        deliveries.c.lease_id == sa.bindparam("b_lease"),
    )
    .values(
        state=sa.bindparam("b_state"),
        lease_id=None,
        last_status_code=sa.bindparam("b_status"),
        last_error=sa.bindparam("b_error"),
        updated_at=sa.bindparam("b_now"),
        next_attempt_at=sa.func.coalesce(
            sa.bindparam("b_next", type_=deliveries.c.next_attempt_at.type),
            deliveries.c.next_attempt_at,
        ),
        delivered_at=sa.func.coalesce(
            sa.bindparam("b_delivered", type_=deliveries.c.delivered_at.type),
            deliveries.c.delivered_at,
        ),
    )
)


def _attempt_row(item: Claimed, outcome: Outcome, now: datetime) -> dict[str, Any]:
    return {
        "attempt_id": new_id("att"),
        "delivery_id": item.delivery_id,
        "endpoint_id": item.endpoint_id,
        "event_id": item.event_id,
        "attempt": item.attempt,
        "trigger": item.trigger,
        "url": item.url,
        "status_code": outcome.status_code,
        "latency_ms": outcome.latency_ms,
        "error": outcome.error,
        "response_excerpt": outcome.response_excerpt,
        "succeeded": outcome.succeeded,
        "attempted_at": now,
    }


def _delivery_values(
    item: Claimed, outcome: Outcome, decision: Decision, now: datetime
) -> dict[str, Any]:
    error = outcome.error or (None if outcome.succeeded else f"HTTP {outcome.status_code}")
    if decision.reason:
        error = f"{error}; {decision.reason}" if error else decision.reason
    return {
        "b_delivery": item.delivery_id,
        "b_lease": item.lease_id,
        "b_state": decision.state,
        "b_status": outcome.status_code,
        "b_error": error,
        "b_now": now,
        "b_next": decision.next_attempt_at,
        "b_delivered": now if outcome.succeeded else None,
    }


async def record(conn: AsyncConnection, results: list[Result], *, now: datetime) -> None:
    """Log each attempt and move each delivery on (a result whose lease was lost meanwhile,
    to a resend or a cancellation, only adds to the log). A 410 disables its endpoint."""
    if not results:
        return
    await conn.execute(attempts.insert(), [_attempt_row(i, o, now) for i, o, _ in results])
    await conn.execute(_RECORD, [_delivery_values(i, o, d, now) for i, o, d in results])
    for endpoint_id in sorted({i.endpoint_id for i, _, d in results if d.disable_endpoint}):
        reason = f"the endpoint answered 410 Gone at {format_timestamp(now)}"
        await conn.execute(
            endpoints.update()
            .where(
                endpoints.c.endpoint_id == endpoint_id,
                endpoints.c.status == EndpointStatus.ENABLED,
            )
            .values(status=EndpointStatus.DISABLED, disabled_reason=reason, updated_at=now)
        )
        await cancel_pending(conn, endpoint_id, reason=reason, now=now)


async def requeue(
    conn: AsyncConnection, endpoint_id: str, event: Any, *, trigger: str, now: datetime
) -> str:
    """Make (event, endpoint) pending now with a fresh retry schedule; returns its delivery id."""
    fresh = _new_row(endpoint_id, event.event_id, event.type, trigger, now)
    await conn.execute(
        _insert(conn, deliveries)
        .values(**fresh)
        .on_conflict_do_update(
            index_elements=["endpoint_id", "event_id"],
            set_={
                "state": State.PENDING,
                "trigger": trigger,
                "attempts": 0,
                "next_attempt_at": now,
                "started_at": now,
                "lease_id": None,
                "updated_at": now,
            },
        )
    )
    row = (
        await conn.execute(
            sa.select(deliveries.c.delivery_id).where(
                deliveries.c.endpoint_id == endpoint_id, deliveries.c.event_id == event.event_id
            )
        )
    ).one()
    return str(row.delivery_id)


async def recover(
    conn: AsyncConnection,
    endpoint: Any,
    *,
    since: datetime,
    until: datetime | None,
    now: datetime,
    page: int = 1000,
) -> int:
    """Queue again every event in the window that this endpoint wants and has not received."""
    ev, d = t.events.c, deliveries.c
    done = (
        sa.select(d.id)
        .where(d.endpoint_id == endpoint.endpoint_id, d.event_id == ev.event_id)
        .where(sa.or_(d.state == State.SUCCEEDED, d.lease_id.is_not(None)))
    )
    base = sa.select(ev.id, ev.event_id, ev.type).where(
        ev.created_at >= since, type_clause(ev.type, list(endpoint.event_types)), ~sa.exists(done)
    )
    if until is not None:
        base = base.where(ev.created_at <= until)
    count, after = 0, 0
    while True:
        rows = list(await conn.execute(base.where(ev.id > after).order_by(ev.id).limit(page)))
        for row in rows:
            if wants(endpoint.event_types, row.type):
                await requeue(conn, endpoint.endpoint_id, row, trigger=Trigger.RECOVER, now=now)
                count += 1
        if len(rows) < page:
            return count
        after = rows[-1].id
