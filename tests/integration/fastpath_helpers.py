"""The harness of ``test_fastpath.py``: one request straight through ASGI, and a pair of apps on
one database (with the fast path and without) that must answer every case alike."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY

from tally.api.app import TallyApp, create_app
from tally.core.clock import FakeClock
from tally.services import Services
from tally.settings import Settings

MASTER = "master-fastpath-secret"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MINTED = re.compile(r"([a-z]+)_[0-9a-f]{8}-[0-9a-f-]{27}")  # ids minted during a case (holds, …)


@dataclass
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def call(
    app: TallyApp,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    chunks: int = 1,
) -> Answer:
    """One request straight through ASGI (``chunks`` > 1: a streamed body, no Content-Length)."""
    head = [(b"host", b"127.0.0.1:5001"), *(headers or [])]
    if body is not None:
        if not any(name == b"content-type" for name, _ in head):
            head.append((b"content-type", b"application/json"))
        if chunks == 1:
            head.append((b"content-length", str(len(body)).encode()))
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": head,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 5001),
    }
    data = body or b""
    size = max(1, -(-len(data) // chunks))
    parts = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    messages = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    assert start["type"] == "http.response.start"
    payload = b"".join(m.get("body", b"") for m in sent[1:])
    return Answer(start["status"], list(start["headers"]), payload)


@dataclass
class Side:
    """One app and the things it made; ``fill`` turns ``<name>`` placeholders into them."""

    app: TallyApp
    tag: str
    names: dict[str, str] = field(default_factory=dict)

    def fill(self, text: str) -> str:
        text = text.replace("<tag>", self.tag)
        for name, value in self.names.items():
            text = text.replace(f"<{name}>", value)
        return text

    def unfill(self, text: str) -> str:
        for name, value in self.names.items():
            text = text.replace(value, f"<{name}>")
        return MINTED.sub(r"<\1>", text.replace(self.tag, "<tag>"))


class Pair:
    """The same services behind two apps: ``fast`` (the default) and ``slow`` (Litestar only)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.fast = Side(create_app(services), "tagA1")
        self.slow = Side(create_app(services, fast_path=False), "tagB2")
        assert self.fast.app.fast_path is not None and self.slow.app.fast_path is None
        self.answered = 0  # requests the fast path answered itself
        fast_path = self.fast.app.fast_path
        serve, framework = fast_path.serve, fast_path.fallback

        async def counted_serve(route: Any, scope: Any, receive: Any, send: Any) -> None:
            self.answered += 1
            await serve(route, scope, receive, send)

        async def counted_fallback(scope: Any, receive: Any, send: Any) -> None:
            self.answered -= 1
            await framework(scope, receive, send)

        fast_path.serve = counted_serve  # type: ignore[method-assign]
        fast_path.fallback = counted_fallback

    async def setup(self, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        """Per side: a ledger, a funded balance ``rich``, an empty ``poor`` and ``other``."""
        for side in (self.fast, self.slow):
            app = side.app
            ledger = await call(app, "POST", "/ledgers", body_of({"name": "fp"}), headers)
            ledger_id = ledger.json()["ledger_id"]
            side.names["ledger"] = ledger_id
            for name in ("rich", "poor", "other"):
                made = await call(
                    app,
                    "POST",
                    "/balances",
                    body_of({"ledger_id": ledger_id, "currency": "USD"}),
                    headers,
                )
                side.names[name] = made.json()["balance_id"]
            funded = await call(
                app,
                "POST",
                "/transactions",
                body_of(
                    {
                        "amount": 1000,
                        "precision": 100,
                        "currency": "USD",
                        "reference": f"fund-{side.tag}",
                        "source": "@World",
                        "destination": side.names["rich"],
                    }
                ),
                headers,
            )
            assert funded.status == 201, funded.body

    async def same(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        *,
        expect: int,
        code: str | None = None,
        fast: bool | None = True,
        chunks: int = 1,
    ) -> tuple[Any, Any]:
        """Send one case to both sides; both answer ``expect`` (and error ``code``) alike. ``fast``:
        the fast path answers it itself (True), hands it to Litestar (False) or either (None)."""
        answers = []
        for side in (self.fast, self.slow):
            before = self.answered
            raw = body if isinstance(body, bytes) else None if body is None else body_of(body)
            filled = None if raw is None else side.fill(raw.decode()).encode()
            head = [(k, side.fill(v.decode()).encode()) for k, v in headers or []]
            answer = await call(side.app, method, side.fill(path), filled, head, chunks=chunks)
            if side is self.fast and fast is not None:
                assert self.answered - before == int(fast), f"fast path {fast=} for {path}"
            answers.append((side, answer))
        (fast_side, one), (slow_side, two) = answers
        assert one.status == two.status == expect, (one.body, two.body)
        assert one.headers == two.headers
        left, right = (
            normal(fast_side.unfill(one.body.decode())),
            normal(slow_side.unfill(two.body.decode())),
        )
        assert left == right
        if code is not None:
            assert left["error_detail"]["code"] == code, left
        return left, one


def body_of(value: Any) -> bytes:
    return json.dumps(value).encode()


def normal(text: str) -> Any:
    """The body with each transaction's hash (made of its own ids) as a placeholder."""
    value = json.loads(text) if text else None

    def walk(item: Any) -> Any:
        if isinstance(item, dict):
            return {k: "<hash>" if k == "hash" else walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    return walk(value)


def count(method: str, resource: str, status: int) -> float:
    labels = {"method": method, "resource": resource, "status": str(status)}
    return REGISTRY.get_sample_value("tally_http_requests_total", labels) or 0.0


async def make_pair(store_url: str, **settings: Any) -> AsyncIterator[Pair]:
    config = Settings(database_url=store_url, auto_migrate=False, run_workers=False, **settings)
    services = Services.build(config, clock=FakeClock(NOW))
    await services.start()
    try:
        yield Pair(services)
    finally:
        await services.stop()
