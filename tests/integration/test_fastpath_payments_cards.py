"""``POST /payments`` and ``POST /virtual-cards/{id}/authorizations`` on the fast path answer
exactly as their Litestar routes do, on both stores (see ``test_fastpath.py`` for the harness).

Each side gets its own loyalty program and member, and its own funded virtual cards (one of
them blocked), so a case does the same thing on both sides and the answers must be equal once
each side's ids are placeholders.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from .fastpath_helpers import MASTER, Pair, body_of, call, count, make_pair

RULE = {"name": "base", "type": "rate", "currency": "eur", "points": 1, "per_amount": 100}


async def _made(side_app: Any, path: str, body: Any, headers: Any, status: int = 201) -> Any:
    answer = await call(side_app, "POST", path, body_of(body), headers)
    assert answer.status == status, answer.body
    return answer.json()


async def _setup(pair: Pair, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Per side: a program with a member (``customer``, ``account``), a funded card ``card``
    (at most 50.00 an authorization), a blocked funded card ``blocked``."""
    for side in (pair.fast, pair.slow):
        app = side.app
        program = {"name": f"club {side.tag}", "point_unit": "PTS", "earning_rules": [RULE]}
        side.names["program"] = (await _made(app, "/loyalty/programs", program, headers))["id"]
        customer = await _made(app, "/customers", {"name": "Alice"}, headers)
        side.names["customer"] = customer["id"]
        account = {"program": side.names["program"], "customer": customer["id"]}
        side.names["account"] = (await _made(app, "/loyalty/accounts", account, headers))["id"]
        holder = await _made(app, "/identities", {"first_name": "Jerry"}, headers)
        for name in ("card", "blocked"):
            card = await _made(
                app,
                "/virtual-cards",
                {
                    "holder": holder["identity_id"],
                    "currency": "USD",
                    "limits": {"per_authorization": 5000},
                },
                headers,
            )
            side.names[name] = card["card_id"]
            side.names[f"{name}_balance"] = card["balance_id"]
            funding = {
                "precise_amount": 10_000,
                "precision": 100,
                "currency": "USD",
                "reference": f"fund-{name}-{side.tag}",
                "source": "@World",
                "destination": card["balance_id"],
            }
            await _made(app, "/transactions", funding, headers)
        await _made(app, f"/virtual-cards/{side.names['blocked']}/block", {}, headers, 200)


@pytest.fixture
async def pair(store_url: str) -> AsyncIterator[Pair]:
    async for made in make_pair(store_url, max_body_bytes=2048):
        await _setup(made)
        yield made


@pytest.fixture
async def secured(store_url: str) -> AsyncIterator[Pair]:
    async for made in make_pair(store_url, master_key=MASTER):
        await _setup(made, [(b"x-blnk-key", MASTER.encode())])
        yield made


def payment(**fields: Any) -> dict[str, Any]:
    return {"amount": 4200, "currency": "eur", "status": "completed", **fields}


PAYMENTS = {
    "completed, earns": payment(customer="<customer>"),
    "pending": payment(customer="<customer>", status="pending"),
    "member by metadata": payment(metadata={"loyalty_account": "<account>", "order": 7}),
    "no member": payment(description="walk-in"),
    "small amount": payment(customer="<customer>", amount=99),
}


@pytest.mark.parametrize("case", list(PAYMENTS))
async def test_a_payment_is_answered_alike(pair: Pair, case: str) -> None:
    before = count("POST", "payments", 201)
    view, _ = await pair.same("POST", "/payments", PAYMENTS[case], expect=201)
    assert view["id"] == "<pay>"
    assert count("POST", "payments", 201) == before + 2
    if case == "completed, earns":
        assert view["points_earned"] == 42
        account, _ = await pair.same("GET", "/loyalty/accounts/<account>", expect=200, fast=False)
        assert account["balance"] == 42


REFUSED_PAYMENTS: dict[str, tuple[Any, int]] = {
    "negative amount": (payment(amount=-5), 400),
    "amount as text": (payment(amount="42"), 400),
    "no currency": ({"amount": 100, "status": "completed"}, 400),
    "unknown status": (payment(status="settled"), 400),
    "unknown customer": (payment(customer="cust_missing"), 400),
    "not json": (b'{"amount": 1,', 400),
    "empty body": (b"", 400),
    "a list": (b"[1, 2]", 400),
}


@pytest.mark.parametrize("case", list(REFUSED_PAYMENTS))
async def test_a_refused_payment_is_refused_alike(pair: Pair, case: str) -> None:
    body, status = REFUSED_PAYMENTS[case]
    view, _ = await pair.same("POST", "/payments", body, expect=status)
    assert view["error_detail"]["code"]


def auth(**fields: Any) -> dict[str, Any]:
    body = {"amount": 1250, "currency": "USD", "merchant_id": "58725", "merchant_name": "BP"}
    return {**body, **fields}


