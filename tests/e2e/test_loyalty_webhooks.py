"""Seed 002 end to end: a real ``tally serve`` (relay in-process) and a real receiver that
verifies every signature; the loyalty and payment events arrive with their business payloads."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from .webhook_support import Receiver, Server, add_endpoint, receiver, serving, tally_env, wait_for

LOYALTY_EVENTS = [
    "payment.completed",
    "payment.failed",
    "payment.refunded",
    "loyalty.points.earned",
    "loyalty.points.redeemed",
    "loyalty.redemption.released",
    "loyalty.points.clawed_back",
    "loyalty.points.adjusted",
]


@pytest.fixture(scope="module")
def hooks() -> Iterator[Receiver]:
    with receiver() as running:
        yield running


@pytest.fixture(scope="module")
def tally(e2e_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tally_env(e2e_database), tmp_path_factory.mktemp("loyalty")) as server:
        yield server


def post(tally: Server, path: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = tally.http.post(path, json=body)
    assert response.status_code == status, response.text
    return dict(response.json())


def test_seed_002_flow_arrives_signed_at_a_real_receiver(tally: Server, hooks: Receiver) -> None:
    path = f"/hooks/{uuid.uuid4().hex[:10]}"
    add_endpoint(tally.http, hooks, path, LOYALTY_EVENTS)
    program = post(
        tally,
        "/loyalty/programs",
        {
            "name": "Coffee Club",
            "earning_rules": [{"name": "base", "currency": "eur", "points": 1, "per_amount": 100}],
        },
    )
    customer = post(tally, "/customers", {"name": "Alice"})
    account = post(
        tally, "/loyalty/accounts", {"program": program["id"], "customer": customer["id"]}
    )
    post(
        tally,
        f"/loyalty/accounts/{account['id']}/adjustments",
        {"points": 1000, "reason": "welcome"},
    )
    reward = post(
        tally,
        "/loyalty/rewards",
        {
            "program": program["id"],
            "name": "EUR 5 off",
            "points_cost": 500,
            "discount": 500,
            "currency": "eur",
        },
    )
    first = post(tally, "/loyalty/redemptions", {"account": account["id"], "reward": reward["id"]})
    abandoned = post(
        tally,
        "/payments",
        {
            "amount": 4200,
            "currency": "eur",
            "customer": customer["id"],
            "redemptions": [first["id"]],
        },
    )
    post(tally, f"/payments/{abandoned['id']}/fail", {"reason": "card declined"}, 200)
    second = post(tally, "/loyalty/redemptions", {"account": account["id"], "reward": reward["id"]})
    paid = post(
        tally,
        "/payments",
        {
            "amount": 4200,
            "currency": "eur",
            "status": "completed",
            "customer": customer["id"],
            "redemptions": [second["id"]],
        },
    )
    assert paid["amount_charged"] == 3700 and paid["points_earned"] == 37
    refund = post(tally, "/refunds", {"payment": paid["id"]})
    assert refund["points_clawed_back"] == 37

    def arrived() -> dict[str, list[dict[str, Any]]] | None:
        got: dict[str, list[dict[str, Any]]] = {}
        for delivery in hooks.at(path):
            got.setdefault(delivery.event["type"], []).append(delivery.event["data"])
        return got if all(kind in got for kind in LOYALTY_EVENTS) else None

    events = wait_for(arrived, timeout=30, what="every loyalty event type at the receiver")
    earned = events["loyalty.points.earned"][0]
    assert earned["account"] == account["id"] and earned["points"] == 37
    assert earned["source"] == {"payment": paid["id"], "amount": 3700, "currency": "eur"}
    assert [e["points"] for e in events["loyalty.points.redeemed"]] == [-500, -500]
    assert events["loyalty.redemption.released"][0]["release_reason"] == "payment_failed"
    assert events["payment.failed"][0]["id"] == abandoned["id"]
    clawed = events["loyalty.points.clawed_back"][0]
    assert clawed["points"] == -37 and clawed["source"]["refund"] == refund["id"]
    assert events["payment.refunded"][0]["payment"] == paid["id"]
    assert events["loyalty.points.adjusted"][0]["reason"] == "welcome"
    assert len({d.webhook_id for d in hooks.at(path)}) == len(hooks.at(path))
