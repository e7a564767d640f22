"""Seed 002, row by row, through the HTTP API on both stores (business language)."""

from __future__ import annotations

from typing import Any

import pytest

from tally.store.database import Database

from .loyalty_helpers import account, events, grant, ledger_sums_to_zero, member, ok, pay, program

pytestmark = pytest.mark.asyncio


async def test_alice_buys_for_eur_42_and_earns_42_points(client: Any, db: Database) -> None:
    prog = await program(client)
    customer, loy = await member(client, prog["id"])
    payment = await pay(client, 4200, customer=customer)
    assert payment["status"] == "completed"
    assert payment["loyalty_account"] == loy and payment["points_earned"] == 42
    assert (await account(client, loy))["balance"] == 42
    earned = await events(db, "loyalty.points.earned")
    assert len(earned) == 1
    assert earned[0]["account"] == loy and earned[0]["points"] == 42
    assert earned[0]["type"] == "earn"
    assert earned[0]["source"] == {"payment": payment["id"], "amount": 4200, "currency": "eur"}
    assert [p["id"] for p in await events(db, "payment.completed")] == [payment["id"]]
    await ledger_sums_to_zero(db)


async def test_guest_payment_pins_the_member_with_metadata(client: Any) -> None:
    prog = await program(client)
    _, loy = await member(client, prog["id"])
    payment = await pay(client, 4200, metadata={"loyalty_account": loy})
    assert payment["points_earned"] == 42 and payment["loyalty_account"] == loy


async def test_customer_link_wins_over_metadata(client: Any) -> None:
    prog = await program(client)
    customer, alice = await member(client, prog["id"])
    _, bob = await member(client, prog["id"], "Bob")
    payment = await pay(client, 4200, customer=customer, metadata={"loyalty_account": bob})
    assert payment["loyalty_account"] == alice
    assert (await account(client, bob))["balance"] == 0


async def test_payment_without_member_is_recorded_and_earns_nothing(
    client: Any, db: Database
) -> None:
    await program(client)
    payment = await pay(client, 4200)
    assert payment["status"] == "completed" and payment["points_earned"] == 0
    assert payment["loyalty_account"] is None
    assert await events(db, "loyalty.points.earned") == []


async def test_member_linked_after_completion_earns_only_by_replaying_the_award(
    client: Any, db: Database
) -> None:
    prog = await program(client)
    customer = await ok(await client.post("/customers", json={"name": "Carol"}), 201)
    payment = await pay(client, 4200, customer=customer["id"])
    assert payment["points_earned"] == 0
    loy = await ok(await client.post("/loyalty/accounts", json={"program": prog["id"]}), 201)
    await ok(
        await client.post(f"/loyalty/accounts/{loy['id']}/link", json={"customer": customer["id"]})
    )
    assert (await account(client, loy["id"]))["balance"] == 0
    recon = await ok(await client.get("/loyalty/reconciliation", params={"anomalies_only": True}))
    assert recon["data"][0]["flags"] == ["linked_without_earn"]
    first = await ok(await client.post(f"/payments/{payment['id']}/award"))
    again = await ok(await client.post(f"/payments/{payment['id']}/award"))
    assert first["points_earned"] == again["points_earned"] == 42
    assert (await account(client, loy["id"]))["balance"] == 42
    assert len(await events(db, "loyalty.points.earned")) == 1


async def test_redeeming_eur_5_off_at_checkout_charges_eur_37(client: Any, db: Database) -> None:
    prog = await program(client)
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
    rdm = await ok(
        await client.post("/loyalty/redemptions", json={"account": loy, "reward": reward["id"]}),
        201,
    )
    assert rdm["discount"] == 500 and rdm["status"] == "held"
    held = await account(client, loy)
    assert (held["balance"], held["held"], held["available"]) == (600, 500, 100)
    payment = await pay(client, 4200, customer=customer, redemptions=[rdm["id"]])
    assert payment["amount_charged"] == 3700 and payment["amount_discount"] == 500
    assert payment["points_earned"] == 37
    after = await account(client, loy)
    assert (after["balance"], after["held"], after["available"]) == (137, 0, 137)
    used = await ok(await client.get(f"/loyalty/redemptions/{rdm['id']}"))
    assert used["status"] == "committed" and used["payment"] == payment["id"]
    assert [e["id"] for e in await events(db, "loyalty.points.redeemed")] != []
    await ledger_sums_to_zero(db)