AUTHORIZATIONS = {
    "approved": ("<card>", auth()),
    "approved with category": ("<card>", auth(merchant_category="5541", amount=5000)),
    "over the limit": ("<card>", auth(amount=5001)),
    "currency mismatch": ("<card>", auth(currency="EUR")),
    "blocked card": ("<blocked>", auth()),
}


@pytest.mark.parametrize("case", list(AUTHORIZATIONS))
async def test_an_authorization_is_answered_alike(pair: Pair, case: str) -> None:
    card, body = AUTHORIZATIONS[case]
    before = count("POST", "cards", 201)
    view, _ = await pair.same("POST", f"/virtual-cards/{card}/authorizations", body, expect=201)
    assert count("POST", "cards", 201) == before + 2
    assert view["status"] == ("PENDING" if case.startswith("approved") else "DECLINED")
    balance, _ = await pair.same("GET", "/balances/<card_balance>", expect=200)
    if case.startswith("approved"):
        assert balance["inflight_debit_balance"] == body["amount"]


REFUSED_AUTHORIZATIONS: dict[str, tuple[str, Any, int]] = {
    "fractional amount": ("<card>", auth(amount=10.5), 400),
    "zero": ("<card>", auth(amount=0), 400),
    "no merchant": ("<card>", {"amount": 100, "currency": "USD"}, 400),
    "unknown card": ("vcard_missing", auth(), 404),
    "not json": ("<card>", b"{nope", 400),
    "a string": ("<card>", b'"hello"', 400),
}


@pytest.mark.parametrize("case", list(REFUSED_AUTHORIZATIONS))
async def test_a_refused_authorization_is_refused_alike(pair: Pair, case: str) -> None:
    card, body, status = REFUSED_AUTHORIZATIONS[case]
    path = f"/virtual-cards/{card}/authorizations"
    view, _ = await pair.same("POST", path, body, expect=status)
    assert view["error_detail"]["code"]


async def test_idempotency_replays_payments_and_authorizations_alike(pair: Pair) -> None:
    key = [(b"idempotency-key", b"pay-<tag>")]
    first, _ = await pair.same("POST", "/payments", payment(customer="<customer>"), key, expect=201)
    again, replayed = await pair.same(
        "POST", "/payments", payment(customer="<customer>"), key, expect=201
    )
    assert again == first and (b"idempotent-replayed", b"true") in replayed.headers
    await pair.same(
        "POST", "/payments", payment(amount=1), key, expect=409, code="GEN_IDEMPOTENCY_KEY_REUSED"
    )
    account, _ = await pair.same("GET", "/loyalty/accounts/<account>", expect=200, fast=False)
    assert account["balance"] == 42  # earned once
    path = "/virtual-cards/<card>/authorizations"
    held = [(b"idempotency-key", b"auth-<tag>")]
    one, _ = await pair.same("POST", path, auth(), held, expect=201)
    two, _ = await pair.same("POST", path, auth(), held, expect=201)
    assert one == two
    balance, _ = await pair.same("GET", "/balances/<card_balance>", expect=200)
    assert balance["inflight_debit_balance"] == 1250  # held once


async def test_the_body_limit_is_a_413_alike(pair: Pair) -> None:
    big = payment(description="x" * 3000)
    await pair.same("POST", "/payments", big, expect=413, code="GEN_PAYLOAD_TOO_LARGE")
    path = "/virtual-cards/<card>/authorizations"
    await pair.same("POST", path, auth(merchant_name="x" * 3000), expect=413, chunks=3)


async def test_other_paths_are_left_to_litestar(pair: Pair) -> None:
    await pair.same("POST", "/payments/", payment(), expect=201, fast=False)
    await pair.same("GET", "/virtual-cards/<card>/authorizations", expect=200, fast=False)
    await pair.same("POST", "/virtual-cards//authorizations", auth(), expect=405, fast=False)
    await pair.same(
        "POST", "/virtual-cards/<card>/authorizations/x", auth(), expect=405, fast=False
    )
    await pair.same("POST", "/virtual-cards/<card>/capture", {}, expect=404, fast=False)


async def test_authentication_and_scopes_alike(secured: Pair) -> None:
    pair = secured
    master = [(b"x-blnk-key", MASTER.encode())]
    made = await call(
        pair.slow.app,
        "POST",
        "/api-keys",
        body_of({"name": "reader", "owner": "ops", "scopes": ["payments:read"]}),
        master,
    )
    assert made.status == 201, made.body
    reader = [(b"x-blnk-key", made.json()["key"].encode())]
    path = "/virtual-cards/<card>/authorizations"
    await pair.same("POST", "/payments", payment(), expect=401, code="AUTH_MISSING_API_KEY")
    await pair.same("POST", path, auth(), expect=401, code="AUTH_MISSING_API_KEY")
    await pair.same("POST", "/payments", b"[]", expect=401)  # who asks comes before the body
    await pair.same("POST", "/payments", payment(), reader, expect=403)
    await pair.same("POST", path, auth(), reader, expect=403)
    await pair.same("POST", "/payments", payment(customer="<customer>"), master, expect=201)
    await pair.same("POST", path, auth(), master, expect=201)
