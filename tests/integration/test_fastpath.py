"""The raw-ASGI fast path answers exactly as the Litestar routes do, on both stores.

Every case is sent twice on one database: to the app with the fast path and to the app without
it, each side with its own ledger, balances and references. The two answers must be equal (status,
headers, body) once each side's own ids are put back as placeholders. Each case also says whether
the fast path answers it itself or hands it to Litestar, and the HTTP metrics count it once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tally.api.middleware import TallyMiddleware
from tally.store import access_repo

from .fastpath_helpers import MASTER, NOW, Pair, body_of, call, count, make_pair


@pytest.fixture
async def pair(store_url: str) -> AsyncIterator[Pair]:
    async for made in make_pair(store_url, max_body_bytes=2048):
        await made.setup()
        yield made


@pytest.fixture
async def secured(store_url: str) -> AsyncIterator[Pair]:
    async for made in make_pair(store_url, master_key=MASTER):
        await made.setup([(b"x-blnk-key", MASTER.encode())])
        yield made


def transfer(**fields: Any) -> dict[str, Any]:
    base = {
        "amount": 12.5,
        "precision": 100,
        "currency": "USD",
        "reference": "ref-<tag>",
        "description": "coffee",
        "source": "<rich>",
        "destination": "<other>",
    }
    return {**base, **fields}


SUCCESSES = {
    "applied": transfer(),
    "inflight": transfer(inflight=True, inflight_expiry_date="2026-04-01T00:00:00Z"),
    "precise amount": {**transfer(precise_amount=1999), "amount": None},
    "precise amount as text": {**transfer(precise_amount="250"), "amount": None},
    "amount as text": transfer(amount="7.25"),
    "indicators": transfer(source="@World", destination="@Till<tag>", amount=3),
    "metadata": transfer(meta_data={"order": {"id": 7, "lines": [1, 2.5, None]}, "note": "é"}),
    "overdraft": transfer(source="<poor>", allow_overdraft=True, overdraft_limit=100, amount=40),
    "flags and unknown keys": transfer(skip_queue=True, atomic=True, rate=1.5, extra={"x": 1}),
    "effective date": transfer(effective_date="2026-02-01T10:00:00Z"),
    "scheduled": transfer(scheduled_for="2026-06-01T00:00:00Z"),
    "split destinations": {
        **transfer(),
        "destination": None,
        "destinations": [
            {"identifier": "<other>", "distribution": "60%"},
            {"identifier": "<poor>", "distribution": "left"},
        ],
    },
    "split sources": {
        **transfer(source=None, amount=4),
        "sources": [
            {"identifier": "<rich>", "distribution": "1"},
            {"identifier": "@World", "distribution": "left"},
        ],
    },
}


@pytest.mark.parametrize("case", list(SUCCESSES))
async def test_a_posting_is_answered_alike(pair: Pair, case: str) -> None:
    before = count("POST", "transactions", 201)
    view, _ = await pair.same("POST", "/transactions", SUCCESSES[case], expect=201)
    assert view["reference"] == "ref-<tag>"
    assert count("POST", "transactions", 201) == before + 2
    balance = await pair.same("GET", "/balances/<rich>", expect=200)
    assert balance[0]["balance_id"] == "<rich>"


INVALID = {
    "no currency": ({**transfer(), "currency": None}, "TXN_VALIDATION_ERROR"),
    "no reference": ({**transfer(), "reference": ""}, "TXN_VALIDATION_ERROR"),
    "no source": ({**transfer(), "source": None}, "TXN_VALIDATION_ERROR"),
    "no amount": ({**transfer(), "amount": None}, None),
    "negative": (transfer(amount=-5), None),
    "zero": (transfer(amount=0), None),
    "too precise": (transfer(amount=1.005), None),
    "bad precision": (transfer(precision=3), None),
    "same balance": (transfer(destination="<rich>"), "TXN_VALIDATION_ERROR"),
    "expiry without inflight": (transfer(inflight_expiry_date="2026-04-01T00:00:00Z"), None),
    "bad date": (transfer(effective_date="yesterday"), "TXN_VALIDATION_ERROR"),
    "long reference": (transfer(reference="r" * 600), "TXN_VALIDATION_ERROR"),
    "unknown balance": (transfer(destination="bln_missing"), None),
    "insufficient funds": (transfer(source="<poor>"), "TXN_INSUFFICIENT_FUNDS"),
    "currency mismatch": (transfer(currency="EUR"), None),
}


@pytest.mark.parametrize("case", list(INVALID))
async def test_a_refused_posting_is_refused_alike(pair: Pair, case: str) -> None:
    body, code = INVALID[case]
    status = 404 if case == "unknown balance" else 400
    view, _ = await pair.same("POST", "/transactions", body, expect=status)
    assert view["error"] and view["error_detail"]["code"]
    if code is not None:
        assert view["error_detail"]["code"] == code


MALFORMED = {
    "amount is a word": body_of(transfer(amount="abc")),
    "amount is a bool": body_of(transfer(amount=True)),
    "source is a number": body_of(transfer(source=5)),
    "metadata is a list": body_of(transfer(meta_data=[1])),
    "precision is a word": body_of(transfer(precision="x")),
    "legs are not a list": body_of({**transfer(), "destination": None, "destinations": "x"}),
    "not json": b'{"amount": 1,',
    "empty body": b"",
    "a list": b"[1, 2]",
    "a string": b'"hello"',
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_a_body_litestar_refuses_is_left_to_litestar(pair: Pair, case: str) -> None:
    before = count("POST", "transactions", 400)
    view, _ = await pair.same("POST", "/transactions", MALFORMED[case], expect=400, fast=False)
    assert view["error_detail"]["code"] in ("TXN_VALIDATION_ERROR", "GEN_MALFORMED_REQUEST")
    assert count("POST", "transactions", 400) == before + 2  # once per side, not twice


async def test_a_body_too_deep_to_decode_is_left_to_litestar(pair: Pair) -> None:
    """Litestar answers nesting past msgspec's depth limit with its generic 500 today; the fast
    path hands such a body over rather than answering it differently."""
    deep = b'{"meta_data": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    await pair.same("POST", "/transactions", deep, expect=500, code="GEN_INTERNAL", fast=False)


async def test_the_content_type_does_not_matter_alike(pair: Pair) -> None:
    """Litestar decodes a route's JSON body whatever the request's Content-Type says."""
    plain = [(b"content-type", b"text/plain")]
    await pair.same("POST", "/transactions", transfer(), plain, expect=201)
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    await pair.same("POST", "/transactions", transfer(reference="f-<tag>"), form, expect=201)


async def test_a_duplicate_reference_is_a_409_alike(pair: Pair) -> None:
    await pair.same("POST", "/transactions", transfer(), expect=201)
    await pair.same(
        "POST", "/transactions", transfer(amount=1), expect=409, code="TXN_DUPLICATE_REFERENCE"
    )


async def test_a_dry_run_is_previewed_by_litestar(pair: Pair) -> None:
    view, _ = await pair.same(
        "POST", "/transactions", transfer(dry_run=True), expect=200, fast=False
    )
    assert view["would_apply"] is True
    await pair.same("POST", "/transactions", transfer(), expect=201)  # the reference stayed free


async def test_a_bug_is_a_logged_500_alike(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(pair.services.engine, "post", broken)
    view, _ = await pair.same("POST", "/transactions", transfer(), expect=500)
    assert view["error_detail"] == {"code": "GEN_INTERNAL", "message": "internal server error"}


async def test_commit_and_void_of_holds_are_answered_alike(pair: Pair) -> None:
    for name, amount in (("hold1", 10), ("hold2", 20), ("hold3", 5)):
        held, _ = await pair.same(
            "POST",
            "/transactions",
            transfer(reference=f"{name}-<tag>", amount=amount, inflight=True),
            expect=201,
        )
        assert held["status"] == "INFLIGHT"
        for side in (pair.fast, pair.slow):
            found = await call(side.app, "GET", side.fill(f"/transactions/reference/{name}-<tag>"))
            side.names[name] = found.json()["transaction_id"]
    path = "/transactions/inflight/<hold1>"
    await pair.same("PUT", path, {"status": "commit", "amount": 4}, expect=200)
    await pair.same("PUT", path, {"status": "COMMIT", "precise_amount": 100}, expect=200)
    await pair.same("PUT", path, {"status": "void", "meta_data": {"why": "done"}}, expect=200)
    await pair.same("PUT", path, {"status": "void"}, expect=409)
    await pair.same("PUT", "/transactions/inflight/<hold2>", {"status": "commit"}, expect=200)
    await pair.same("PUT", "/transactions/inflight/<hold3>", {"status": "settle"}, expect=400)
    await pair.same(
        "PUT", "/transactions/inflight/<hold3>", {"status": "commit", "amount": 99}, expect=400
    )
    await pair.same("PUT", "/transactions/inflight/txn_missing", {"status": "void"}, expect=404)
    preview = {"status": "void", "dry_run": True}
    await pair.same("PUT", "/transactions/inflight/<hold3>", preview, expect=200, fast=False)
    await pair.same("PUT", "/transactions/inflight/<hold3>", b"[]", expect=400, fast=False)
    await pair.same("PUT", "/transactions/inflight/<hold3>/x", {}, expect=404, fast=False)


async def test_balances_are_read_alike(pair: Pair) -> None:
    await pair.same("GET", "/balances/<rich>", expect=200)
    await pair.same("GET", "/balances/<poor>?with_queued=true", expect=200)
    await pair.same("GET", "/balances/bln_missing", expect=404, code="BAL_NOT_FOUND")
    await pair.same("GET", "/balances/<rich>/", expect=200, fast=None)
    await pair.same("GET", "/balances/indicator/@World/currency/USD", expect=200, fast=False)
    before = count("GET", "balances", 200)
    await pair.same("GET", "/balances/<other>", expect=200)
    assert count("GET", "balances", 200) == before + 2


async def test_the_body_limit_is_a_413_alike(pair: Pair) -> None:
    big = transfer(description="x" * 3000)
    await pair.same("POST", "/transactions", big, expect=413, code="GEN_PAYLOAD_TOO_LARGE")
    await pair.same("POST", "/transactions", big, expect=413, chunks=4)
    await pair.same("PUT", "/transactions/inflight/txn_x", big, expect=413)
    await pair.same("POST", "/transactions", transfer(description="x" * 1500), expect=201, chunks=3)


async def test_idempotency_replays_and_refuses_alike(pair: Pair) -> None:
    key = [(b"idempotency-key", b"key-<tag>")]
    first, _ = await pair.same("POST", "/transactions", transfer(), key, expect=201)
    again, replayed = await pair.same("POST", "/transactions", transfer(), key, expect=201)
    assert again == first and (b"idempotent-replayed", b"true") in replayed.headers
    await pair.same(
        "POST",
        "/transactions",
        transfer(amount=2),
        key,
        expect=409,
        code="GEN_IDEMPOTENCY_KEY_REUSED",
    )
    poor = [(b"idempotency-key", b"poor-<tag>")]
    body = transfer(reference="poor-<tag>", source="<poor>")
    refused, _ = await pair.same("POST", "/transactions", body, poor, expect=400)
    assert refused["error_detail"]["code"] == "TXN_INSUFFICIENT_FUNDS"
    await pair.same("POST", "/transactions", body, poor, expect=400)
    bad = [(b"idempotency-key", b"bad-<tag>")]
    await pair.same("POST", "/transactions", b"[]", bad, expect=400, fast=False)
    await pair.same("POST", "/transactions", b"[]", bad, expect=400, fast=False)


async def test_a_request_still_running_is_a_409_alike(pair: Pair) -> None:
    """The key is claimed (as by a first request still being processed) before the retry."""
    services = pair.services
    for side in (pair.fast, pair.slow):
        body = side.fill(json.dumps(transfer(reference="busy-<tag>"))).encode()
        scope = {"method": "POST", "path": "/transactions"}
        digest = TallyMiddleware(side.app, services)._request_digest(scope, body)
        async with services.db.write() as conn:
            await access_repo.claim_idempotency_key(
                conn, "local", f"busy-{side.tag}", digest, now=NOW
            )
    key = [(b"idempotency-key", b"busy-<tag>")]
    await pair.same(
        "POST",
        "/transactions",
        transfer(reference="busy-<tag>"),
        key,
        expect=409,
        code="GEN_IDEMPOTENCY_IN_PROGRESS",
    )


async def test_authentication_and_scopes_alike(secured: Pair) -> None:
    pair = secured
    master = [(b"x-blnk-key", MASTER.encode())]
    keys = {}
    for name, scopes, expires in (
        ("writer", ["transactions:write", "balances:read"], None),
        ("reader", ["transactions:read"], None),
        ("stale", ["*:*"], "2026-02-01T00:00:00Z"),
    ):
        made = await call(
            pair.slow.app,
            "POST",
            "/api-keys",
            body_of({"name": name, "owner": "ops", "scopes": scopes, "expires_at": expires}),
            master,
        )
        assert made.status == 201, made.body
        keys[name] = [(b"x-blnk-key", made.json()["key"].encode())]
    post = "/transactions"
    await pair.same("POST", post, transfer(), expect=401, code="AUTH_MISSING_API_KEY")
    await pair.same("POST", post, transfer(), [(b"x-blnk-key", b"nope")], expect=401)
    await pair.same("POST", post, transfer(), keys["stale"], expect=401)
    await pair.same("POST", post, transfer(), keys["reader"], expect=403)
    await pair.same("GET", "/balances/<rich>", None, keys["reader"], expect=403)
    await pair.same(
        "PUT", "/transactions/inflight/txn_x", {"status": "void"}, keys["reader"], expect=403
    )
    await pair.same("GET", "/balances/<rich>", None, expect=401)
    await pair.same("POST", post, b"[]", keys["reader"], expect=403, fast=False)
    await pair.same("POST", post, transfer(), keys["writer"], expect=201)
    await pair.same("GET", "/balances/<rich>", None, keys["writer"], expect=200)
    bearer = [(b"authorization", f"Bearer {MASTER}".encode())]
    await pair.same("POST", post, transfer(reference="b-<tag>"), bearer, expect=201)


async def test_other_routes_are_left_to_litestar(pair: Pair) -> None:
    await pair.same("GET", "/transactions/reference/fund-<tag>", expect=200, fast=False)
    await pair.same("POST", "/transactions/", transfer(), expect=201, fast=False)
    await pair.same("PATCH", "/transactions", transfer(), expect=405, fast=False)
    await pair.same("PUT", "/transactions", transfer(), expect=405, fast=False)
