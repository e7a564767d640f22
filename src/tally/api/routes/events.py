"""The outbox over HTTP: ``GET /events``, ``GET /events/{id}``, ``POST /events/{id}/resend``
(plus the webhook endpoint and delivery routes from ``webhooks.py``).

``GET /events`` filters: ``type`` (repeatable or comma-separated; ``transaction.*`` prefixes),
``created[gte]``/``created[gt]``/``created[lte]``/``created[lt]`` (RFC 3339), ``subject_id``,
``limit`` (1-100, default 20) and ``cursor`` (``next_cursor`` of the previous page). Newest first.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State

from tally.core.errors import ValidationFailed
from tally.core.events.errors import EndpointDisabled
from tally.core.events.subscriptions import normalize_event_types, wants
from tally.store import deliveries_repo, events_repo, webhooks_repo
from tally.store.deliveries_repo import Trigger
from tally.store.events_repo import EventQuery
from tally.store.webhooks_repo import EndpointStatus

from ..deps import decode_optional, services
from . import webhooks
from .webhooks import check_page, parse_time

CREATED_OPS = ("gt", "gte", "lt", "lte")


class ResendIn(msgspec.Struct, kw_only=True):
    endpoint_id: str | None = None


def event_query(request: Request[Any, Any, Any]) -> EventQuery:
    params = request.query_params
    types = [part for value in params.getall("type", []) for part in value.split(",") if part]
    query = EventQuery(types=normalize_event_types(types) if types else [])
    for op in CREATED_OPS:
        when = parse_time(
            params.get(f"created[{op}]") or params.get(f"created_{op}"), f"created[{op}]"
        )
        if when is not None:
            query.created[op] = when
    query.subject_id = params.get("subject_id") or None
    query.cursor = params.get("cursor") or None
    try:
        query.limit = int(params.get("limit") or 20)
    except ValueError:
        raise ValidationFailed("limit must be a whole number") from None
    check_page(query.limit)
    return query


@get("/events", tags=["events"], summary="List events (newest first, cursor pagination)")
async def list_events(request: Request[Any, Any, Any], state: State) -> dict[str, Any]:
    query = event_query(request)
    async with services(state).db.read() as conn:
        data, next_cursor = await events_repo.list_events(conn, query)
    return {"data": data, "has_more": next_cursor is not None, "next_cursor": next_cursor}


@get("/events/{event_id:str}", tags=["events"], summary="Get an event")
async def get_event(event_id: str, state: State) -> dict[str, Any]:
    async with services(state).db.read() as conn:
        row = await events_repo.get_event(conn, event_id)
        return (await events_repo.envelopes(conn, [row]))[0]


@post(
    "/events/{event_id:str}/resend",
    status_code=202,
    tags=["events"],
    summary="Send an event again to one endpoint, or to every endpoint that wants it",
)
async def resend_event(
    event_id: str, request: Request[Any, Any, Any], state: State
) -> dict[str, Any]:
    svc = services(state)
    body = decode_optional(await request.body(), ResendIn) or ResendIn()
    now = svc.clock.now()
    async with svc.db.write() as conn:
        event = await events_repo.get_event(conn, event_id)
        if body.endpoint_id:
            row = await webhooks_repo.get_endpoint_row(conn, body.endpoint_id, lock=True)
            if row.status != EndpointStatus.ENABLED:
                raise EndpointDisabled(
                    f"webhook endpoint {body.endpoint_id} is disabled; enable it first"
                )
            targets = [row.endpoint_id]
        else:
            targets = [
                r.endpoint_id
                for r in await webhooks_repo.enabled_routes(conn)
                if wants(r.event_types, event.type)
            ]
        queued = [
            {
                "endpoint_id": endpoint_id,
                "delivery_id": await deliveries_repo.requeue(
                    conn, endpoint_id, event, trigger=Trigger.RESEND, now=now
                ),
            }
            for endpoint_id in targets
        ]
    return {"event_id": event_id, "deliveries": queued}


ROUTES = [list_events, get_event, resend_event, *webhooks.ROUTES]
