"""The hot ledger routes answered in raw ASGI, in front of Litestar: same answers, less CPU.

``POST /transactions``, ``PUT /transactions/inflight/{id}`` (commit or void a hold) and
``GET /balances/{id}`` skip the framework. Each answer is the Litestar route's, byte for byte: the
body is decoded the way Litestar decodes it (JSON to builtins, then ``msgspec.convert(...,
strict=False)`` into the route's schema), the work is done by the functions the routes themselves
call (``plan_for``/``post_plan``, ``settle_inflight``, ``balance_by_id``), errors get the same
envelopes (``errors.tally_error_answer``/``unexpected_answer``) and the JSON is encoded with
Litestar's serializer. ``TallyMiddleware``'s guarantees hold through its own pieces: the body limit
(413), authentication and scopes, Idempotency-Key replay and 409, the HTTP metrics.

Whatever the fast path does not answer itself goes to Litestar untouched, with the body already
read: a body that does not decode into the schema (so every validation error keeps Litestar's
wording) and ``dry_run`` previews. That happens before any side effect (authentication, the
idempotency claim), so Litestar's middleware then does all of it, once.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.serialization import default_serializer

from tally.core.errors import TallyError
from tally.metrics import record_http
from tally.services import Services

from .errors import status_for, tally_error_answer, unexpected_answer
from .middleware import (
    ASGIApp,
    Receive,
    Scope,
    Send,
    StatusSend,
    TallyMiddleware,
    header,
    read_body,
    replay,
    resource_for,
    send_error,
)
from .routes.ledger import balance_by_id
from .routes.transactions import plan_for, post_plan, settle_inflight
from .schemas import InflightUpdateIn, TransactionIn

_JSON = (b"content-type", b"application/json")
_ENCODER = msgspec.json.Encoder(enc_hook=default_serializer)
_decode_json = msgspec.json.decode
_convert = msgspec.convert


def decode_body(body: bytes, schema: type[Any]) -> Any | None:
    """The body as Litestar's route would receive it, or None where Litestar must answer
    (a body it would refuse, or one too deep to decode: its messages stay the only ones)."""
    try:
        raw = _decode_json(body)
        if type(raw) is not dict:
            return None
        return _convert(raw, schema, strict=False, str_keys=True)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None


async def _post_transaction(svc: Services, _: str, data: TransactionIn) -> dict[str, Any]:
    return await post_plan(svc, plan_for(svc, data))


async def _update_inflight(svc: Services, transaction_id: str, data: InflightUpdateIn) -> Any:
    return await settle_inflight(svc, transaction_id, data)


async def _get_balance(svc: Services, balance_id: str, _: None) -> dict[str, Any]:
    return await balance_by_id(svc, balance_id)


@dataclass(frozen=True, slots=True)
class FastRoute:
    """One route: the path before its single parameter, the success status, the body schema
    (None for a GET) and the answer ``(services, path parameter, decoded body) -> view``."""

    prefix: str
    status: int
    schema: type[Any] | None
    answer: Callable[[Services, str, Any], Awaitable[Any]]


POST_TRANSACTION = FastRoute("/transactions", 201, TransactionIn, _post_transaction)
UPDATE_INFLIGHT = FastRoute("/transactions/inflight/", 200, InflightUpdateIn, _update_inflight)
GET_BALANCE = FastRoute("/balances/", 200, None, _get_balance)


def _one_segment(path: str, prefix: str) -> bool:
    """``path`` is ``prefix`` and one non-empty segment (Litestar's ``{name:str}``)."""
    return path.startswith(prefix) and len(path) > len(prefix) and "/" not in path[len(prefix) :]


class FastPath:
    """Serves the routes above without the framework; ``fallback`` (Litestar) answers the rest."""

    def __init__(self, services: Services, fallback: ASGIApp) -> None:
        self.services = services
        self.fallback = fallback
        self.limit = services.settings.max_body_bytes
        self.guard = TallyMiddleware(fallback, services)

    @staticmethod
    def route(scope: Scope) -> FastRoute | None:
        if scope["type"] != "http":
            return None
        method = scope["method"]
        path: str = scope["path"]
        if method == "POST":
            return POST_TRANSACTION if path == "/transactions" else None
        if method == "GET":
            return GET_BALANCE if _one_segment(path, "/balances/") else None
        if method == "PUT":
            return UPDATE_INFLIGHT if _one_segment(path, "/transactions/inflight/") else None
        return None

    async def serve(self, route: FastRoute, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500
        try:
            data = body = None
            if route.schema is not None:
                try:
                    body = await read_body(scope, receive, self.limit)
                except TallyError as exc:  # PayloadTooLarge
                    status = await _refuse(send, exc)
                    return
                data = decode_body(body, route.schema)
                if data is None or data.dry_run:
                    status = 0  # Litestar's own middleware counts this request
                    await self.fallback(scope, replay(body), send)
                    return
            status = await self._guarded(route, scope, send, data, body)
        finally:
            if status:
                resource = resource_for(scope["path"]) or "other"
                record_http(scope["method"], resource, status, time.perf_counter() - started)

    async def _guarded(
        self, route: FastRoute, scope: Scope, send: Send, data: Any, body: bytes | None
    ) -> int:
        """Authentication and Idempotency-Key, as ``TallyMiddleware`` does them; then the answer."""
        guard = self.guard
        try:
            principal = await guard.authenticate(scope)
            if body is not None and scope["method"] == "POST":
                key = header(scope, b"idempotency-key")
                if key:
                    counted = StatusSend(send)
                    answer = _Answer(self, route, data)
                    await guard.idempotent(
                        answer, scope, replay(body), counted, principal, key, body
                    )
                    return counted.status
        except TallyError as exc:
            return await _refuse(send, exc)
        return await self.answer(route, scope, send, data)

    async def answer(self, route: FastRoute, scope: Scope, send: Send, data: Any) -> int:
        """What the Litestar route answers; it never raises (a bug is a logged 500)."""
        path: str = scope["path"]
        try:
            view = await route.answer(self.services, path[len(route.prefix) :], data)
            status = route.status
            body = _ENCODER.encode(view)
        except TallyError as exc:
            status, payload = tally_error_answer(exc)
            body = _ENCODER.encode(payload)
        except Exception:
            status, payload = unexpected_answer(scope["method"], path)
            body = _ENCODER.encode(payload)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [_JSON, (b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return status


class _Answer:
    """A fast answer as an ASGI app, for ``TallyMiddleware.idempotent`` to run and remember."""

    __slots__ = ("data", "fast", "route")

    def __init__(self, fast: FastPath, route: FastRoute, data: Any) -> None:
        self.fast = fast
        self.route = route
        self.data = data

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.fast.answer(self.route, scope, send, self.data)


async def _refuse(send: Send, exc: TallyError) -> int:
    await send_error(send, exc)
    return status_for(exc)
