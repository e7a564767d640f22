"""Webhook endpoints and the delivery log (``/webhooks/...``), served through ``events.ROUTES``.

- ``POST /webhooks/endpoints`` (url, event_types, description, meta_data) -> 201 with the
  ``whsec_…`` secret, shown this once.
- ``GET /webhooks/endpoints``, ``GET|PUT|DELETE /webhooks/endpoints/{id}``;
  ``POST …/{id}/disable``, ``POST …/{id}/enable``.
- ``POST …/{id}/rotate-secret`` (``grace_period_seconds``, default a day): a new secret, shown
  once; the old one keeps signing next to it until the grace period ends.
- ``POST …/{id}/recover?since=…[&until=…]``: every event in the window the endpoint wants and
  has not received is queued again.
- ``GET /webhooks/deliveries`` (``endpoint_id``, ``event_id``, ``status``, cursor) and
  ``GET /webhooks/deliveries/{id}``: each delivery with its attempts (status code, latency, error).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
from litestar import Request, delete, get, post, put
from litestar.datastructures import State

from tally.core.clock import parse_timestamp
from tally.core.errors import ValidationFailed
from tally.core.events.errors import EndpointDisabled
from tally.core.events.retry import State as DeliveryState
from tally.core.events.subscriptions import check_url, new_secret, normalize_event_types
from tally.services import Services
from tally.store import deliveries_repo, delivery_log, webhooks_repo
from tally.store.webhooks_repo import EndpointStatus, SecretBox

from ..deps import decode_optional, services

MAX_PAGE = 100
DEFAULT_GRACE = timedelta(hours=24)
MAX_GRACE = timedelta(days=7)
TAGS = ["webhooks"]


class EndpointIn(msgspec.Struct, kw_only=True):
    url: str | None = None
    event_types: list[str] | None = None
    description: str | None = None
    meta_data: dict[str, Any] | None = None


class RotateIn(msgspec.Struct, kw_only=True):
    grace_period_seconds: int | None = None


class DisableIn(msgspec.Struct, kw_only=True):
    reason: str | None = None


def _box(svc: Services) -> SecretBox:
    return SecretBox(svc.settings.webhook_secrets_key)


def check_page(limit: int, offset: int = 0) -> None:
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise ValidationFailed(f"limit must be 1-{MAX_PAGE} and offset 0 or more")


def parse_time(value: str | None, name: str) -> Any:
    if value is None or not value.strip():
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        raise ValidationFailed(
            f"{name} must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z; got {value!r}",
            details={"field": name},
        ) from None


@post(
    "/webhooks/endpoints",
    status_code=201,
    tags=TAGS,
    summary="Register a webhook endpoint (its signing secret is shown once, here)",
)
async def create_endpoint(data: EndpointIn, state: State) -> dict[str, Any]:
    svc = services(state)
    url = check_url(data.url or "", allow_loopback=svc.settings.loopback_webhooks_allowed)
    types = normalize_event_types(data.event_types)
    secret = new_secret()
    now = svc.clock.now()
    async with svc.db.write() as conn:
        view = await webhooks_repo.create_endpoint(
            conn,
            url=url,
            event_types=types,
            description=data.description or "",
            meta_data=dict(data.meta_data or {}),
            secret=secret,
            box=_box(svc),
            now=now,
        )
    return {**view, "secret": secret}


@get("/webhooks/endpoints", tags=TAGS, summary="List webhook endpoints")
async def list_endpoints(
    state: State, status: str | None = None, limit: int = 20, offset: int = 0
) -> list[dict[str, Any]]:
    check_page(limit, offset)
    async with services(state).db.read() as conn:
        return await webhooks_repo.list_endpoints(conn, status=status, limit=limit, offset=offset)


@get("/webhooks/endpoints/{endpoint_id:str}", tags=TAGS, summary="Get a webhook endpoint")
async def get_endpoint(endpoint_id: str, state: State) -> dict[str, Any]:
    async with services(state).db.read() as conn:
        return webhooks_repo.endpoint_view(await webhooks_repo.get_endpoint_row(conn, endpoint_id))


@put(
    "/webhooks/endpoints/{endpoint_id:str}",
    tags=TAGS,
    summary="Change an endpoint's url, event types, description or metadata",
)
async def update_endpoint(endpoint_id: str, data: EndpointIn, state: State) -> dict[str, Any]:
    svc = services(state)
    changes: dict[str, Any] = {}
    if data.url is not None:
        changes["url"] = check_url(data.url, allow_loopback=svc.settings.loopback_webhooks_allowed)
    if data.event_types is not None:
        changes["event_types"] = normalize_event_types(data.event_types)
    if data.description is not None:
        changes["description"] = data.description
    if data.meta_data is not None:
        changes["meta_data"] = dict(data.meta_data)
    async with svc.db.write() as conn:
        return await webhooks_repo.update_endpoint(conn, endpoint_id, changes, now=svc.clock.now())


@post(
    "/webhooks/endpoints/{endpoint_id:str}/disable",
    status_code=200,
    tags=TAGS,
    summary="Stop sending to an endpoint (its pending deliveries are cancelled)",
)
async def disable_endpoint(
    endpoint_id: str, request: Request[Any, Any, Any], state: State
) -> dict[str, Any]:
    svc = services(state)
    body = decode_optional(await request.body(), DisableIn) or DisableIn()
    async with svc.db.write() as conn:
        return await webhooks_repo.set_status(
            conn,
            endpoint_id,
            EndpointStatus.DISABLED,
            reason=body.reason or "disabled through the API",
            now=svc.clock.now(),
        )


@post(
    "/webhooks/endpoints/{endpoint_id:str}/enable",
    status_code=200,
    tags=TAGS,
    summary="Send to an endpoint again (use recover for what it missed)",
)
async def enable_endpoint(endpoint_id: str, state: State) -> dict[str, Any]:
    svc = services(state)
    async with svc.db.write() as conn:
        return await webhooks_repo.set_status(
            conn, endpoint_id, EndpointStatus.ENABLED, reason=None, now=svc.clock.now()
        )


@delete(
    "/webhooks/endpoints/{endpoint_id:str}",
    status_code=200,
    tags=TAGS,
    summary="Delete an endpoint (its delivery log is kept)",
)
async def delete_endpoint(endpoint_id: str, state: State) -> dict[str, Any]:
    svc = services(state)
    async with svc.db.write() as conn:
        await webhooks_repo.set_status(
            conn,
            endpoint_id,
            EndpointStatus.DELETED,
            reason="endpoint deleted",
            now=svc.clock.now(),
        )
    return {"message": "Webhook endpoint deleted successfully"}


@post(
    "/webhooks/endpoints/{endpoint_id:str}/rotate-secret",
    status_code=200,
    tags=TAGS,
    summary="Replace the signing secret; the old one also signs during a grace period",
)
async def rotate_secret(
    endpoint_id: str, request: Request[Any, Any, Any], state: State
) -> dict[str, Any]:
    svc = services(state)
    body = decode_optional(await request.body(), RotateIn) or RotateIn()
    grace = DEFAULT_GRACE
    if body.grace_period_seconds is not None:
        grace = timedelta(seconds=body.grace_period_seconds)
        if grace < timedelta(0) or grace > MAX_GRACE:
            raise ValidationFailed(
                f"grace_period_seconds must be 0 to {int(MAX_GRACE.total_seconds())}"
            )
    secret = new_secret()
    async with svc.db.write() as conn:
        view = await webhooks_repo.rotate_secret(
            conn, endpoint_id, secret=secret, grace=grace, box=_box(svc), now=svc.clock.now()
        )
    return {**view, "secret": secret}


@post(
    "/webhooks/endpoints/{endpoint_id:str}/recover",
    status_code=202,
    tags=TAGS,
    summary="Queue again everything since a time that the endpoint has not received",
)
async def recover_endpoint(
    endpoint_id: str, state: State, since: str | None = None, until: str | None = None
) -> dict[str, Any]:
    svc = services(state)
    start = parse_time(since, "since")
    if start is None:
        raise ValidationFailed(
            "since: cannot be blank (an RFC 3339 timestamp)", details={"field": "since"}
        )
    end = parse_time(until, "until")
    now = svc.clock.now()
    async with svc.db.write() as conn:
        row = await webhooks_repo.get_endpoint_row(conn, endpoint_id, lock=True)
        if row.status != EndpointStatus.ENABLED:
            raise EndpointDisabled(
                f"webhook endpoint {endpoint_id} is disabled ({row.disabled_reason}); enable it "
                f"with POST /webhooks/endpoints/{endpoint_id}/enable, then recover"
            )
        queued = await deliveries_repo.recover(conn, row, since=start, until=end, now=now)
    return {"endpoint_id": endpoint_id, "since": since, "until": until, "queued": queued}


@get(
    "/webhooks/deliveries",
    tags=TAGS,
    summary="The delivery log: deliveries with every attempt (status code, latency, error)",
)
async def list_deliveries(
    state: State,
    endpoint_id: str | None = None,
    event_id: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> dict[str, Any]:
    check_page(limit)
    states = (
        DeliveryState.PENDING,
        DeliveryState.SUCCEEDED,
        DeliveryState.FAILED,
        DeliveryState.CANCELLED,
    )
    if status is not None and status not in states:
        raise ValidationFailed(f"status must be one of {', '.join(states)}; got {status!r}")
    async with services(state).db.read() as conn:
        data, next_cursor = await delivery_log.list_deliveries(
            conn,
            endpoint_id=endpoint_id,
            event_id=event_id,
            status=status,
            cursor=cursor,
            limit=limit,
        )
    return {"data": data, "has_more": next_cursor is not None, "next_cursor": next_cursor}


@get("/webhooks/deliveries/{delivery_id:str}", tags=TAGS, summary="Get a delivery")
async def get_delivery(delivery_id: str, state: State) -> dict[str, Any]:
    async with services(state).db.read() as conn:
        return await delivery_log.get_delivery(conn, delivery_id)


ROUTES = [
    create_endpoint,
    list_endpoints,
    get_endpoint,
    update_endpoint,
    disable_endpoint,
    enable_endpoint,
    delete_endpoint,
    rotate_secret,
    recover_endpoint,
    list_deliveries,
    get_delivery,
]
