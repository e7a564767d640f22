"""Seed 000 (Blnk loyalty points) with the raw ledger API, as the seed's snippets send it."""

from __future__ import annotations

from typing import Any

import pytest

from .loyalty_helpers import ok

pytestmark = pytest.mark.asyncio


async def _points(client: Any, **fields: Any) -> dict[str, Any]:
    body = {"precision": 1, "currency": "POINTS", **fields}
    return await ok(await client.post("/transactions", json=body), 201)


async def test_award_and_redeem_points_with_inflight(client: Any) -> None:
    ledger = await ok(
        await client.post(
            "/ledgers",
            json={
                "name": "Customer Loyalty Points Ledger",
                "meta_data": {"project_name": "RetailStore App"},
            },
        ),
        201,
    )
    alice = await ok(
        await client.post(
            "/balances",
            json={
                "ledger_id": ledger["ledger_id"],
                "currency": "POINTS",
                "meta_data": {"customer_name": "Alice", "customer_internal_id": "5678"},
            },
        ),
        201,
    )
    balance_id = alice["balance_id"]
    assert alice["balance"] == 0 and alice["currency"] == "POINTS"

    award = await _points(
        client,
        amount=100,
        reference="purchase-001",
        description="Points for purchase",
        source="@Store",
        destination=balance_id,
        inflight=True,
        meta_data={"customer_name": "Alice", "purchase_id": "purchase-001"},
    )
    assert award["status"] == "INFLIGHT" and award["precise_amount"] == 100
    pending = await ok(await client.get(f"/balances/{balance_id}"))
    assert pending["balance"] == 0 and pending["inflight_balance"] == 100
    await ok(
        await client.put(
            f"/transactions/inflight/{award['transaction_id']}", json={"status": "commit"}
        )
    )
    awarded = await ok(await client.get(f"/balances/{balance_id}"))
    assert awarded["balance"] == 100

    redeem = await _points(
        client,
        amount=50,
        reference="redemption-001",
        description="Points redemption",
        source=balance_id,
        destination="@Store",
        inflight=True,
        meta_data={"customer_name": "Alice", "redemption_id": "redemption-001"},
    )
    assert redeem["status"] == "INFLIGHT"
    held = await ok(await client.get(f"/balances/{balance_id}"))
    available = held["balance"] - held["inflight_debit_balance"]  # the seed's best practice
    assert (held["balance"], available) == (100, 50)
    too_much = await client.post(
        "/transactions",
        json={
            "amount": 60,
            "precision": 1,
            "currency": "POINTS",
            "reference": "redemption-002",
            "source": balance_id,
            "destination": "@Store",
            "inflight": True,
        },
    )
    assert too_much.status_code == 400
    assert too_much.json()["error_detail"]["code"] == "TXN_INSUFFICIENT_FUNDS"

    await ok(
        await client.put(
            f"/transactions/inflight/{redeem['transaction_id']}", json={"status": "void"}
        )
    )
    released = await ok(await client.get(f"/balances/{balance_id}"))
    assert released["balance"] - released["inflight_debit_balance"] == 100
    again = await _points(
        client,
        amount=50,
        reference="redemption-003",
        source=balance_id,
        destination="@Store",
        inflight=True,
    )
    await ok(
        await client.put(
            f"/transactions/inflight/{again['transaction_id']}", json={"status": "commit"}
        )
    )
    spent = await ok(await client.get(f"/balances/{balance_id}"))
    assert (spent["balance"], spent["inflight_debit_balance"]) == (50, 0)
    store = await ok(await client.get("/balances/indicator/@Store/currency/POINTS"))
    assert store["balance"] == -50


async def test_a_program_account_is_the_same_kind_of_ledger_balance(client: Any) -> None:
    program = await ok(
        await client.post(
            "/loyalty/programs",
            json={
                "name": "Points",
                "point_unit": "POINTS",
                "earning_rules": [
                    {"name": "base", "currency": "eur", "points": 1, "per_amount": 100}
                ],
            },
        ),
        201,
    )
    account = await ok(await client.post("/loyalty/accounts", json={"program": program["id"]}), 201)
    await ok(
        await client.post(
            "/payments",
            json={
                "amount": 4200,
                "currency": "eur",
                "status": "completed",
                "metadata": {"loyalty_account": account["id"]},
            },
        ),
        201,
    )
    balance = await ok(await client.get(f"/balances/{account['balance_id']}"))
    assert balance["ledger_id"] == program["ledger_id"] and balance["balance"] == 42
    earn = await ok(await client.get("/loyalty/transactions", params={"account": account["id"]}))
    txn = await ok(await client.get(f"/transactions/{earn['data'][0]['ledger_transaction']}"))
    assert txn["source"] == program["balances"]["issuing"] and txn["precise_amount"] == 42
