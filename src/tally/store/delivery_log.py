"""The webhook delivery log: deliveries with their attempts (``GET /webhooks/deliveries``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.clock import format_timestamp
from tally.core.events.errors import DeliveryNotFound
from tally.core.events.retry import State

from .events_repo import decode_cursor, encode_cursor
from .tables_events import webhook_attempts as attempts
from .tables_events import webhook_deliveries as deliveries

MAX_ATTEMPTS_SHOWN = 50


def attempt_view(row: Any) -> dict[str, Any]:
    return {
        "attempt_id": row.attempt_id,
        "attempt": row.attempt,
        "trigger": row.trigger,
        "url": row.url,
        "status_code": row.status_code,
        "succeeded": bool(row.succeeded),
        "latency_ms": row.latency_ms,
        "error": row.error,
        "response_excerpt": row.response_excerpt,
        "attempted_at": format_timestamp(row.attempted_at),
    }


def delivery_view(row: Any, tries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "delivery_id": row.delivery_id,
        "endpoint_id": row.endpoint_id,
        "event_id": row.event_id,
        "event_type": row.event_type,
        "status": row.state,
        "trigger": row.trigger,
        "attempts": tries,
        "attempt_count": len(tries),
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "next_attempt_at": (
            format_timestamp(row.next_attempt_at) if row.state == State.PENDING else None
        ),
        "delivered_at": format_timestamp(row.delivered_at) if row.delivered_at else None,
        "created_at": format_timestamp(row.created_at),
        "updated_at": format_timestamp(row.updated_at),
    }


async def _attempts_for(conn: AsyncConnection, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        rows = await conn.execute(
            sa.select(attempts).where(attempts.c.delivery_id.in_(ids)).order_by(attempts.c.id)
        )
        for row in rows:
            found[row.delivery_id].append(attempt_view(row))
    return {k: v[-MAX_ATTEMPTS_SHOWN:] for k, v in found.items()}


async def get_delivery(conn: AsyncConnection, delivery_id: str) -> dict[str, Any]:
    row = (
        await conn.execute(sa.select(deliveries).where(deliveries.c.delivery_id == delivery_id))
    ).first()
    if row is None:
        raise DeliveryNotFound(
            f"webhook delivery {delivery_id} not found", details={"delivery_id": delivery_id}
        )
    return delivery_view(row, (await _attempts_for(conn, [delivery_id]))[delivery_id])


async def list_deliveries(
    conn: AsyncConnection,
    *,
    endpoint_id: str | None,
    event_id: str | None,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    d = deliveries.c
    query = sa.select(deliveries)
    for column, value in ((d.endpoint_id, endpoint_id), (d.event_id, event_id), (d.state, status)):
        if value:
            query = query.where(column == value)
    if cursor:
        query = query.where(d.id < decode_cursor(cursor))
    rows = list(await conn.execute(query.order_by(d.id.desc()).limit(limit + 1)))
    page = rows[:limit]
    tries = await _attempts_for(conn, [r.delivery_id for r in page])
    views = [delivery_view(r, tries[r.delivery_id]) for r in page]
    return views, encode_cursor(page[-1].id) if len(rows) > limit else None
