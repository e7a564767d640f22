"""The hot ledger routes answered in raw ASGI, in front of Litestar: same answers, less CPU.

``POST /transactions``, ``PUT /transactions/inflight/{id}`` (commit or void a hold),
``GET /balances/{id}``, ``POST /payments`` (loyalty earns at completion) and
``POST /virtual-cards/{id}/authorizations`` skip the framework. Each answer is the Litestar
route's, byte for byte: the body is decoded the way Litestar decodes it (JSON to builtins, then
``msgspec.convert(..., strict=False)`` into the route's schema), the work is done by the
functions the routes themselves call (``plan_for``/``post_plan``, ``settle_inflight``,
``balance_by_id``, ``create_payment``, ``authorize``), errors get the same envelopes
(``errors.tally_error_answer``/``unexpected_answer``) and the JSON is encoded with Litestar's
serializer. ``TallyMiddleware``'s guarantees hold through its own pieces: the body limit
(413), authentication and scopes, Idempotency-Key replay and 409, the HTTP metrics.

The payment and authorization routes take the body as a plain JSON object and leave every field
rule to the services; the fast path decodes it with the routes' own helpers (``body_from``,
``object_from``) after authentication, where the routes do, so even a malformed body gets the
same answer at the same point.

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
from tally.store import cards_authorizations, loyalty_payments

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
from .routes.cards import object_from
from .routes.ledger import balance_by_id
from .routes.loyalty import body_from
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


async def _create_payment(svc: Services, _: str, body: bytes) -> dict[str, Any]:
    return await loyalty_payments.create_payment(svc, body_from(body))


async def _authorize(svc: Services, card_id: str, body: bytes) -> dict[str, Any]:
    return await cards_authorizations.authorize(svc, card_id, object_from(body))


@dataclass(frozen=True, slots=True)
class FastRoute:
    """One route: the path around its single parameter (``prefix`` and ``suffix``), the success
    status, the body schema (None: no body; ``bytes``: the body as sent, decoded by the answer)
    and the answer ``(services, path parameter, body) -> view``."""

    prefix: str
    status: int
    schema: type[Any] | None
    answer: Callable[[Services, str, Any], Awaitable[Any]]
    suffix: str = ""

    def parameter(self, path: str) -> str:
        return path[len(self.prefix) : len(path) - len(self.suffix)]


POST_TRANSACTION = FastRoute("/transactions", 201, TransactionIn, _post_transaction)
UPDATE_INFLIGHT = FastRoute("/transactions/inflight/", 200, InflightUpdateIn, _update_inflight)
GET_BALANCE = FastRoute("/balances/", 200, None, _get_balance)
CREATE_PAYMENT = FastRoute("/payments", 201, bytes, _create_payment)
AUTHORIZE = FastRoute("/virtual-cards/", 201, bytes, _authorize, "/authorizations")


def _one_segment(path: str, prefix: str, suffix: str = "") -> bool:
    """``path`` is ``prefix``, one non-empty segment (Litestar's ``{name:str}``) and
    ``suffix``."""
    if not (path.startswith(prefix) and path.endswith(suffix)):
        return False
    segment = path[len(prefix) : len(path) - len(suffix)]
    return bool(segment) and "/" not in segment


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
            if path == "/transactions":
                return POST_TRANSACTION
            if path == "/payments":
                return CREATE_PAYMENT
            return AUTHORIZE if _one_segment(path, AUTHORIZE.prefix, AUTHORIZE.suffix) else None
        if method == "GET":
            return GET_BALANCE if _one_segment(path, "/balances/") else None
        if method == "PUT":
            return UPDATE_INFLIGHT if _one_segment(path, "/transactions/inflight/") else None
        return None

    async def serve(self, route: FastRoute, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500
        try:
            data: Any = None
            body: bytes | None = None
            if route.schema is not None:
                try:
                    body = await read_body(scope, receive, self.limit)
                except TallyError as exc:  # PayloadTooLarge
                    status = await _refuse(send, exc)
                    return
                if route.schema is bytes:
                    data = body  # the answer decodes it, as its route does
                else:
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
            view = await route.answer(self.services, route.parameter(path), data)
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