async def test_failed_or_abandoned_payment_releases_the_redemption(
    client: Any, db: Database
) -> None:
    prog = await program(client)
    customer, loy = await member(client, prog["id"])
    await grant(client, loy, 500)
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
    first = await ok(
        await client.post("/loyalty/redemptions", json={"account": loy, "reward": reward["id"]}),
        201,
    )
    payment = await ok(
        await client.post(
            "/payments",
            json={
                "amount": 4200,
                "currency": "eur",
                "customer": customer,
                "redemptions": [first["id"]],
            },
        ),
        201,
    )
    failed = await ok(
        await client.post(f"/payments/{payment['id']}/fail", json={"reason": "card declined"})
    )
    assert failed["status"] == "failed"
    assert (await account(client, loy))["available"] == 500
    second = await ok(
        await client.post("/loyalty/redemptions", json={"account": loy, "reward": reward["id"]}),
        201,
    )
    cancelled = await ok(await client.post(f"/loyalty/redemptions/{second['id']}/cancel"))
    assert cancelled["status"] == "released" and cancelled["release_reason"] == "cancelled"
    assert (await account(client, loy))["available"] == 500
    released = await events(db, "loyalty.redemption.released")
    assert [e["release_reason"] for e in released] == ["payment_failed", "cancelled"]


@pytest.mark.parametrize(("refund", "clawed"), [(None, 42), (2100, 21)])
async def test_refund_claws_back_points_in_proportion(
    client: Any, db: Database, refund: int | None, clawed: int
) -> None:
    prog = await program(client)
    customer, loy = await member(client, prog["id"])
    payment = await pay(client, 4200, customer=customer)
    body: dict[str, Any] = {"payment": payment["id"]}
    if refund is not None:
        body["amount"] = refund
    re = await ok(await client.post("/refunds", json=body), 201)
    assert re["points_clawed_back"] == clawed
    assert (await account(client, loy))["balance"] == 42 - clawed
    clawbacks = await events(db, "loyalty.points.clawed_back")
    assert clawbacks[0]["points"] == -clawed and clawbacks[0]["type"] == "clawback"
    assert clawbacks[0]["source"]["refund"] == re["id"]
    assert clawbacks[0]["source"]["payment"] == payment["id"]
    assert (await events(db, "payment.refunded"))[0]["id"] == re["id"]
    await ledger_sums_to_zero(db)


async def test_clawback_of_spent_points_goes_negative_and_later_earnings_absorb_it(
    client: Any,
) -> None:
    prog = await program(client)
    customer, loy = await member(client, prog["id"])
    payment = await pay(client, 4200, customer=customer)
    await ok(
        await client.post(
            f"/loyalty/accounts/{loy}/adjustments", json={"points": -40, "reason": "spent in store"}
        ),
        201,
    )
    await ok(await client.post("/refunds", json={"payment": payment["id"]}), 201)
    negative = await account(client, loy)
    assert negative["balance"] == -40 and negative["deficit"] == 40
    await pay(client, 5000, customer=customer)
    absorbed = await account(client, loy)
    assert absorbed["balance"] == 10 and absorbed["deficit"] == 0


async def test_allow_negative_false_caps_the_clawback_and_records_it(client: Any) -> None:
    prog = await program(client, clawback={"allow_negative": False})
    customer, loy = await member(client, prog["id"])
    payment = await pay(client, 4200, customer=customer)
    await ok(
        await client.post(
            f"/loyalty/accounts/{loy}/adjustments", json={"points": -40, "reason": "spent in store"}
        ),
        201,
    )
    re = await ok(await client.post("/refunds", json={"payment": payment["id"]}), 201)
    assert (re["points_due"], re["points_clawed_back"], re["points_capped"]) == (42, 2, 40)
    assert (await account(client, loy))["balance"] == 0


async def test_points_transactions_list_and_net_earned_reconcile(client: Any) -> None:
    prog = await program(client)
    customer, loy = await member(client, prog["id"])
    payment = await pay(client, 4200, customer=customer)
    await ok(await client.post("/refunds", json={"payment": payment["id"], "amount": 2100}), 201)
    listed = await ok(
        await client.get(
            "/loyalty/transactions", params={"account": loy, "created[gte]": 1700000000}
        )
    )
    assert [(x["type"], x["points"]) for x in listed["data"]] == [("clawback", -21), ("earn", 42)]
    assert listed["has_more"] is False
    page = await ok(await client.get("/loyalty/transactions", params={"account": loy, "limit": 1}))
    assert page["has_more"] is True
    rest = await ok(
        await client.get(
            "/loyalty/transactions",
            params={"account": loy, "limit": 1, "starting_after": page["data"][0]["id"]},
        )
    )
    assert rest["data"][0]["type"] == "earn"
    clawbacks = await ok(
        await client.get("/loyalty/transactions", params={"account": loy, "type": "clawback"})
    )
    assert len(clawbacks["data"]) == 1
    recon = await ok(await client.get("/loyalty/reconciliation", params={"account": loy}))
    line = recon["data"][0]
    assert (line["earned"], line["clawed_back"], line["net_earned"]) == (42, 21, 21)
    assert line["flags"] == []
