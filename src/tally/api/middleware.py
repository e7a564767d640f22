"""ASGI middleware in front of every route: body size limit, authentication, Idempotency-Key.

- Body limit: a body over ``max_body_bytes`` gets 413 before any handler runs.
- Auth: the master key (``TALLY_MASTER_KEY``) in ``X-Blnk-Key`` or ``Authorization: Bearer``, or an
  API key whose scopes allow ``resource:action`` (GET/HEAD = read, POST/PUT/PATCH = write,
  DELETE = delete). Without a master key configured the server only runs on loopback and every
  request is let in (any auth header is ignored, so placeholder keys in snippets work).
- Idempotency-Key on POST: the first response (2xx or 4xx) is stored and replayed for a retry with
  the same key and body; the same key with a different body is a 409; a retry while the first is
  still running is a 409 too. Keys are scoped per caller. 5xx responses are not remembered.

``api.fastpath`` answers the hot ledger routes in front of Litestar with these same pieces
(``read_body``, ``authenticate``, ``idempotent``, ``send_error``, ``record_http``), so one set of
rules applies to every route.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from tally.core.errors import (
    ExpiredApiKey,
    Forbidden,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidApiKey,
    MissingApiKey,
    PayloadTooLarge,
    TallyError,
)
from tally.metrics import record_http
from tally.services import Services
from tally.store import access_repo

from .errors import encode_error, status_for

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PUBLIC = {"/", "/health", "/metrics", "/dashboard/login"}
PUBLIC_PREFIXES = ("/schema",)
RESOURCES = {
    "ledgers": "ledgers",
    "balances": "balances",
    "balances-snapshots": "balances",
    "transactions": "transactions",
    "refund-transaction": "transactions",
    "identities": "identities",
    "balance-monitors": "balance-monitors",
    "search": "search",
    "multi-search": "search",
    "api-keys": "api-keys",
    "webhooks": "webhooks",
    "events": "events",
    "loyalty": "loyalty",
    "customers": "loyalty",
    "payments": "payments",
    "refunds": "payments",
    "offers": "offers",
    "persons": "offers",
    "cards": "offers",
    "card-transactions": "offers",
    "virtual-cards": "cards",
    "dashboard": "dashboard",
}
ACTIONS = {
    "GET": "read",
    "HEAD": "read",
    "POST": "write",
    "PUT": "write",
    "PATCH": "write",
    "DELETE": "delete",
}
CACHE_SECONDS = 30.0


def resource_for(path: str) -> str | None:
    parts = [p for p in path.split("/") if p]
    if not parts:
        return None
    if len(parts) == 2 and parts[1] == "metadata":
        return "metadata"
    return RESOURCES.get(parts[0])


def scope_allows(scopes: list[str], resource: str, action: str) -> bool:
    for granted in scopes:
        res, _, act = granted.partition(":")
        if res in ("*", resource) and act in ("*", action):
            return True
    return False


class DashboardSignIn(MissingApiKey):
    """A dashboard page was asked for without a session; the browser is sent to sign in."""


class Principal:
    __slots__ = ("id", "is_master", "owner", "scopes")

    def __init__(self, id: str, is_master: bool, scopes: list[str], owner: str | None) -> None:
        self.id = id
        self.is_master = is_master
        self.scopes = scopes
        self.owner = owner


ANONYMOUS = Principal("local", True, ["*:*"], None)


class TallyMiddleware:
    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services
        self.settings = services.settings
        # Shared by every instance (Litestar builds one per route), so a revocation clears it
        # for all routes at once.
        self._key_cache: dict[str, tuple[float, access_repo.ApiKey | None]] = (
            services.extras.setdefault("api_key_cache", {})
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        counted = StatusSend(send)
        try:
            await self._handle(scope, receive, counted)
        finally:
            resource = resource_for(scope["path"]) or "other"
            record_http(scope["method"], resource, counted.status, time.perf_counter() - started)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body: bytes | None = None
            if scope["method"] in ("POST", "PUT", "PATCH"):
                body = await read_body(scope, receive, self.settings.max_body_bytes)
            principal = await self.authenticate(scope)
            scope.setdefault("state", {})["principal"] = principal
            if body is not None:
                receive = replay(body)
            key = header(scope, b"idempotency-key") if scope["method"] == "POST" else None
            if key and body is not None:
                await self.idempotent(self.app, scope, receive, send, principal, key, body)
                return
        except DashboardSignIn:
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [(b"location", b"/dashboard/login"), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        except TallyError as exc:
            await send_error(send, exc)
            return
        await self.app(scope, receive, send)

    async def authenticate(self, scope: Scope) -> Principal:
        """Who is calling (``ANONYMOUS`` when no master key is configured); raises an
        ``AuthError`` or ``Forbidden`` for a caller who may not call this path."""
        master = self.settings.master_key
        if master is None:
            return ANONYMOUS
        path: str = scope["path"]
        if path in PUBLIC or path.startswith(PUBLIC_PREFIXES):
            return ANONYMOUS
        if path == "/dashboard" or path.startswith("/dashboard/"):
            return self._dashboard_session(scope, master)
        secret = header(scope, b"x-blnk-key")
        if not secret:
            auth = header(scope, b"authorization") or ""
            if auth[:7].lower() == "bearer ":
                secret = auth[7:].strip()
        if not secret:
            raise MissingApiKey("Authentication required. Use the X-Blnk-Key header")
        if hmac.compare_digest(secret.encode(), master.encode()):
            return Principal("master", True, ["*:*"], None)
        key = await self._lookup(secret)
        if key is None:
            raise InvalidApiKey("the API key is not valid")
        if not key.usable(self.services.clock.now()):
            raise ExpiredApiKey("the API key has expired or was revoked")
        resource = resource_for(path)
        action = ACTIONS.get(scope["method"], "write")
        if scope["method"] == "POST" and (path.endswith("/filter") or resource == "search"):
            action = "read"  # filters and searches only read: a read-only key may run them
        if resource is None:
            raise Forbidden(
                f"no API key may call {path}; use the master key", code="AUTH_UNKNOWN_RESOURCE"
            )
        if not scope_allows(key.scopes, resource, action):
            raise Forbidden(f"Insufficient permissions for {resource}:{action}")
        return Principal(key.api_key_id, False, key.scopes, key.owner_id)

    @staticmethod
    def _dashboard_session(scope: Scope, master: str) -> Principal:
        from .routes.dashboard import COOKIE, session_token

        cookies = header(scope, b"cookie") or ""
        for part in cookies.split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and hmac.compare_digest(value, session_token(master)):
                return Principal("dashboard", False, ["*:read"], None)
        raise DashboardSignIn("sign in to the dashboard with the master key")

    async def _lookup(self, secret: str) -> access_repo.ApiKey | None:
        digest = access_repo.hash_key(secret)
        cached = self._key_cache.get(digest)
        now = time.monotonic()
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        async with self.services.db.read() as conn:
            key = await access_repo.find_api_key(conn, secret)
        self._key_cache[digest] = (now, key)
        return key

    def forget_cached_keys(self) -> None:
        self._key_cache.clear()

    def _request_digest(self, scope: Scope, body: bytes) -> str:
        """A keyed hash of the request, so a stored digest reveals nothing about the body
        (a card number in ``POST /cards`` could otherwise be brute-forced from a plain hash)."""
        secret = (
            self.settings.card_fingerprint_key or self.settings.master_key or "tally-idempotency"
        )
        message = scope["method"].encode() + b" " + scope["path"].encode() + b"\n" + body
        return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()

    async def idempotent(
        self,
        app: ASGIApp,
        scope: Scope,
        receive: Receive,
        send: Send,
        principal: Principal,
        key: str,
        body: bytes,
    ) -> None:
        digest = self._request_digest(scope, body)
        db = self.services.db
        now = self.services.clock.now()
        async with db.write() as conn:
            seen = await access_repo.claim_idempotency_key(conn, principal.id, key, digest, now=now)
        if seen is not None:
            if seen.request_hash != digest:
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was used with a different request; use a new key"
                )
            if seen.status_code is None:
                raise IdempotencyInProgress(
                    "a request with this Idempotency-Key is still being processed; retry shortly"
                )
            await _send_raw(send, seen.status_code, seen.body or b"", replayed=True)
            return
        captured: dict[str, Any] = {"status": 500, "body": []}
        held: list[Message] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
            held.append(message)

        try:
            await app(scope, receive, capture)
        finally:
            status = captured["status"]
            async with db.write() as conn:
                if status >= 500:
                    await access_repo.forget_idempotency_key(conn, principal.id, key)
                else:
                    await access_repo.remember_response(
                        conn, principal.id, key, status, b"".join(captured["body"])
                    )
        # The outcome is stored before the caller sees it: a retry sent the moment the response
        # arrives is a replay, never "still being processed".
        for message in held:
            await send(message)


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body; ``PayloadTooLarge`` as soon as it passes ``limit`` (at once when
    the declared Content-Length does). A disconnect ends the body where it is."""
    length = header(scope, b"content-length")
    if length and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
        if not message.get("more_body", False):
            if not chunks:
                return chunk  # the usual case: the whole body in one message
            chunks.append(chunk)
            break
        chunks.append(chunk)
    return b"".join(chunks)


class StatusSend:
    """``send`` that remembers the response status, for the request metrics."""

    __slots__ = ("send", "status")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def replay(body: bytes) -> Receive:
    """A ``receive`` that hands an already read body on (then reports a disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def send_error(send: Send, exc: TallyError) -> None:
    """The middleware's own refusals (413, 401, 403, 409): Blnk's envelope, legacy key on 400."""
    status = status_for(exc)
    await _send_raw(send, status, encode_error(status, exc.code, exc.message, exc.details))


async def _send_raw(send: Send, status: int, body: bytes, *, replayed: bool = False) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if replayed:
        headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
