"""``dry_run: true``: a 200 preview that changes nothing and leaves the reference free."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from tally.store import tables as t
from tally.store.database import Database

Client = Any


async def new_balance(client: Client, currency: str = "USD") -> str:
    ledger = (await client.post("/ledgers", json={"name": "Wallets"})).json()
    created = await client.post(
        "/balances", json={"ledger_id": ledger["ledger_id"], "currency": currency}
    )
    return str(created.json()["balance_id"])


def transfer(source: str, destination: str, amount: float, reference: str, **extra: Any) -> Any:
    return {
        "amount": amount,
        "precision": 100,
        "currency": "USD",
        "reference": reference,
        "description": "test",
        "source": source,
        "destination": destination,
        **extra,
    }


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Database]:
    """The same database, read from the test's own event loop (the app runs on another)."""
    db = Database(store_url)
    yield db
    await db.dispose()


async def rows(db: Database, table: sa.Table) -> int:
    async with db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar())


async def test_a_refused_transfer_is_previewed_and_its_reference_stays_free(
    client: Client, store: Database
) -> None:
    wallet, shop = await new_balance(client), await new_balance(client)
    events = await rows(store, t.events)

    preview = await client.post(
        "/transactions", json=transfer(wallet, shop, 5.00, "order-1", dry_run=True)
    )

    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["dry_run"] is True and body["would_apply"] is False
    assert body["rejection"]["code"] == "TXN_INSUFFICIENT_FUNDS"
    assert body["rejection"]["reason"] == "insufficient_funds"
    assert "has 0 available, 500 requested" in body["rejection"]["message"]
    assert "status" not in body
    assert body["precise_amount"] == "500" and body["amount"] == 5
    assert await rows(store, t.transactions) == 0
    assert await rows(store, t.events) == events

    real = await client.post(
        "/transactions", json=transfer("@World", wallet, 5.00, "order-1", dry_run=False)
    )
    assert real.status_code == 201, real.text


async def test_a_preview_shows_current_and_resulting_balances_and_creates_nothing(
    client: Client,
) -> None:
    wallet = await new_balance(client)

    preview = await client.post(
        "/transactions", json=transfer("@World", wallet, 12.34, "top-up", dry_run=True)
    )

    body = preview.json()
    assert preview.status_code == 200 and body["would_apply"] is True
    assert body["status"] == "APPLIED"
    world, mine = body["balances"]
    assert world["balance_id"] == "@World" and world["virtual"] is True
    assert world["role"] == "source" and world["resulting_balance"] == "-1234"
    assert mine["balance_id"] == wallet and mine["role"] == "destination"
    assert (mine["current_balance"], mine["resulting_balance"]) == ("0", "1234")
    assert mine["resulting_credit_balance"] == "1234" and "virtual" not in mine
    missing = await client.get("/balances/indicator/@World/currency/USD")
    assert missing.status_code == 404
    assert (await client.get(f"/balances/{wallet}")).json()["balance"] == 0


async def test_a_split_preview_lists_its_legs(client: Client) -> None:
    first, second = await new_balance(client), await new_balance(client)
    body = (
        await client.post(
            "/transactions",
            json={
                "precise_amount": 1000,
                "precision": 100,
                "currency": "USD",
                "reference": "split",
                "description": "split",
                "source": "@World",
                "destinations": [
                    {"identifier": first, "distribution": "70%"},
                    {"identifier": second, "distribution": "left"},
                ],
                "dry_run": True,
            },
        )
    ).json()
    assert body["would_apply"] is True
    assert [(leg["identifier"], leg["precise_amount"]) for leg in body["legs"]] == [
        (first, "700"),
        (second, "300"),
    ]


async def test_a_bulk_preview_is_cumulative(client: Client, store: Database) -> None:
    wallet, shop = await new_balance(client), await new_balance(client)
    body = (
        await client.post(
            "/transactions/bulk",
            json={
                "atomic": True,
                "dry_run": True,
                "transactions": [
                    transfer("@World", wallet, 10, "b-1"),
                    transfer(wallet, shop, 10, "b-2"),
                    transfer(wallet, shop, 1, "b-3"),
                ],
            },
        )
    ).json()
    assert body["cumulative"] is True and body["atomic"] is True
    assert [r["would_apply"] for r in body["results"]] == [True, True, False]
    assert body["would_apply"] is False
    assert body["results"][2]["rejection"]["code"] == "TXN_INSUFFICIENT_FUNDS"
    assert await rows(store, t.transactions) == 0


async def test_commit_void_and_refund_previews_change_nothing(client: Client) -> None:
    wallet, shop = await new_balance(client), await new_balance(client)
    await client.post("/transactions", json=transfer("@World", wallet, 100, "fund"))
    hold = (
        await client.post("/transactions", json=transfer(wallet, shop, 50, "hold", inflight=True))
    ).json()
    hold_id = hold["transaction_id"]

    commit = await client.put(
        f"/transactions/inflight/{hold_id}",
        json={"status": "commit", "amount": 20, "dry_run": True},
    )
    body = commit.json()
    assert commit.status_code == 200 and body["operation"] == "commit"
    assert body["would_apply"] is True and body["status"] == "APPLIED"
    assert body["precise_amount"] == "2000" and body["reference"] == "hold-commit-1"
    void = (
        await client.put(
            f"/transactions/inflight/{hold_id}", json={"status": "void", "dry_run": True}
        )
    ).json()
    assert void["status"] == "VOID" and void["precise_amount"] == "5000"
    bad = await client.put(
        f"/transactions/inflight/{hold_id}", json={"status": "approve", "dry_run": True}
    )
    assert bad.status_code == 400
    assert bad.json()["error_detail"]["code"] == "TXN_INVALID_STATUS_ACTION"

    real = await client.put(f"/transactions/inflight/{hold_id}", json={"status": "commit"})
    assert real.status_code == 200 and real.json()["reference"] == "hold-commit-1"

    paid = (await client.post("/transactions", json=transfer(wallet, shop, 10, "pay"))).json()
    preview = await client.post(
        f"/refund-transaction/{paid['transaction_id']}", json={"dry_run": True}
    )
    assert preview.status_code == 200 and preview.json()["would_apply"] is True
    refunded = await client.post(f"/refund-transaction/{paid['transaction_id']}")
    assert refunded.status_code == 201
    again = await client.post(
        f"/refund-transaction/{paid['transaction_id']}", json={"dry_run": True}
    )
    assert again.status_code == 200
    assert again.json()["rejection"]["code"] == "TXN_ALREADY_REFUNDED"


async def test_a_preview_still_validates_the_request(client: Client) -> None:
    wallet = await new_balance(client)
    answer = await client.post(
        "/transactions", json=transfer("@World", wallet, 1.234, "bad", dry_run=True)
    )
    assert answer.status_code == 400
    assert answer.json()["error_detail"]["code"] == "TXN_INVALID_AMOUNT"
