"""API keys (stored as SHA-256 of a 256-bit random secret) and Idempotency-Key records."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.errors import ApiKeyNotFound
from tally.core.ids import new_id

from . import tables as t


@dataclass(slots=True)
class ApiKey:
    api_key_id: str
    name: str
    owner_id: str
    scopes: list[str]
    expires_at: datetime | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _from_row(row: Any) -> ApiKey:
    return ApiKey(
        row.api_key_id,
        row.name,
        row.owner_id,
        list(row.scopes),
        row.expires_at,
        row.created_at,
        row.last_used_at,
        row.revoked_at,
    )


async def create_api_key(
    conn: AsyncConnection,
    *,
    name: str,
    owner: str,
    scopes: list[str],
    expires_at: datetime | None,
    now: datetime,
) -> tuple[ApiKey, str]:
    secret = "tk_" + secrets.token_urlsafe(32)
    key = ApiKey(new_id("api_key"), name, owner, scopes, expires_at, now, None, None)
    await conn.execute(
        t.api_keys.insert().values(
            api_key_id=key.api_key_id,
            key_hash=hash_key(secret),
            key_prefix=secret[:12],
            name=name,
            owner_id=owner,
            scopes=scopes,
            expires_at=expires_at,
            created_at=now,
        )
    )
    return key, secret


async def find_api_key(conn: AsyncConnection, secret: str) -> ApiKey | None:
    row = (
        await conn.execute(sa.select(t.api_keys).where(t.api_keys.c.key_hash == hash_key(secret)))
    ).first()
    return None if row is None else _from_row(row)


async def list_api_keys(conn: AsyncConnection, owner: str | None) -> list[ApiKey]:
    query = sa.select(t.api_keys).order_by(t.api_keys.c.id)
    if owner:
        query = query.where(t.api_keys.c.owner_id == owner)
    return [_from_row(r) for r in await conn.execute(query)]


async def revoke_api_key(
    conn: AsyncConnection, api_key_id: str, owner: str | None, *, now: datetime
) -> None:
    query = t.api_keys.update().where(t.api_keys.c.api_key_id == api_key_id)
    if owner:
        query = query.where(t.api_keys.c.owner_id == owner)
    result = await conn.execute(query.values(revoked_at=now))
    if not result.rowcount:
        raise ApiKeyNotFound(f"API key {api_key_id} not found")


# ---- idempotency ----------------------------------------------------------------------------


@dataclass(slots=True)
class Remembered:
    request_hash: str
    status_code: int | None
    body: bytes | None


async def claim_idempotency_key(
    conn: AsyncConnection, scope: str, key: str, request_hash: str, *, now: datetime
) -> Remembered | None:
    """Insert a pending record; return the existing record if the key was seen before."""
    existing = (
        await conn.execute(
            sa.select(t.idempotency_keys)
            .where(t.idempotency_keys.c.scope == scope)
            .where(t.idempotency_keys.c.key == key)
        )
    ).first()
    if existing is not None:
        return Remembered(existing.request_hash, existing.status_code, existing.response_body)
    await conn.execute(
        t.idempotency_keys.insert().values(
            scope=scope,
            key=key,
            request_hash=request_hash,
            created_at=now,
        )
    )
    return None


async def remember_response(
    conn: AsyncConnection, scope: str, key: str, status: int, body: bytes
) -> None:
    await conn.execute(
        t.idempotency_keys.update()
        .where(t.idempotency_keys.c.scope == scope)
        .where(t.idempotency_keys.c.key == key)
        .values(status_code=status, response_body=body)
    )


async def forget_idempotency_key(conn: AsyncConnection, scope: str, key: str) -> None:
    await conn.execute(
        t.idempotency_keys.delete()
        .where(t.idempotency_keys.c.scope == scope)
        .where(t.idempotency_keys.c.key == key)
    )
