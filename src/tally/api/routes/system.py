"""Health, metrics and API keys."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, delete, get, post
from litestar.datastructures import State
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tally.core.clock import format_timestamp, parse_timestamp
from tally.core.errors import Forbidden, TallyError, ValidationFailed
from tally.store import access_repo

from ..deps import services
from ..schemas import ApiKeyIn


@get("/", tags=["system"], summary="Root", include_in_schema=False)
async def root() -> str:
    return "server running..."


@get("/health", tags=["system"], summary="Health: the database answers")
async def health(state: State) -> Response[dict[str, Any]]:
    try:
        await services(state).db.ping()
    except TallyError as exc:
        return Response({"status": "DOWN", "reason": exc.message}, status_code=503)
    except Exception as exc:  # the database driver's own errors
        return Response({"status": "DOWN", "reason": str(exc)}, status_code=503)
    return Response({"status": "UP"})


@get("/metrics", tags=["system"], summary="Prometheus metrics", include_in_schema=False)
async def metrics() -> Response[bytes]:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _key_view(key: access_repo.ApiKey, secret: str | None = None) -> dict[str, Any]:
    view = {
        "api_key_id": key.api_key_id,
        "name": key.name,
        "owner_id": key.owner_id,
        "scopes": key.scopes,
        "expires_at": format_timestamp(key.expires_at),
        "created_at": format_timestamp(key.created_at),
        "last_used_at": format_timestamp(key.last_used_at),
        "is_revoked": key.revoked_at is not None,
    }
    if secret is not None:
        view["key"] = secret
    return view


def _principal(request: Request[Any, Any, Any]) -> Any:
    return request.scope.get("state", {}).get("principal")


@post(
    "/api-keys",
    status_code=201,
    tags=["api-keys"],
    summary="Create an API key (the secret is shown once)",
)
async def create_api_key(
    data: ApiKeyIn, request: Request[Any, Any, Any], state: State
) -> dict[str, Any]:
    svc = services(state)
    if not data.name or not data.scopes:
        raise ValidationFailed("name and scopes are required")
    for scope in data.scopes:
        resource, sep, action = scope.partition(":")
        if not sep or not resource or action not in ("read", "write", "delete", "*"):
            raise ValidationFailed(
                f"scope {scope!r} must be resource:action with action read, write, delete or *"
            )
    caller = _principal(request)
    owner = data.owner or (caller.owner if caller is not None and not caller.is_master else None)
    if not owner:
        raise ValidationFailed("owner is required", code="APIKEY_OWNER_REQUIRED")
    if caller is not None and not caller.is_master:
        if owner != caller.owner:
            raise Forbidden(
                "an API key can only create keys for its own owner", code="AUTH_CROSS_OWNER_ACCESS"
            )
        from ..middleware import scope_allows

        for scope in data.scopes:
            resource, _, action = scope.partition(":")
            if not scope_allows(caller.scopes, resource, action):
                raise Forbidden(
                    f"cannot grant {scope}: the calling key does not have it",
                    code="AUTH_SCOPE_ESCALATION",
                )
    expires = None
    if data.expires_at:
        try:
            expires = parse_timestamp(data.expires_at)
        except ValueError:
            raise ValidationFailed("expires_at must be an RFC 3339 timestamp") from None
    async with svc.db.write() as conn:
        key, secret = await access_repo.create_api_key(
            conn,
            name=data.name,
            owner=owner,
            scopes=data.scopes,
            expires_at=expires,
            now=svc.clock.now(),
        )
    return _key_view(key, secret)


@get("/api-keys", tags=["api-keys"], summary="List API keys")
async def list_api_keys(
    request: Request[Any, Any, Any], state: State, owner: str | None = None
) -> list[dict[str, Any]]:
    caller = _principal(request)
    if caller is not None and not caller.is_master:
        owner = caller.owner
    async with services(state).db.read() as conn:
        return [_key_view(k) for k in await access_repo.list_api_keys(conn, owner)]


@delete(
    "/api-keys/{api_key_id:str}", status_code=204, tags=["api-keys"], summary="Revoke an API key"
)
async def revoke_api_key(
    api_key_id: str, request: Request[Any, Any, Any], state: State, owner: str | None = None
) -> None:
    svc = services(state)
    caller = _principal(request)
    if caller is not None and not caller.is_master:
        owner = caller.owner
    async with svc.db.write() as conn:
        await access_repo.revoke_api_key(conn, api_key_id, owner, now=svc.clock.now())
    for hook in svc.extras.get("on_key_revoked", []):
        hook()


ROUTES = [root, health, metrics, create_api_key, list_api_keys, revoke_api_key]
