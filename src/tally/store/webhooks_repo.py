"""Webhook endpoints: where events go, which types, and the secrets that sign them.

Secrets must be readable to sign, so they cannot be hashed. They are stored as given unless
``TALLY_WEBHOOK_SECRETS_KEY`` is set, in which case they are sealed with AES-256-GCM under a key
derived from it (``aesgcm:`` prefix); either kind of row is read back, so the key can be
introduced at any time (rotate each endpoint's secret to re-seal it). Secrets are never logged.

Rotation keeps the previous secret signing next to the new one until a grace period ends (24 h
by default), so receivers can switch without dropping a delivery.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.clock import format_timestamp
from tally.core.events.errors import WebhookEndpointNotFound
from tally.core.events.retry import State
from tally.core.ids import new_id

from .tables_events import webhook_deliveries as deliveries
from .tables_events import webhook_endpoints as endpoints

SEALED = "aesgcm:"


class EndpointStatus:
    ENABLED = "enabled"
    DISABLED = "disabled"
    DELETED = "deleted"


class SecretsKeyMissing(RuntimeError):
    """An endpoint secret is sealed but ``TALLY_WEBHOOK_SECRETS_KEY`` is not configured."""


class SecretBox:
    """Seals endpoint secrets at rest when a key is configured; passes them through otherwise."""

    def __init__(self, key: str | None) -> None:
        self._aead = AESGCM(hashlib.sha256(key.encode()).digest()) if key else None

    def seal(self, secret: str) -> str:
        if self._aead is None:
            return secret
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, secret.encode(), b"tally-webhook-secret")
        return SEALED + base64.b64encode(nonce + sealed).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(SEALED):
            return stored
        if self._aead is None:
            raise SecretsKeyMissing(
                "webhook endpoint secrets are encrypted; set TALLY_WEBHOOK_SECRETS_KEY to sign"
            )
        raw = base64.b64decode(stored[len(SEALED) :])
        return self._aead.decrypt(raw[:12], raw[12:], b"tally-webhook-secret").decode()


@dataclass(frozen=True, slots=True)
class Route:
    """What the fan-out needs to know about an enabled endpoint."""

    endpoint_id: str
    event_types: tuple[str, ...]
    created_at: datetime


def endpoint_view(row: Any) -> dict[str, Any]:
    return {
        "endpoint_id": row.endpoint_id,
        "url": row.url,
        "description": row.description,
        "event_types": list(row.event_types or []),
        "status": row.status,
        "disabled_reason": row.disabled_reason,
        "meta_data": dict(row.meta_data or {}),
        "previous_secret_expires_at": (
            format_timestamp(row.previous_secret_expires_at)
            if row.previous_secret is not None and row.previous_secret_expires_at
            else None
        ),
        "created_at": format_timestamp(row.created_at),
        "updated_at": format_timestamp(row.updated_at),
    }


async def create_endpoint(
    conn: AsyncConnection,
    *,
    url: str,
    event_types: list[str],
    description: str,
    meta_data: dict[str, Any],
    secret: str,
    box: SecretBox,
    now: datetime,
) -> dict[str, Any]:
    endpoint_id = new_id("we")
    await conn.execute(
        endpoints.insert().values(
            endpoint_id=endpoint_id,
            url=url,
            description=description,
            event_types=event_types,
            status=EndpointStatus.ENABLED,
            disabled_reason=None,
            secret=box.seal(secret),
            previous_secret=None,
            previous_secret_expires_at=None,
            meta_data=meta_data,
            created_at=now,
            updated_at=now,
        )
    )
    return endpoint_view(await get_endpoint_row(conn, endpoint_id))


async def get_endpoint_row(conn: AsyncConnection, endpoint_id: str, *, lock: bool = False) -> Any:
    query = sa.select(endpoints).where(
        endpoints.c.endpoint_id == endpoint_id, endpoints.c.status != EndpointStatus.DELETED
    )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise WebhookEndpointNotFound(
            f"webhook endpoint {endpoint_id} not found", details={"endpoint_id": endpoint_id}
        )
    return row


async def list_endpoints(
    conn: AsyncConnection, *, status: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    query = sa.select(endpoints).where(endpoints.c.status != EndpointStatus.DELETED)
    if status:
        query = query.where(endpoints.c.status == status)
    rows = await conn.execute(query.order_by(endpoints.c.id.desc()).limit(limit).offset(offset))
    return [endpoint_view(row) for row in rows]


async def update_endpoint(
    conn: AsyncConnection, endpoint_id: str, changes: dict[str, Any], *, now: datetime
) -> dict[str, Any]:
    await get_endpoint_row(conn, endpoint_id, lock=True)
    if changes:
        await conn.execute(
            endpoints.update()
            .where(endpoints.c.endpoint_id == endpoint_id)
            .values(**changes, updated_at=now)
        )
    return endpoint_view(await get_endpoint_row(conn, endpoint_id))


async def set_status(
    conn: AsyncConnection, endpoint_id: str, status: str, *, reason: str | None, now: datetime
) -> dict[str, Any]:
    """Enable, disable or delete; leaving ``enabled`` cancels the endpoint's pending deliveries."""
    await get_endpoint_row(conn, endpoint_id, lock=True)
    await conn.execute(
        endpoints.update()
        .where(endpoints.c.endpoint_id == endpoint_id)
        .values(status=status, disabled_reason=reason, updated_at=now)
    )
    if status != EndpointStatus.ENABLED:
        await cancel_pending(conn, endpoint_id, reason=reason or f"endpoint {status}", now=now)
    row = (
        await conn.execute(sa.select(endpoints).where(endpoints.c.endpoint_id == endpoint_id))
    ).one()
    return endpoint_view(row)


async def cancel_pending(
    conn: AsyncConnection, endpoint_id: str, *, reason: str, now: datetime
) -> int:
    result = await conn.execute(
        deliveries.update()
        .where(deliveries.c.endpoint_id == endpoint_id, deliveries.c.state == State.PENDING)
        .values(state=State.CANCELLED, lease_id=None, last_error=reason, updated_at=now)
    )
    return int(result.rowcount or 0)


async def rotate_secret(
    conn: AsyncConnection,
    endpoint_id: str,
    *,
    secret: str,
    grace: timedelta,
    box: SecretBox,
    now: datetime,
) -> dict[str, Any]:
    row = await get_endpoint_row(conn, endpoint_id, lock=True)
    keep_previous = grace.total_seconds() > 0
    await conn.execute(
        endpoints.update()
        .where(endpoints.c.endpoint_id == endpoint_id)
        .values(
            secret=box.seal(secret),
            previous_secret=row.secret if keep_previous else None,
            previous_secret_expires_at=now + grace if keep_previous else None,
            updated_at=now,
        )
    )
    return endpoint_view(await get_endpoint_row(conn, endpoint_id))


def signing_secrets(row: Any, *, box: SecretBox, now: datetime) -> list[str]:
    """The secrets that sign a delivery now: the current one, plus the previous during grace."""
    found = [box.open(row.secret)]
    expires = row.previous_secret_expires_at
    if row.previous_secret is not None and expires is not None and expires > now:
        found.append(box.open(row.previous_secret))
    return found


async def enabled_routes(conn: AsyncConnection) -> list[Route]:
    rows = await conn.execute(
        sa.select(endpoints.c.endpoint_id, endpoints.c.event_types, endpoints.c.created_at)
        .where(endpoints.c.status == EndpointStatus.ENABLED)
        .order_by(endpoints.c.id)
    )
    return [Route(r.endpoint_id, tuple(r.event_types or ()), r.created_at) for r in rows]
