"""A first end-to-end pass through the HTTP app on both stores."""

from __future__ import annotations

from typing import Any


async def test_fund_hold_commit_void_refund(client: Any) -> None:
    ledger = (await client.post("/ledgers", json={"name": "Cards"})).json()
    balance = (
        await client.post("/balances", json={"ledger_id": ledger["ledger_id"], "currency": "USD"})
    ).json()
    funded = await client.post(
        "/transactions",
        json={
            "amount": 100.5,
            "precision": 100,
            "currency": "USD",
            "reference": "fund-1",
            "description": "fund",
            "source": "@World",
            "destination": balance["balance_id"],
        },
    )
    assert funded.status_code == 201, funded.text
    assert funded.json()["status"] == "APPLIED"
    assert funded.json()["precise_amount"] == 10050
    shown = (await client.get(f"/balances/{balance['balance_id']}")).json()
    assert shown["balance"] == 10050 and shown["credit_balance"] == 10050
    world = (await client.get("/balances/indicator/@World/currency/USD")).json()
    assert world["balance"] == -10050
    duplicate = await client.post(
        "/transactions",
        json={
            "amount": 1,
            "precision": 100,
            "currency": "USD",
            "reference": "fund-1",
            "description": "again",
            "source": "@World",
            "destination": balance["balance_id"],
        },
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["error_detail"]["code"] == "TXN_DUPLICATE_REFERENCE"
