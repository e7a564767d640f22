"""Bad input gets a clear 4xx and changes nothing; races and retries have no double effect."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tally.core.loyalty.errors import InsufficientPoints
from tally.services import Services
from tally.store import loyalty_members, loyalty_payments, loyalty_programs, loyalty_redemptions
from tally.store.database import Database

from .loyalty_helpers import EUR_RULE, account, events, grant, member, ok, pay, program, snapshot

pytestmark = pytest.mark.asyncio


async def _setup(client: Any) -> dict[str, Any]:
    prog = await program(client)
    other = await program(client, name="Tea Club")
    customer, loy = await member(client, prog["id"])
    await grant(client, loy, 600)
    reward = await ok(
        await client.post(
            "/loyalty/rewards",
            json={
                "program": prog["id"],
                "name": "EUR 5 off",
                "points_cost": 500,
                "discount": 500,
                "currency": "eur",
            },
        ),
        201,
    )
    foreign = await ok(
        await client.post(
            "/loyalty/rewards",
            json={
                "program": other["id"],
                "name": "Free tea",
                "points_cost": 10,
                "discount": 300,
                "currency": "eur",
            },
        ),
        201,
    )
    big = await ok(
        await client.post(
            "/loyalty/rewards",
            json={
                "program": prog["id"],
                "name": "EUR 50 off",
                "points_cost": 5000,
                "discount": 5000,
                "currency": "eur",
            },
        ),
        201,
    )
    usd = await ok(
        await client.post(
            "/loyalty/rewards",
            json={
                "program": prog["id"],
                "name": "USD 1 off",
                "points_cost": 10,
                "discount": 100,
                "currency": "usd",
            },
        ),
        201,
    )
    payment = await pay(client, 4200, customer=customer)
    return {
        "program": prog,
        "customer": customer,
        "account": loy,
        "reward": reward["id"],
        "foreign": foreign["id"],
        "big": big["id"],
        "usd": usd["id"],
        "payment": payment,
    }


BAD_REQUESTS = [
    (
        "unknown account",
        "/loyalty/redemptions",
        lambda s: {"account": "loy_missing", "reward": s["reward"]},
        400,
        "LOY_UNKNOWN_OBJECT",
    ),
    (
        "reward the member cannot afford",
        "/loyalty/redemptions",
        lambda s: {"account": s["account"], "reward": s["big"]},
        400,
        "LOY_INSUFFICIENT_POINTS",
    ),
    (
        "redemption of another program",
        "/loyalty/redemptions",
        lambda s: {"account": s["account"], "reward": s["foreign"]},
        400,
        "LOY_PROGRAM_MISMATCH",
    ),
    (
        "refund above the amount charged",
        "/refunds",
        lambda s: {"payment": s["payment"]["id"], "amount": 4201},
        400,
        "PAY_REFUND_EXCEEDS_CHARGE",
    ),
    (
        "negative refund",
        "/refunds",
        lambda s: {"payment": s["payment"]["id"], "amount": -100},
        400,
        "LOY_VALIDATION_ERROR",
    ),
    (
        "negative payment amount",
        "/payments",
        lambda s: {"amount": -4200, "currency": "eur", "customer": s["customer"]},
        400,
        "LOY_VALIDATION_ERROR",
    ),
    (
        "payment for an unknown customer",
        "/payments",
        lambda s: {"amount": 4200, "currency": "eur", "customer": "cust_missing"},
        400,
        "LOY_UNKNOWN_OBJECT",
    ),
    (
        "payment pinned to an unknown account",
        "/payments",
        lambda s: {"amount": 4200, "currency": "eur", "metadata": {"loyalty_account": "loy_x"}},
        400,
        "LOY_UNKNOWN_OBJECT",
    ),
    ("adjustment without a reason", None, lambda s: {"points": 10}, 400, "LOY_VALIDATION_ERROR"),
    (
        "refund of an unknown payment",
        "/refunds",
        lambda s: {"payment": "pay_missing"},
        400,
        "LOY_UNKNOWN_OBJECT",
    ),
    (
        "rule without a currency",
        "/loyalty/programs",
        lambda s: {"name": "x", "earning_rules": [{"name": "r", "points": 1}]},
        400,
        "LOY_VALIDATION_ERROR",
    ),
]


@pytest.mark.parametrize(
    ("case", "path", "make", "status", "code"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS]
)
async def test_bad_input_is_refused_and_changes_nothing(
    client: Any, db: Database, case: str, path: str | None, make: Any, status: int, code: str
) -> None:
    state = await _setup(client)
    before = await snapshot(db)
    url = path or f"/loyalty/accounts/{state['account']}/adjustments"
    response = await client.post(url, json=make(state))
    assert response.status_code == status, response.text
    error = response.json()
    assert error["error_detail"]["code"] == code
    assert error["error"]  # a message a person can act on
    assert await snapshot(db) == before


async def test_discount_in_another_currency_is_refused(client: Any, db: Database) -> None:
    state = await _setup(client)
    rdm = await ok(
        await client.post(
            "/loyalty/redemptions", json={"account": state["account"], "reward": state["usd"]}
        ),
        201,
    )
    before = await snapshot(db)
    response = await client.post(
        "/payments",
        json={
            "amount": 4200,
            "currency": "eur",
            "customer": state["customer"],
            "redemptions": [rdm["id"]],
        },
    )
    assert response.status_code == 400
    assert response.json()["error_detail"]["code"] == "PAY_CURRENCY_MISMATCH"
    assert await snapshot(db) == before


async def test_a_payment_completed_twice_earns_once(client: Any, db: Database) -> None:
    prog = await program(client)
    customer, loy = await member(client, prog["id"])
    created = await ok(
        await client.post(
            "/payments", json={"amount": 4200, "currency": "eur", "customer": customer}
        ),
        201,
    )
    first = await ok(await client.post(f"/payments/{created['id']}/complete"))
    second = await ok(await client.post(f"/payments/{created['id']}/complete"))
    assert first["points_earned"] == second["points_earned"] == 42
    assert (await account(client, loy))["balance"] == 42
    assert len(await events(db, "payment.completed")) == 1
    failed = await client.post(f"/payments/{created['id']}/fail")
    assert failed.status_code == 409


async def test_a_refund_retried_with_the_same_idempotency_key_refunds_once(
    client: Any, db: Database
) -> None:
    prog = await program(client)
    customer, loy = await member(client, prog["id"])
    payment = await pay(client, 4200, customer=customer)
    headers = {"Idempotency-Key": "refund-order-17"}
    body = {"payment": payment["id"], "amount": 2100}
    first = await client.post("/refunds", json=body, headers=headers)
    second = await client.post("/refunds", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("idempotent-replayed") == "true"
    assert (await account(client, loy))["balance"] == 21
    assert len(await events(db, "payment.refunded")) == 1
    refunded = await ok(await client.get(f"/payments/{payment['id']}"))
    assert refunded["amount_refunded"] == 2100


async def _member(services: Services) -> tuple[str, str, str]:
    prog = await loyalty_programs.create_program(
        services, {"name": "Race", "earning_rules": [EUR_RULE]}
    )
    customer = await loyalty_members.create_customer(services, {"name": "Dana"})
    acct = await loyalty_members.create_account(
        services, {"program": prog["id"], "customer": customer["id"]}
    )
    return prog["id"], customer["id"], acct["id"]


async def test_two_redemptions_racing_for_the_same_points_exactly_one_wins(
    services: Services,
) -> None:
    program_id, _, loy = await _member(services)
    from tally.store import loyalty_adjust

    await loyalty_adjust.adjust(services, loy, {"points": 500, "reason": "gift"})
    reward = await loyalty_programs.create_reward(
        services,
        {
            "program": program_id,
            "name": "EUR 5 off",
            "points_cost": 500,
            "discount": 500,
            "currency": "eur",
        },
    )
    results = await asyncio.gather(
        *(
            loyalty_redemptions.create_redemption(
                services, {"account": loy, "reward": reward["id"]}
            )
            for _ in range(8)
        ),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, dict)]
    lost = [r for r in results if isinstance(r, InsufficientPoints)]
    assert len(won) == 1 and len(lost) == 7
    figures = await loyalty_members.get_account(services, loy)
    assert (figures["available"], figures["held"]) == (0, 500)


async def test_concurrent_completions_of_one_payment_earn_once(services: Services) -> None:
    _, customer, loy = await _member(services)
    created = await loyalty_payments.create_payment(
        services, {"amount": 4200, "currency": "eur", "customer": customer}
    )
    results = await asyncio.gather(
        *(loyalty_payments.complete_payment(services, created["id"]) for _ in range(6))
    )
    assert {r["points_earned"] for r in results} == {42}
    assert (await loyalty_members.get_account(services, loy))["balance"] == 42
